"""Session fixtures shared by the gateway, browser and scale tests: one real Rasa + action server."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.stack import Stack, ensure_model


@pytest.fixture(scope="session")
def stack(tmp_path_factory) -> Stack:
    model = Path(os.environ["VELKOMMEN_MODEL"]) if os.environ.get("VELKOMMEN_MODEL") else ensure_model()
    with Stack(tmp_path_factory.mktemp("stack"), model) as running:
        yield running
