"""Bad input gets a polite reply, is stored as received, and never reaches Rasa as a command."""
from __future__ import annotations

import httpx
import pytest

from actions.knowledge import Knowledge
from tests.gateway.conftest import say, start

KB = Knowledge.load()

CASES = [
    ("", "input_empty"),
    ("     \n\t ", "input_empty"),
    ("x" * 10_000, "input_too_long"),
    ("🙂🙂🙏", "input_no_words"),
    ("\u0000\u0007", "input_empty"),
]


@pytest.mark.parametrize("text,key", CASES)
def test_polite_reply_without_the_assistant(client, text, key):
    conversation = start(client, "faxe")
    turn = say(client, conversation, text)
    assert [r["text"] for r in turn["replies"]][-1] == KB.message(key, "en")
    stored = client.get(f"/api/conversations/{conversation}/messages").json()["messages"]
    assert [m for m in stored if m["role"] == "user"][0]["text"] == text


@pytest.mark.parametrize("text", ["/restart", '/intent{"x":1}', '//ask_health{"x":1}', "/session_start"])
def test_rasa_commands_are_neutralised(client, text):
    conversation = start(client, "faxe")
    say(client, conversation, "I live in Nyborg")
    turn = say(client, conversation, text)
    assert turn["replies"], "every message gets a reply"
    after = say(client, conversation, "where can I learn danish?")
    assert after["replies"][0]["sources"][0]["municipality"] in ("nyborg", "national"), "a /restart would have reset the slot"


def test_html_is_treated_as_text(client):
    conversation = start(client, "faxe")
    turn = say(client, conversation, "<b>where</b> can I learn <script>alert(1)</script>danish?")
    assert turn["topic"] == "danish_language"


def test_rasa_channel_refuses_commands_and_strangers(stack):
    url = f"{stack.rasa_url}/webhooks/gateway/webhook"
    body = {"sender": "test-direct", "text": "/restart", "metadata": {}}
    assert httpx.post(url, json=body).status_code == 401
    assert httpx.post(url, json=body, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert httpx.post(url, json=body, headers={"Authorization": f"Bearer {stack.token}"}).status_code == 400
    bad_intent = {"sender": "test-direct", "intent": "restart", "metadata": {}}
    assert httpx.post(url, json=bad_intent, headers={"Authorization": f"Bearer {stack.token}"}).status_code == 400
