"""Handoff to a caseworker: explicit requests, own-case questions, and yes/no to an offer.

Which intent leads to which handoff reason is data (HANDOFF_REASONS keys are intents); the
gateway's handoff step acts on the `handoff` flag in the reply.
"""
from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.knowledge import Knowledge, knowledge
from actions.replies import intent_name, reply_language, send_message, slot_changes

HANDOFF_REASONS = {"request_human": "handoff_requested", "personal_case": "personal_case", "affirm": "handoff_requested"}


def hand_off(dispatcher: CollectingDispatcher, kb: Knowledge, tracker: Tracker, message_key: str) -> list[dict[str, Any]]:
    send_message(dispatcher, kb, message_key, "handoff", reply_language(tracker), handoff=True)
    return slot_changes(tracker, handoff=True, handoff_offered=False, fallback_count=0.0)


class ActionHandoff(Action):
    def name(self) -> str:
        return "action_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        return hand_off(dispatcher, knowledge(), tracker, HANDOFF_REASONS[intent_name(tracker)])


class ActionAnswerYesNo(Action):
    """Yes/no: accepts or declines a pending caseworker offer; otherwise a plain acknowledgement."""

    def name(self) -> str:
        return "action_answer_yes_no"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        kb = knowledge()
        language = reply_language(tracker)
        intent = intent_name(tracker)
        if not tracker.get_slot("handoff_offered"):
            send_message(dispatcher, kb, "ok", "smalltalk", language)
            return []
        if intent == "affirm":
            return hand_off(dispatcher, kb, tracker, HANDOFF_REASONS["affirm"])
        send_message(dispatcher, kb, "handoff_declined", "smalltalk", language)
        return slot_changes(tracker, handoff_offered=False, fallback_count=0.0)
