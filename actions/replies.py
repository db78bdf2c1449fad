"""Builds the one reply shape every action sends: a JSON payload the gateway renders per channel."""
from __future__ import annotations

from typing import Any, Iterable

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.knowledge import LANGUAGES, Answer, Knowledge


def metadata(tracker: Tracker) -> dict[str, Any]:
    return tracker.latest_message.get("metadata") or {}


def reply_language(tracker: Tracker) -> str:
    language = metadata(tracker).get("language")
    return language if language in LANGUAGES else "en"


def intent_name(tracker: Tracker) -> str | None:
    return (tracker.latest_message.get("intent") or {}).get("name")


def slot_changes(tracker: Tracker, **values: Any) -> list[dict[str, Any]]:
    """SlotSet events for the values that differ from the tracker's. Rasa schema-checks every event an
    action returns, stores it, and reads it back on each later turn, so an unchanged slot would cost on
    every message."""
    return [SlotSet(name, value) for name, value in values.items() if tracker.get_slot(name) != value]


def send(
    dispatcher: CollectingDispatcher,
    *,
    key: str,
    topic: str,
    language: str,
    text: str,
    web_text: str | None = None,
    sources: Iterable[dict[str, str]] = (),
    buttons: Iterable[dict[str, str]] = (),
    handoff: bool = False,
    national_fallback: bool = False,
) -> None:
    dispatcher.utter_message(
        json_message={
            "key": key,
            "topic": topic,
            "language": language,
            "text": text,
            "web_text": web_text or text,
            "sources": list(sources),
            "buttons": list(buttons),
            "handoff": handoff,
            "national_fallback": national_fallback,
        }
    )


def send_message(
    dispatcher: CollectingDispatcher,
    kb: Knowledge,
    key: str,
    topic: str,
    language: str,
    buttons: Iterable[dict[str, str]] = (),
    handoff: bool = False,
    **values: str,
) -> None:
    text = kb.message(key, language, **values)
    send(dispatcher, key=key, topic=topic, language=language, text=text, buttons=buttons, handoff=handoff)


def send_answer(dispatcher: CollectingDispatcher, answer: Answer, language: str) -> None:
    send(
        dispatcher,
        key=f"answer.{answer.municipality}.{answer.topic}",
        topic=answer.topic,
        language=language,
        text=answer.text(language, "sms"),
        web_text=answer.text(language, "web"),
        sources=[source.as_dict() for source in answer.sources],
        national_fallback=answer.national_fallback,
    )


def municipality_buttons(kb: Knowledge) -> list[dict[str, str]]:
    return [{"title": place["name"], "choice": f"municipality:{slug}"} for slug, place in kb.municipalities.items()]


def menu_buttons(kb: Knowledge, language: str) -> list[dict[str, str]]:
    buttons = [{"title": kb.topics[topic][language], "choice": f"topic:{topic}"} for topic in kb.menu]
    buttons.append({"title": kb.message("talk_to_person", language), "choice": "handoff:request"})
    return buttons


def yes_no_buttons(kb: Knowledge, language: str) -> list[dict[str, str]]:
    return [
        {"title": kb.message("answer_yes", language), "choice": "answer:yes"},
        {"title": kb.message("answer_no", language), "choice": "answer:no"},
    ]
