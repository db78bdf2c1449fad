"""In-process publish/subscribe of "something new in conversation X" (feeds server-sent events).

Events carry only sequence numbers; subscribers read the messages from the store, so nothing
is lost if an event is missed (a reconnecting client asks for everything after its last seq).
"""
from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import AsyncIterator


class EventBus:
    def __init__(self, queue_size: int = 100) -> None:
        self.queue_size = queue_size
        self.subscribers: defaultdict[str, set[asyncio.Queue]] = defaultdict(set)

    def publish(self, topic: str, event: dict) -> None:
        for queue in list(self.subscribers.get(topic, ())):
            if queue.full():
                queue.get_nowait()  # a slow reader loses old notices, never messages (they are in the store)
            queue.put_nowait(event)

    async def subscribe(self, topic: str) -> AsyncIterator[dict]:
        queue: asyncio.Queue = asyncio.Queue(self.queue_size)
        self.subscribers[topic].add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self.subscribers[topic].discard(queue)
            if not self.subscribers[topic]:
                del self.subscribers[topic]
