"""Crisis messages are answered at once with 112 first, in the message's language, even with
Rasa down; harmless messages that share crisis words are not. Uses the held-out crisis set."""
from __future__ import annotations

import pytest

from actions.knowledge import Knowledge
from tests.gateway.conftest import HELDOUT, read_jsonl, say, start

KB = Knowledge.load()
CRISIS = read_jsonl(HELDOUT / "crisis.jsonl")
REAL = [c for c in CRISIS if c["kind"] != "none"]
HARMLESS = [c for c in CRISIS if c["kind"] == "none"]
NUMBERS = {"danger": ["112"], "violence": ["112", "1888"], "suicide": ["112", "70 201 201"]}


def test_the_set_is_large_and_varied_enough():
    assert len(REAL) >= 20
    assert {c["language"] for c in REAL} == {"en", "da"}
    assert {c["kind"] for c in REAL} == {"danger", "violence", "suicide"}


@pytest.mark.parametrize("case", REAL, ids=[c["id"] for c in REAL])
def test_crisis_gets_112_first_with_rasa_down(client_without_rasa, case):
    conversation = start(client_without_rasa, "faxe")
    turn = say(client_without_rasa, conversation, case["text"])
    first = turn["replies"][0]
    assert turn["crisis"] is True and turn["topic"] == "crisis"
    assert first["text"] == KB.message(f"crisis_{case['kind']}", case["language"])
    assert first["text"].index("112") < 60
    for number in NUMBERS[case["kind"]]:
        assert number in first["text"]


@pytest.mark.parametrize("case", HARMLESS, ids=[c["id"] for c in HARMLESS])
def test_harmless_messages_are_not_crises(client_without_rasa, case):
    conversation = start(client_without_rasa, "faxe")
    turn = say(client_without_rasa, conversation, case["text"])
    assert turn["crisis"] is False


def test_crisis_with_rasa_running_is_still_answered_before_the_assistant(client):
    conversation = start(client, "slagelse")
    turn = say(client, conversation, "my husband hits me and I am scared")
    assert turn["crisis"] is True
    assert "1888" in turn["replies"][0]["text"]


def test_rasa_down_still_gives_a_useful_reply_and_keeps_the_message(client_without_rasa):
    conversation = start(client_without_rasa, "faxe")
    turn = say(client_without_rasa, conversation, "where can I learn danish?")
    assert turn["replies"][0]["text"] == KB.message("assistant_unavailable", "en")
    history = client_without_rasa.get(f"/api/conversations/{conversation}/messages").json()["messages"]
    assert any(m["role"] == "user" and m["text"] == "where can I learn danish?" for m in history)
