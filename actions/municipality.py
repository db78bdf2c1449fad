"""action_set_municipality: takes the municipality the user named and answers what they asked before."""
from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.answer_topic import answer_topic
from actions.knowledge import knowledge
from actions.replies import municipality_buttons, reply_language, send_message, slot_changes


class ActionSetMunicipality(Action):
    def name(self) -> str:
        return "action_set_municipality"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        kb = knowledge()
        language = reply_language(tracker)
        municipality = tracker.get_slot("municipality")
        if municipality not in kb.municipalities:
            send_message(dispatcher, kb, "municipality_unknown", "smalltalk", language, buttons=municipality_buttons(kb))
            return slot_changes(tracker, municipality=None)
        pending = tracker.get_slot("pending_topic")
        if pending in kb.topics:
            return answer_topic(dispatcher, kb, tracker, pending)
        name = kb.municipality_name(municipality)
        send_message(dispatcher, kb, "municipality_set", "smalltalk", language, municipality=name)
        return slot_changes(tracker, fallback_count=0.0)
