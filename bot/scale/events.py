"""The event bus over Redis pub/sub: an event published by any gateway worker reaches the
server-sent-event subscribers of every worker. Same interface and guarantees as bot.events.EventBus
(events are notices carrying sequence numbers; the messages themselves are in the database).

Each worker holds one pub/sub connection, subscribed to the channels its local subscribers watch,
and fans incoming events out to them through the in-process bus.
"""
from __future__ import annotations

import asyncio
import json
import logging
from contextlib import aclosing
from typing import AsyncIterator

import redis.asyncio as redis
from redis import Redis as BlockingRedis
from redis.exceptions import RedisError

from bot.events import EventBus

log = logging.getLogger(__name__)
SUBSCRIBE_CONFIRM_S = 5.0


class RedisEventBus(EventBus):
    def __init__(self, url: str, queue_size: int = 100, prefix: str = "velkommen:events:") -> None:
        super().__init__(queue_size)
        self.redis = redis.from_url(url)
        self.blocking_redis = BlockingRedis.from_url(url)
        self.prefix = prefix
        self.pubsub = self.redis.pubsub()
        self.listener: asyncio.Task | None = None
        self.confirmed: dict[str, asyncio.Event] = {}
        self.watching = asyncio.Lock()
        self.publishing: set[asyncio.Task] = set()

    def publish(self, topic: str, event: dict) -> None:
        """Sends without waiting: a lost notice costs a client a re-read, never a message."""
        channel, data = self.prefix + topic, json.dumps(event)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a synchronous route handler, in FastAPI's thread pool: blocking is fine there
            try:
                self.blocking_redis.publish(channel, data)
            except RedisError as error:
                log.warning("event not published to Redis: %s", error)
            return
        task = loop.create_task(self.redis.publish(channel, data))
        self.publishing.add(task)
        task.add_done_callback(self.published)

    def published(self, task: asyncio.Task) -> None:
        self.publishing.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("event not published to Redis: %s", task.exception())

    async def subscribe(self, topic: str) -> AsyncIterator[dict]:
        await self.watch(topic)
        try:
            async with aclosing(super().subscribe(topic)) as events:
                async for event in events:
                    yield event
        finally:
            await self.unwatch(topic)

    async def watch(self, topic: str) -> None:
        """Subscribes this worker to the topic's channel and waits until Redis confirms it."""
        channel = self.prefix + topic
        async with self.watching:
            if channel not in self.confirmed:
                self.confirmed[channel] = asyncio.Event()
                await self.pubsub.subscribe(channel)
            if self.listener is None or self.listener.done():
                self.listener = asyncio.create_task(self.listen())
        await asyncio.wait_for(self.confirmed[channel].wait(), SUBSCRIBE_CONFIRM_S)

    async def unwatch(self, topic: str) -> None:
        channel = self.prefix + topic
        async with self.watching:
            if topic not in self.subscribers and channel in self.confirmed:
                del self.confirmed[channel]
                await self.pubsub.unsubscribe(channel)

    async def listen(self) -> None:
        while True:
            try:
                message = await self.pubsub.get_message(timeout=1.0)
            except (RedisError, OSError) as error:  # Redis restarting: redis-py reconnects and resubscribes
                log.warning("Redis pub/sub interrupted: %s", error)
                await asyncio.sleep(0.5)
                continue
            if message is None:
                continue
            channel = message["channel"].decode()
            if message["type"] == "subscribe" and channel in self.confirmed:
                self.confirmed[channel].set()
            elif message["type"] == "message":
                super().publish(channel.removeprefix(self.prefix), json.loads(message["data"]))

    async def close(self) -> None:
        if self.listener is not None:
            self.listener.cancel()
        await asyncio.gather(*self.publishing, return_exceptions=True)
        await self.pubsub.aclose()
        await self.redis.aclose()
        self.blocking_redis.close()
