"""action_report_crisis: the NLU safety net for crises the gateway's phrase lists missed (112 first)."""
from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.knowledge import knowledge
from actions.replies import reply_language, send_message


class ActionReportCrisis(Action):
    def name(self) -> str:
        return "action_report_crisis"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        send_message(dispatcher, knowledge(), "crisis_general", "crisis", reply_language(tracker), handoff=True)
        return []
