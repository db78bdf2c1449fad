"""Safety checks the gateway runs on every user message before NLU (input cleaning, crisis detection)."""
