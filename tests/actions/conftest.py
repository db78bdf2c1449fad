"""Fixtures for the action unit tests: a JSON tracker, a dispatcher, and the real content."""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.knowledge import Knowledge

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def kb() -> Knowledge:
    return Knowledge.load()


@pytest.fixture
def dispatcher() -> CollectingDispatcher:
    return CollectingDispatcher()


@pytest.fixture
def make_tracker():
    base = json.loads((FIXTURES / "tracker.json").read_text(encoding="utf-8"))

    def build(intent: str, slots: dict[str, Any] | None = None, language: str = "en",
              municipality: str | None = None) -> Tracker:
        state = copy.deepcopy(base)
        state["slots"].update(slots or {})
        state["latest_message"]["intent"]["name"] = intent
        state["latest_message"]["metadata"] = {"language": language, "municipality": municipality}
        return Tracker(state["sender_id"], state["slots"], state["latest_message"], state["events"],
                       state["paused"], state["followup_action"], state["active_loop"], state["latest_action_name"])

    return build
