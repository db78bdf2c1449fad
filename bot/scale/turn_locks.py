"""Per-conversation turn locks shared by every gateway worker, held in Redis, so a conversation's
turns run one at a time whichever worker receives them (the in-process default is a dict of
asyncio locks). Used as `async with locks[conversation_id]:`, like that dict.

A lock expires by itself after `lifetime_s`, so a worker that dies mid-turn cannot block its
conversation for longer than that.
"""
from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from typing import AsyncIterator

import redis.asyncio as redis
from redis.exceptions import LockNotOwnedError

log = logging.getLogger(__name__)


class TurnBusy(RuntimeError):
    """Another turn of the conversation held the lock for longer than a caller may wait."""


class RedisTurnLocks:
    def __init__(self, url: str, lifetime_s: float, wait_s: float, prefix: str = "velkommen:turn:") -> None:
        self.redis = redis.from_url(url)
        self.lifetime_s = lifetime_s
        self.wait_s = wait_s
        self.prefix = prefix

    def __getitem__(self, conversation_id: str):
        return self.hold(conversation_id)

    def pop(self, conversation_id: str, default: None = None) -> None:
        """Nothing to forget (as the in-process dict must): a released lock leaves no key behind."""
        return default

    @asynccontextmanager
    async def hold(self, conversation_id: str) -> AsyncIterator[None]:
        lock = self.redis.lock(self.prefix + conversation_id, timeout=self.lifetime_s, sleep=0.02,
                               blocking_timeout=self.wait_s)
        if not await lock.acquire():
            raise TurnBusy(conversation_id)
        try:
            yield
        finally:
            try:
                await lock.release()
            except LockNotOwnedError:  # the turn outlived the lock; its work is stored all the same
                log.warning("turn lock of %s expired before the turn ended", conversation_id)

    async def close(self) -> None:
        await self.redis.aclose()
