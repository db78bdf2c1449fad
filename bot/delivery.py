"""The one outbound path: every reply (assistant or caseworker) is announced on the event bus
and handed to the sender its conversation's channel registered (Telegram, SMS). The web chat
has no sender: it reads replies from the API and the event stream.
"""
from __future__ import annotations

from typing import Awaitable, Callable

from bot.events import EventBus
from bot.store.models import Conversation, Message

Sender = Callable[[Conversation, list[Message]], Awaitable[None]]


class Delivery:
    def __init__(self, events: EventBus) -> None:
        self.events = events
        self.senders: dict[str, Sender] = {}

    def register(self, channel: str, sender: Sender) -> None:
        self.senders[channel] = sender

    async def deliver(self, conversation: Conversation, messages: list[Message]) -> None:
        if not messages:
            return
        self.events.publish(conversation.id, {"type": "message", "seq": messages[-1].seq})
        sender = self.senders.get(conversation.channel)
        if sender is not None:
            await sender(conversation, messages)
