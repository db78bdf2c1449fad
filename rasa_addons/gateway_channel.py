"""The gateway's private way into Rasa: a loopback input channel behind a bearer token.

It returns the bot's payloads together with what NLU understood (intent, confidence), which
the gateway records per turn. Text starting with "/" is refused, so no user text can ever be
read by Rasa as an intent command; the gateway may name an intent only from the domain's
list (a button the user pressed), never by writing "/intent" into the text.
"""
from __future__ import annotations

import hmac
import json
import os
from typing import Any, Awaitable, Callable

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from rasa.shared.core.constants import DEFAULT_INTENTS
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

MAX_TEXT = 2000


class GatewayInput(InputChannel):
    def __init__(self, token: str) -> None:
        if not token:
            raise ValueError("VELKOMMEN_RASA_TOKEN must be set for the gateway channel")
        self.token = token

    @classmethod
    def name(cls) -> str:
        return "gateway"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> "GatewayInput":
        return cls(os.environ.get("VELKOMMEN_RASA_TOKEN", ""))

    def authorised(self, request: Request) -> bool:
        supplied = request.headers.get("Authorization", "")
        return hmac.compare_digest(supplied.encode(), f"Bearer {self.token}".encode())

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        gateway = Blueprint("gateway_webhook", __name__)

        @gateway.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @gateway.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not self.authorised(request):
                return response.json({"error": "unauthorised"}, status=401)
            try:
                body = json.loads(request.body or b"{}")
            except ValueError:
                return response.json({"error": "body must be JSON"}, status=400)
            sender = body.get("sender")
            text = body.get("text")
            intent = body.get("intent")
            metadata = body.get("metadata") or {}
            if not isinstance(sender, str) or not sender or not isinstance(metadata, dict):
                return response.json({"error": "sender and metadata are required"}, status=400)
            agent = request.app.ctx.agent
            if intent is not None:
                if intent not in agent.domain.intents or intent in DEFAULT_INTENTS:
                    return response.json({"error": "unknown intent"}, status=400)
                entities = body.get("entities") or {}
                text = "/" + intent + (json.dumps(entities) if entities else "")
            elif not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
                return response.json({"error": "text must be 1..2000 characters"}, status=400)
            elif text.lstrip().startswith("/"):
                return response.json({"error": "text may not start with '/'"}, status=400)
            collector = CollectingOutputChannel()
            await on_new_message(
                UserMessage(text, collector, sender, input_channel=self.name(), metadata=metadata)
            )
            tracker = await agent.tracker_store.retrieve(sender)
            latest = tracker.latest_message if tracker else None
            understood = (latest.intent or {}) if latest else {}
            return response.json(
                {
                    "messages": collector.messages,
                    "intent": understood.get("name"),
                    "confidence": understood.get("confidence"),
                    "slots": {"municipality": tracker.get_slot("municipality")} if tracker else {},
                }
            )

        return gateway
