"""Input abuse limits as ASGI middleware: a request body size cap (413, checked on the declared
length and again while a chunked body streams in) and token-bucket rate limits per source IP and
per conversation (429 with Retry-After and a polite text from data/messages).

The buckets live in the process; in scale mode they live in Redis (bot/scale/rate_limits.py), so
several workers share one budget. Behind a proxy, run uvicorn with --proxy-headers so the source is
the client, not the proxy.
"""
from __future__ import annotations

import json
import math
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Protocol

import yaml
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException

from bot.settings import ROOT

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CONVERSATION_MESSAGES = re.compile(r"^/api/conversations/([^/]+)/messages/?$")


class BodyTooLarge(HTTPException):
    """Raised from `receive` while a body streams in; an HTTPException so FastAPI passes it on as is."""

    def __init__(self) -> None:
        super().__init__(413, "request body too large")


@dataclass
class TokenBuckets:
    """One bucket per key: `burst` tokens, refilled at `per_second`; a request takes one."""

    per_second: float
    burst: float
    max_keys: int = 100_000
    clock: Callable[[], float] = time.monotonic
    buckets: dict[str, tuple[float, float]] = field(default_factory=dict)  # key -> (tokens, updated)

    def take(self, key: str) -> float:
        """0 if the request may pass, else the seconds until a token is free."""
        now = self.clock()
        tokens, updated = self.buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - updated) * self.per_second)
        if tokens >= 1:
            self.buckets[key] = (tokens - 1, now)
            self.forget_idle(now)
            return 0.0
        self.buckets[key] = (tokens, now)
        return (1 - tokens) / self.per_second

    async def wait(self, key: str) -> float:
        return self.take(key)

    def forget_idle(self, now: float) -> None:
        if len(self.buckets) <= self.max_keys:
            return
        full_after = self.burst / self.per_second
        self.buckets = {k: v for k, v in self.buckets.items() if now - v[1] < full_after}


class Buckets(Protocol):
    async def wait(self, key: str) -> float:
        """0 if the request may pass, else the seconds until a token is free."""


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int
    per_source: Buckets
    source_paths: tuple[str, ...]
    per_conversation: Buckets

    @classmethod
    def from_file(cls, path: Path, clock: Callable[[], float] = time.monotonic,
                  shared: Callable[[str, float, float], Buckets] | None = None) -> "Limits":
        """`shared(name, per_second, burst)` makes buckets every worker shares (scale mode)."""
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
        rate, max_keys = config["rate"], config["rate"].get("max_tracked_keys", 100_000)

        def buckets(name: str) -> Buckets:
            per_second, burst = rate[name]["per_second"], rate[name]["burst"]
            return shared(name, per_second, burst) if shared else TokenBuckets(per_second, burst, max_keys, clock)

        return cls(
            max_body_bytes=int(config["body"]["max_bytes"]),
            per_source=buckets("per_source"),
            source_paths=tuple(rate["per_source"]["paths"]),
            per_conversation=buckets("per_conversation"),
        )


def preferred_language(accept_language: str, available: set[str], default: str) -> str:
    """The first language of an Accept-Language header that we have (quality values ignored)."""
    for part in accept_language.split(","):
        language = part.split(";")[0].strip().split("-")[0].lower()
        if language in available:
            return language
    return default


class LimitsMiddleware:
    def __init__(self, app: ASGIApp, limits: Limits, polite_text: Callable[[str], str]) -> None:
        self.app = app
        self.limits = limits
        self.polite_text = polite_text  # Accept-Language header -> the curated rate_limited text

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        wait = await self.rate_wait(scope)
        if wait:
            await self.respond(send, 429, {"detail": self.polite_text(headers.get("accept-language", ""))},
                               [(b"retry-after", str(math.ceil(wait)).encode())])
            return
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.limits.max_body_bytes:
            await self.respond(send, 413, {"detail": "request body too large"})
            return
        received = 0
        started = False

        async def limited_receive() -> dict[str, Any]:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limits.max_body_bytes:
                    raise BodyTooLarge()
            return message

        async def tracked_send(message: dict[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracked_send)
        except BodyTooLarge:
            if started:
                raise
            await self.respond(send, 413, {"detail": "request body too large"})

    async def rate_wait(self, scope: Scope) -> float:
        path = scope.get("path", "")
        client = scope.get("client")
        if client and path.startswith(self.limits.source_paths):
            wait = await self.limits.per_source.wait(f"ip:{client[0]}")
            if wait:
                return wait
        found = CONVERSATION_MESSAGES.match(path)
        if found and scope.get("method") == "POST":
            return await self.limits.per_conversation.wait(f"conversation:{found.group(1)}")
        return 0.0

    @staticmethod
    async def respond(send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] = ()) -> None:
        payload = json.dumps(body, ensure_ascii=False).encode()
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()), *headers]})
        await send({"type": "http.response.body", "body": payload})


def config_without_rate_limits(home: Path) -> Path:
    """A copy of the configuration whose rate limits cannot trigger, for tests and benchmarks
    that measure something else (tests/gateway/test_limits.py tests the real limits)."""
    config = home / "config"
    shutil.copytree(ROOT / "config", config, dirs_exist_ok=True)
    limits = yaml.safe_load((config / "limits.yml").read_text(encoding="utf-8"))
    for bucket in ("per_source", "per_conversation"):
        limits["rate"][bucket].update(burst=100_000, per_second=1000)
    (config / "limits.yml").write_text(yaml.safe_dump(limits), encoding="utf-8")
    return config
