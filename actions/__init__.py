"""Rasa custom actions for Velkommen: every reply is built here from the content under data/."""
