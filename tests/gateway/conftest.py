"""Gateway test fixtures: one real Rasa + action server for the session, and fresh gateways on it."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bot.app import create_app
from bot.safety.limits import config_without_rate_limits
from bot.settings import ROOT, Settings
from bot.stack import Stack, free_port

HELDOUT = ROOT / "tests/heldout"


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def gateway_settings(home: Path, rasa_url: str, token: str) -> Settings:
    os.environ["VELKOMMEN_RASA_TOKEN"] = token
    return Settings(home=home, database_url=f"sqlite:///{home / 'gateway.db'}", rasa_url=rasa_url, rasa_token=token,
                    config_dir=config_without_rate_limits(home))


@pytest.fixture
def client(stack: Stack, tmp_path) -> TestClient:
    with TestClient(create_app(gateway_settings(tmp_path, stack.rasa_url, stack.token))) as test_client:
        yield test_client


@pytest.fixture
def client_without_rasa(tmp_path) -> TestClient:
    """A gateway whose Rasa is down (nothing listens on its port)."""
    settings = gateway_settings(tmp_path, f"http://127.0.0.1:{free_port()}", "unused-token")
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def start(client: TestClient, municipality: str | None = None) -> str:
    response = client.post("/api/conversations", json={"municipality": municipality})
    assert response.status_code == 201
    return response.json()["id"]


def say(client: TestClient, conversation: str, text: str = "", **extra) -> dict:
    response = client.post(f"/api/conversations/{conversation}/messages", json={"text": text, **extra})
    assert response.status_code == 200, response.text
    return response.json()
