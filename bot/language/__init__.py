"""Language identification and translation for the pipeline."""
