"""Erase-my-data and export-my-data cover the gateway DB, Rasa's tracker store and caches; the
purge job deletes each data class after its retention period (the clock is moved, not waited)."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from bot import retention
from bot.app import create_app
from bot.retention import RetentionPolicy
from bot.settings import ROOT
from bot.store.models import Conversation
from tests.gateway.conftest import gateway_settings, say, start

POLICY = RetentionPolicy.from_file(ROOT / "config/privacy.yml")


@pytest.fixture
def gateway(stack, tmp_path):
    settings = replace(gateway_settings(tmp_path, stack.rasa_url, stack.token),
                       tracker_url=f"sqlite:///{stack.home / 'rasa_tracker.db'}")
    with TestClient(create_app(settings)) as client:
        yield client


def tracker_events(stack, conversation: str) -> int:
    with sqlite3.connect(stack.home / "rasa_tracker.db") as db:
        return db.execute("SELECT count(*) FROM events WHERE sender_id = ?", (conversation,)).fetchone()[0]


def gateway_rows(client, conversation: str) -> int:
    with client.app.state.pipeline.sessions() as session:
        return sum(session.execute(text(f"SELECT count(*) FROM {table} WHERE {column} = :id"), {"id": conversation}).scalar()
                   for table, column in (("conversations", "id"), ("messages", "conversation_id")))


def test_erase_removes_the_conversation_from_the_gateway_rasa_and_caches(gateway, stack):
    pipeline = gateway.app.state.pipeline
    conversation, kept = start(gateway, "faxe"), start(gateway, "faxe")
    for who in (conversation, kept):
        say(gateway, who, "where can I learn danish?")
    assert tracker_events(stack, conversation) > 0 and gateway_rows(gateway, conversation) > 2
    forgotten: list[str] = []
    pipeline.translator.forget = forgotten.append  # a cache with the erase hook

    erased = gateway.portal.call(pipeline.erase, conversation)

    assert erased["conversations"] == 1 and erased["tracker_events"] > 0
    assert tracker_events(stack, conversation) == 0 and gateway_rows(gateway, conversation) == 0
    assert forgotten == [conversation]
    assert gateway.get(f"/api/conversations/{conversation}/messages").status_code == 404
    assert tracker_events(stack, kept) > 0 and gateway_rows(gateway, kept) > 2


def test_export_holds_everything_stored_about_the_conversation(gateway, stack):
    conversation = start(gateway, "nyborg")
    say(gateway, conversation, "where can I learn danish? my mail is x@example.dk")
    exported = gateway.get(f"/api/conversations/{conversation}/export")
    assert exported.status_code == 200
    data = exported.json()
    assert data["conversation"]["id"] == conversation and data["conversation"]["municipality"] == "nyborg"
    texts = [m["text"] for m in data["tables"]["messages"]]
    assert "where can I learn danish? my mail is [e-mail removed]" in texts
    assert len(data["tables"]["messages"]) == gateway_rows(gateway, conversation) - 1
    user_events = [e for e in data["assistant_tracker_events"] if e["event"] == "user"]
    assert user_events and "[e-mail removed]" in user_events[0]["text"]
    assert gateway.get("/api/conversations/nonexistent/export").status_code == 404


def test_purge_deletes_each_data_class_after_its_retention_period(gateway, stack):
    pipeline = gateway.app.state.pipeline
    assistant_only, handed_off = start(gateway, "faxe"), start(gateway, "faxe")
    for who in (assistant_only, handed_off):
        say(gateway, who, "where can I learn danish?")
    with pipeline.sessions.begin() as session:
        session.get(Conversation, handed_off).handoff = True
    now = datetime.now(timezone.utc)

    def purge(days: int) -> dict[str, int]:
        return retention.purge(pipeline.sessions, pipeline.tracker_url, POLICY, now=now + timedelta(days=days))

    assert POLICY.days["assistant_only"] < POLICY.days["handoff"]
    purge(POLICY.days["assistant_only"] - 1)
    assert gateway_rows(gateway, assistant_only) > 0
    assert purge(POLICY.days["assistant_only"] + 1)["assistant_only"] >= 1
    assert gateway_rows(gateway, assistant_only) == 0 and tracker_events(stack, assistant_only) == 0
    assert gateway_rows(gateway, handed_off) > 0 and tracker_events(stack, handed_off) > 0
    assert purge(POLICY.days["handoff"] + 1)["handoff"] >= 1
    assert gateway_rows(gateway, handed_off) == 0 and tracker_events(stack, handed_off) == 0


def test_the_audit_log_is_purged_by_age_and_stays_append_only(gateway):
    pipeline = gateway.app.state.pipeline
    with pipeline.sessions.begin() as session:
        if not session.execute(text("SELECT name FROM sqlite_master WHERE name = 'audit_log'")).first():
            pytest.skip("no audit log table in this build")
        session.execute(text("INSERT INTO audit_log (at, actor, action, details) VALUES (:at, 'cw1', 'viewed', '{}')"),
                        {"at": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")})
    now = datetime.now(timezone.utc)
    keep = retention.purge(pipeline.sessions, None, POLICY, now=now + timedelta(days=POLICY.days["audit_log"] - 1))
    assert keep["audit_log"] == 0
    gone = retention.purge(pipeline.sessions, None, POLICY, now=now + timedelta(days=POLICY.days["audit_log"] + 1))
    assert gone["audit_log"] == 1
    with pytest.raises(Exception, match="append-only"), pipeline.sessions.begin() as session:
        session.execute(text("INSERT INTO audit_log (at, actor, action, details) VALUES ('2000-01-01', 'x', 'y', '{}')"))
        session.execute(text("DELETE FROM audit_log"))


def test_purge_command_deletes_expired_conversations(tmp_path):
    env = os.environ | {"VELKOMMEN_HOME": str(tmp_path), "VELKOMMEN_DATABASE_URL": f"sqlite:///{tmp_path / 'gateway.db'}"}
    env.pop("VELKOMMEN_TRACKER_DB", None)
    with TestClient(create_app(gateway_settings(tmp_path, "http://127.0.0.1:9", "unused"))) as client:
        old, recent = start(client, "faxe"), start(client, "faxe")
    long_ago = (datetime.now(timezone.utc) - timedelta(days=POLICY.days["assistant_only"] + 2)).strftime("%Y-%m-%d %H:%M:%S.%f")
    with sqlite3.connect(tmp_path / "gateway.db") as db:
        db.execute("UPDATE conversations SET created_at = ? WHERE id = ?", (long_ago, old))
        db.execute("UPDATE messages SET created_at = ? WHERE conversation_id = ?", (long_ago, old))
    result = subprocess.run([sys.executable, "-m", "bot.cli", "purge"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["purged"]["assistant_only"] == 1
    with sqlite3.connect(tmp_path / "gateway.db") as db:
        assert [row[0] for row in db.execute("SELECT id FROM conversations")] == [recent]
