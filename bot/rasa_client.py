"""Talks to the Rasa server over its token-protected loopback channel (rasa_addons.gateway_channel).

With several Rasa instances (scale mode), each conversation goes to the one its id hashes to and
fails over to the next when that one does not answer; their shared tracker store (PostgreSQL) and
lock store (Redis) let any instance continue any conversation.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

import httpx


class AssistantUnavailable(Exception):
    """Rasa did not answer (down, slow or broken): the pipeline falls back to a curated reply."""


@dataclass(frozen=True)
class AssistantTurn:
    payloads: list[dict[str, Any]]
    intent: str | None
    confidence: float | None
    slots: dict[str, Any] = field(default_factory=dict)


class RasaClient:
    def __init__(self, base_url: str | list[str], token: str, timeout_s: float = 20.0) -> None:
        bases = [base_url] if isinstance(base_url, str) else base_url
        self.urls = [f"{base.rstrip('/')}/webhooks/gateway/webhook" for base in bases]
        timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 3.0))  # a dead instance fails over quickly
        self.client = httpx.AsyncClient(timeout=timeout, headers={"Authorization": f"Bearer {token}"})

    def instances_for(self, sender: str) -> list[str]:
        """The conversation's own instance first, then the others in a fixed order."""
        first = zlib.crc32(sender.encode()) % len(self.urls)
        return self.urls[first:] + self.urls[:first]

    async def send(
        self, sender: str, metadata: dict[str, Any], *, text: str | None = None, intent: str | None = None,
        entities: dict[str, str] | None = None,
    ) -> AssistantTurn:
        body: dict[str, Any] = {"sender": sender, "metadata": metadata}
        if intent:
            body.update(intent=intent, entities=entities or {})
        else:
            body["text"] = text
        data = await self.post_with_failover(sender, body)
        payloads = [m["custom"] for m in data.get("messages", []) if isinstance(m.get("custom"), dict)]
        return AssistantTurn(payloads, data.get("intent"), data.get("confidence"), data.get("slots") or {})

    async def post_with_failover(self, sender: str, body: dict[str, Any]) -> dict[str, Any]:
        failures: list[str] = []
        for url in self.instances_for(sender):
            try:
                response = await self.client.post(url, json=body)
                response.raise_for_status()
                return response.json()
            except (httpx.HTTPError, ValueError) as error:
                failures.append(f"{url}: {error!r}")
        raise AssistantUnavailable("; ".join(failures))

    async def close(self) -> None:
        await self.client.aclose()
