"""Channels: receive a message in a channel's format and render the pipeline's replies. Nothing else."""
