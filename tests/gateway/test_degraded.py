"""Degraded modes: a message kept while Rasa is down is answered once Rasa is back (without the
user writing again); with the database down the web API answers 503 + Retry-After, and the
client's retry after recovery is stored exactly once."""
from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import replace
from pathlib import Path

from fastapi.testclient import TestClient

from actions.knowledge import Knowledge
from bot.app import create_app
from bot.stack import Stack, free_port
from bot.store.models import Message
from tests.gateway.conftest import gateway_settings, say, start

KB = Knowledge.load()


def test_messages_kept_while_rasa_was_down_are_answered_when_it_returns(tmp_path):
    model = Path(os.environ["VELKOMMEN_MODEL"])
    with Stack(tmp_path / "stack", model) as stack:
        settings = replace(gateway_settings(tmp_path, stack.rasa_url, stack.token), resume_interval_s=1, rasa_timeout_s=5)
        with TestClient(create_app(settings)) as client:
            conversation = start(client, "faxe")
            stack.stop_one("rasa")
            turn = say(client, conversation, "where can I learn danish?")
            assert turn["replies"][-1]["text"] == KB.message("assistant_unavailable", "en")
            kept = turn["seq"]
            time.sleep(2)  # the resume loop runs meanwhile and must not answer or repeat anything yet
            replies = [m for m in client.get(f"/api/conversations/{conversation}/messages").json()["messages"]
                       if m["role"] == "assistant" and m["seq"] > kept]
            assert [m["text"] for m in replies] == [KB.message("assistant_unavailable", "en")]

            stack.start_rasa()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                messages = client.get(f"/api/conversations/{conversation}/messages").json()["messages"]
                answers = [m for m in messages if m["role"] == "assistant" and m["topic"] == "danish_language"]
                if answers:
                    break
                time.sleep(1)
            assert len(answers) == 1, messages
            assert answers[0]["sources"], "a policy answer with its source"
            with client.app.state.pipeline.sessions() as session:
                assert session.get(Message, kept).status == "done"


def test_database_down_gives_503_with_retry_after_and_the_retry_is_stored_once(tmp_path):
    settings = gateway_settings(tmp_path, f"http://127.0.0.1:{free_port()}", "unused")
    with TestClient(create_app(settings)) as client:
        conversation = start(client, "faxe")
        blocker = sqlite3.connect(tmp_path / "gateway.db", timeout=0, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")  # another process holds the database: writes cannot proceed
        try:
            refused = client.post(f"/api/conversations/{conversation}/messages",
                                  json={"text": "where can I learn danish?", "client_id": "m1"},
                                  headers={"accept-language": "da"})
            assert refused.status_code == 503
            assert int(refused.headers["retry-after"]) > 0
            assert refused.json()["detail"] == KB.message("service_busy", "da")
            assert client.post("/api/conversations", json={}).status_code == 503
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        retried = say(client, conversation, "where can I learn danish?", client_id="m1")
        assert retried["replies"]
        again = say(client, conversation, "where can I learn danish?", client_id="m1")
        assert again["seq"] == retried["seq"]
        users = [m for m in client.get(f"/api/conversations/{conversation}/messages").json()["messages"] if m["role"] == "user"]
        assert len(users) == 1
