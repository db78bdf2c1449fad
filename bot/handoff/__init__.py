"""Handoff to caseworkers: the flow as data (flow.yml) and the desk that runs it (desk.py)."""
