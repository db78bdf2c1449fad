"""action_rephrase: asks to rephrase; on the second misunderstanding in a row offers a caseworker."""
from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.knowledge import knowledge
from actions.replies import reply_language, send_message, slot_changes, yes_no_buttons

OFFER_AFTER = 2


class ActionRephrase(Action):
    def name(self) -> str:
        return "action_rephrase"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        kb = knowledge()
        language = reply_language(tracker)
        misunderstood = int(tracker.get_slot("fallback_count") or 0) + 1
        if misunderstood >= OFFER_AFTER:
            send_message(dispatcher, kb, "offer_handoff", "out_of_scope", language, buttons=yes_no_buttons(kb, language))
            return slot_changes(tracker, fallback_count=0.0, handoff_offered=True)
        send_message(dispatcher, kb, "rephrase", "out_of_scope", language)
        return slot_changes(tracker, fallback_count=float(misunderstood))
