"""action_reply_smalltalk: greetings, thanks, goodbyes, 'are you a bot' and out-of-scope replies."""
from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.knowledge import knowledge
from actions.replies import intent_name, menu_buttons, reply_language, send_message, slot_changes

WITH_MENU = {"greet", "out_of_scope"}


class ActionReplySmalltalk(Action):
    def name(self) -> str:
        return "action_reply_smalltalk"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        kb = knowledge()
        language = reply_language(tracker)
        intent = intent_name(tracker) or "out_of_scope"
        key = intent if intent in kb.messages["en"] else "ok"
        buttons = menu_buttons(kb, language) if intent in WITH_MENU else []
        send_message(dispatcher, kb, key, kb.intent_topics.get(intent, "smalltalk"), language, buttons=buttons)
        return slot_changes(tracker, fallback_count=0.0)
