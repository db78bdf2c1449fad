"""`bin/velkommen batch`: JSONL conversations in, JSONL results out, through the full pipeline.

One input line: {"id", "municipality": slug|null, "channel": "web"|"sms"|"telegram", "turns": [str]}.
A malformed line yields {"id", "error"} for that line; nothing else is written to stdout.
"""
from __future__ import annotations

import json
from typing import Any, AsyncIterator, Iterable

from bot.pipeline import Pipeline, Reply, Turn

CHANNELS = ("web", "sms", "telegram")


class BadLine(ValueError):
    pass


def parse_line(line: str, municipalities: Iterable[str]) -> dict[str, Any]:
    try:
        item = json.loads(line)
    except ValueError as error:
        raise BadLine(f"not JSON: {error}") from error
    if not isinstance(item, dict):
        raise BadLine("a line must be a JSON object")
    if not isinstance(item.get("id"), str):
        raise BadLine("id must be a string")
    item.setdefault("channel", "web")
    item.setdefault("municipality", None)
    if item["channel"] not in CHANNELS:
        raise BadLine(f"channel must be one of {', '.join(CHANNELS)}")
    if item["municipality"] is not None and item["municipality"] not in municipalities:
        raise BadLine(f"unknown municipality {item['municipality']!r}")
    turns = item.get("turns")
    if not isinstance(turns, list) or not all(isinstance(text, str) for text in turns):
        raise BadLine("turns must be a list of strings")
    return item


def rendered(reply: Reply, channel: str) -> dict[str, Any]:
    return {
        "text": reply.web_text or reply.text if channel == "web" else reply.text,
        "language": reply.language,
        "translated": reply.translated,
        "sources": [{key: source[key] for key in ("municipality", "document", "section")} for source in reply.sources],
    }


def turn_result(text: str, turn: Turn, channel: str) -> dict[str, Any]:
    return {
        "text": text, "language": turn.language, "topic": turn.topic, "intent": turn.intent,
        "confidence": turn.confidence, "replies": [rendered(reply, channel) for reply in turn.replies],
        "handoff": turn.handoff, "crisis": turn.crisis is not None,
    }


async def run_batch(lines: Iterable[str], pipeline: Pipeline) -> AsyncIterator[dict[str, Any]]:
    for line in lines:
        if not line.strip():
            continue
        try:
            item = parse_line(line, pipeline.kb.municipalities)
        except BadLine as error:
            guess = None
            try:
                guess = json.loads(line).get("id")
            except (ValueError, AttributeError):
                pass
            yield {"id": guess if isinstance(guess, str) else None, "error": str(error)}
            continue
        conversation = pipeline.start_conversation(item["channel"], item["municipality"])
        turns = []
        for text in item["turns"]:
            turns.append(turn_result(text, await pipeline.handle(conversation.id, text), item["channel"]))
        yield {"id": item["id"], "turns": turns}
