"""Token buckets shared by every gateway worker, held in Redis, so a source or a conversation has
one budget however many workers serve it (the in-process default, bot/safety/limits.TokenBuckets,
has one per worker). Same semantics: `burst` tokens, refilled at `per_second`, one per request.

One Lua script reads, refills and takes atomically on the Redis server with the server's clock, so
workers need neither agreeing clocks nor a lock. An idle bucket expires once it would be full again.
If Redis cannot be reached the request passes (and a warning is logged): the limits protect the
service, they must not take it down.
"""
from __future__ import annotations

import logging

import redis.asyncio as redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

TAKE = """
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'updated')
local tokens = tonumber(state[1]) or burst
local updated = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - updated) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'updated', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
return tostring(wait)
"""


class RedisTokenBuckets:
    def __init__(self, client: redis.Redis, per_second: float, burst: float, prefix: str) -> None:
        self.per_second = per_second
        self.burst = burst
        self.prefix = prefix
        self.script = client.register_script(TAKE)

    @classmethod
    def named(cls, client: redis.Redis, name: str, per_second: float, burst: float) -> "RedisTokenBuckets":
        return cls(client, per_second, burst, prefix=f"velkommen:rate:{name}:")

    async def wait(self, key: str) -> float:
        """0 if the request may pass, else the seconds until a token is free."""
        try:
            return float(await self.script(keys=[self.prefix + key], args=[self.per_second, self.burst]))
        except RedisError as error:
            log.warning("rate limits unavailable, request let through: %s", error)
            return 0.0
