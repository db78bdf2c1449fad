"""Code loaded into the Rasa server process (Python 3.10 environment)."""
