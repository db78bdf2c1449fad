"""Talks to the Rasa server over its token-protected loopback channel (rasa_addons.gateway_channel)."""
from __future__ import annotations

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
    def __init__(self, base_url: str, token: str, timeout_s: float = 20.0) -> None:
        self.url = f"{base_url.rstrip('/')}/webhooks/gateway/webhook"
        self.client = httpx.AsyncClient(timeout=timeout_s, headers={"Authorization": f"Bearer {token}"})

    async def send(
        self, sender: str, metadata: dict[str, Any], *, text: str | None = None, intent: str | None = None,
        entities: dict[str, str] | None = None,
    ) -> AssistantTurn:
        body: dict[str, Any] = {"sender": sender, "metadata": metadata}
        if intent:
            body.update(intent=intent, entities=entities or {})
        else:
            body["text"] = text
        try:
            response = await self.client.post(self.url, json=body)
            response.raise_for_status()
            data = response.json()
        except (httpx.HTTPError, ValueError) as error:
            raise AssistantUnavailable(str(error)) from error
        payloads = [m["custom"] for m in data.get("messages", []) if isinstance(m.get("custom"), dict)]
        return AssistantTurn(payloads, data.get("intent"), data.get("confidence"), data.get("slots") or {})

    async def close(self) -> None:
        await self.client.aclose()
