"""action_answer_topic: answers a knowledge topic for the user's municipality, asking for it once."""
from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.knowledge import Knowledge, knowledge
from actions.replies import intent_name, metadata, municipality_buttons, reply_language, send_answer, send_message, slot_changes


def known_municipality(kb: Knowledge, tracker: Tracker) -> str | None:
    """The slot if set, else the municipality the channel told us (e.g. the widget's page)."""
    for candidate in (tracker.get_slot("municipality"), metadata(tracker).get("municipality")):
        if candidate in kb.municipalities:
            return candidate
    return None


def answer_topic(dispatcher: CollectingDispatcher, kb: Knowledge, tracker: Tracker, topic: str) -> list[dict[str, Any]]:
    language = reply_language(tracker)
    municipality = known_municipality(kb, tracker)
    if municipality is None:
        send_message(dispatcher, kb, "ask_municipality", topic, language, buttons=municipality_buttons(kb))
        return slot_changes(tracker, pending_topic=topic, fallback_count=0.0)
    send_answer(dispatcher, kb.answer(municipality, topic), language)
    return slot_changes(tracker, municipality=municipality, pending_topic=None, fallback_count=0.0, handoff_offered=False)


class ActionAnswerTopic(Action):
    def name(self) -> str:
        return "action_answer_topic"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        kb = knowledge()
        return answer_topic(dispatcher, kb, tracker, kb.topic_for_intent(intent_name(tracker)))
