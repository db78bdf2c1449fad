"""The channel inbox (Telegram, SMS): a person who floods is paced by the per-conversation rate
limit, in order and without losing a message, while other people's messages go first."""
from __future__ import annotations

import asyncio

from bot.channels.inbox import Inbox, InboundReceipt
from bot.safety.limits import TokenBuckets
from bot.store.db import open_store


def test_a_flood_from_one_person_is_paced_in_order_and_others_are_not_kept_waiting(tmp_path):
    sessions = open_store(f"sqlite:///{tmp_path / 'inbox.db'}")
    handled: list[str] = []

    async def handler(payload: dict) -> None:
        handled.append(payload["text"])

    async def scenario() -> None:
        inbox = Inbox(sessions, "sms", handler, pace=TokenBuckets(per_second=20, burst=2))
        for i in range(6):
            inbox.receive(f"flood-{i}", "flooder", {"text": f"flood {i}"})
        inbox.receive("calm-0", "calm", {"text": "calm 0"})
        await inbox.drain(timeout_s=10)

    asyncio.run(scenario())
    flood = [text for text in handled if text.startswith("flood")]
    assert flood == [f"flood {i}" for i in range(6)]  # all of them, in arrival order
    assert handled.index("calm 0") < handled.index("flood 2")  # the calm person did not queue behind the flood
    with sessions() as session:
        assert {r.status for r in session.query(InboundReceipt)} == {"done"}
