"""Velkommen's gateway: channels, the message pipeline, language, safety, handoff and storage."""
