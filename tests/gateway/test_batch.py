"""`bin/velkommen batch`: the exact JSONL contract, malformed lines, and the held-out topic set."""
from __future__ import annotations

import collections
import json
import os
import subprocess
import sys

import pytest

from bot.settings import ROOT
from tests.gateway.conftest import HELDOUT, read_jsonl

REPLY_KEYS = {"text", "language", "translated", "sources"}
TURN_KEYS = {"text", "language", "topic", "intent", "confidence", "replies", "handoff", "crisis"}
QUESTIONS = read_jsonl(HELDOUT / "questions.jsonl")


def run_batch(stack, lines: list[str], tmp_path) -> subprocess.CompletedProcess:
    env = os.environ | stack.gateway_env() | {"VELKOMMEN_HOME": str(tmp_path)}
    return subprocess.run([sys.executable, "-m", "bot.cli", "batch"], input="\n".join(lines), text=True,
                          capture_output=True, cwd=ROOT, env=env, timeout=1800)


def test_contract_and_malformed_lines(stack, tmp_path):
    lines = [
        json.dumps({"id": "a", "municipality": "faxe", "turns": ["where can I learn danish?", "thanks"]}),
        "{not json",
        json.dumps({"id": "b", "municipality": "aarhus", "turns": ["hi"]}),
        json.dumps({"id": "c", "channel": "fax", "turns": ["hi"]}),
        json.dumps({"id": "d", "turns": "hi"}),
        json.dumps(["not", "an", "object"]),
        json.dumps({"id": "e", "municipality": None, "channel": "sms", "turns": ["hvor kan jeg lære dansk?"]}),
    ]
    done = run_batch(stack, lines, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r.get("id") for r in results] == ["a", None, "b", "c", "d", None, "e"]
    assert [("error" in r) for r in results] == [False, True, True, True, True, True, False]
    first = results[0]["turns"]
    assert set(first[0]) == TURN_KEYS and first[0]["topic"] == "danish_language" and first[0]["language"] == "en"
    assert all(set(reply) == REPLY_KEYS for reply in first[0]["replies"])
    assert first[0]["replies"][-1]["sources"][0] == {
        "municipality": "faxe", "document": "Faxe Kommune – Integrationspolitik (2022)",
        "section": first[0]["replies"][-1]["sources"][0]["section"]}
    sms = results[-1]["turns"][0]
    assert sms["language"] == "da" and sms["topic"] == "danish_language"
    assert all(len(reply["text"]) <= 320 for reply in sms["replies"])


@pytest.mark.heldout
def test_heldout_topic_accuracy(stack, tmp_path):
    lines = [json.dumps({"id": q["id"], "municipality": q["municipality"], "turns": [q["text"]]}) for q in QUESTIONS]
    done = run_batch(stack, lines, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    results = {r["id"]: r["turns"][0] for r in map(json.loads, done.stdout.splitlines())}
    confusions = collections.Counter()
    by_language = collections.defaultdict(lambda: [0, 0])
    unsourced = []
    for question in QUESTIONS:
        turn = results[question["id"]]
        right = turn["topic"] == question["topic"]
        by_language[question["language"]][0] += right
        by_language[question["language"]][1] += 1
        if not right:
            confusions[f"{question['topic']}->{turn['topic']}"] += 1
        if turn["topic"] in {q["topic"] for q in QUESTIONS} and not turn["replies"][-1]["sources"]:
            unsourced.append(question["id"])
    correct = sum(v[0] for v in by_language.values())
    accuracy = correct / len(QUESTIONS)
    print(f"\nheld-out topic accuracy {accuracy:.1%} on {len(QUESTIONS)} questions (" +
          ", ".join(f"{lang} {c / n:.1%}" for lang, (c, n) in sorted(by_language.items())) + ")")
    print("confusions: " + ", ".join(f"{k} {v}" for k, v in confusions.most_common()))
    assert not unsourced, f"factual answers without a source: {unsourced}"
    assert accuracy >= 0.90
