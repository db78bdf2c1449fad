"""Incoming provider traffic, stored before it is acknowledged: a unique (channel, provider id)
row makes a retried or concurrent duplicate (Telegram update_id, Twilio MessageSid) a no-op, and
what was acknowledged but not yet processed is picked up again after a restart.

Processing runs in the background, one at a time per person and in arrival order, paced by the
per-conversation rate limit (a flood from one person is answered at that rate, nothing dropped,
and it takes no turn from anybody else); the payload is dropped once processed (it may hold a
phone number).
"""
from __future__ import annotations

import asyncio
import logging
from collections import Counter
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any, AsyncIterator, Awaitable, Callable

from sqlalchemy import JSON, DateTime, Index, Integer, String, Text, UniqueConstraint, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from bot.safety.limits import Buckets
from bot.store.models import Base, utcnow

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[None]]


class InboundReceipt(Base):
    __tablename__ = "channel_inbox"
    __table_args__ = (UniqueConstraint("channel", "external_id", name="uq_channel_inbox_external_id"),
                      Index("ix_channel_inbox_status", "channel", "status"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(64))
    person: Mapped[str] = mapped_column(String(128))  # ordering key: chat id or the number's keyed hash
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | done | failed
    error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class KeyedLocks:
    """One asyncio lock per key, forgotten when nobody holds or waits for it. Waiters are served
    in the order they asked, so tasks started in arrival order run in arrival order."""

    def __init__(self) -> None:
        self.locks: dict[str, asyncio.Lock] = {}
        self.users: Counter[str] = Counter()

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock = self.locks.setdefault(key, asyncio.Lock())
        self.users[key] += 1
        try:
            async with lock:
                yield
        finally:
            self.users[key] -= 1
            if not self.users[key]:
                del self.users[key], self.locks[key]


class Inbox:
    def __init__(self, sessions: sessionmaker[Session], channel: str, handler: Handler, pace: Buckets,
                 concurrency: int = 8) -> None:
        self.sessions = sessions
        self.channel = channel
        self.handler = handler
        self.pace = pace
        self.order = KeyedLocks()
        # A flood becomes a queue, not hundreds of turns at once: acknowledging stays quick.
        self.slots = asyncio.Semaphore(concurrency)
        self.tasks: set[asyncio.Task] = set()

    def receive(self, external_id: str, person: str, payload: dict[str, Any]) -> bool:
        """Stores and schedules one delivery; False when it was received before."""
        try:
            with self.sessions.begin() as session:
                receipt = InboundReceipt(channel=self.channel, external_id=external_id, person=person, payload=payload)
                session.add(receipt)
                session.flush()
                receipt_id = receipt.id
        except IntegrityError:
            return False
        self.schedule(receipt_id, person, payload)
        return True

    def schedule(self, receipt_id: int, person: str, payload: dict[str, Any]) -> None:
        task = asyncio.create_task(self.process(receipt_id, person, payload))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def process(self, receipt_id: int, person: str, payload: dict[str, Any]) -> None:
        async with self.order.hold(person):
            while wait := await self.pace.wait(f"{self.channel}:{person}"):
                await asyncio.sleep(wait)
            async with self.slots:
                try:
                    await self.handler(payload)
                except Exception as error:  # recorded for a person to look at; the webhook already answered
                    log.exception("%s: processing receipt %s failed", self.channel, receipt_id)
                    self.finish(receipt_id, "failed", repr(error)[:500])
                else:
                    self.finish(receipt_id, "done")

    def finish(self, receipt_id: int, status: str, error: str | None = None) -> None:
        payload = {"payload": None} if status == "done" else {}
        with self.sessions.begin() as session:
            session.execute(update(InboundReceipt).where(
                InboundReceipt.id == receipt_id, InboundReceipt.status == "pending",
            ).values(status=status, error=error, **payload))

    def failed(self, external_id: str, error: str) -> None:
        """Marks a receipt failed from outside `process` (PTB reports handler errors separately)."""
        with self.sessions.begin() as session:
            session.execute(update(InboundReceipt).where(
                InboundReceipt.channel == self.channel, InboundReceipt.external_id == external_id,
                InboundReceipt.status == "pending",
            ).values(status="failed", error=error[:500]))

    def prune(self, keep_days: float = 7.0) -> int:
        """Forgets processed receipts older than any provider retry (a few hours at most)."""
        cutoff = utcnow() - timedelta(days=keep_days)
        with self.sessions.begin() as session:
            return session.execute(delete(InboundReceipt).where(
                InboundReceipt.channel == self.channel, InboundReceipt.status == "done",
                InboundReceipt.received_at < cutoff)).rowcount

    def resume(self) -> int:
        """Schedules what was received but not processed before the last stop."""
        with self.sessions() as session:
            pending = list(session.execute(select(InboundReceipt.id, InboundReceipt.person, InboundReceipt.payload).where(
                InboundReceipt.channel == self.channel, InboundReceipt.status == "pending",
            ).order_by(InboundReceipt.id)))
        for receipt_id, person, payload in pending:
            self.schedule(receipt_id, person, payload)
        return len(pending)

    async def drain(self, timeout_s: float = 10.0) -> None:
        """Lets running work finish; what does not is left pending for `resume`."""
        if self.tasks:
            _, unfinished = await asyncio.wait(set(self.tasks), timeout=timeout_s)
            for task in unfinished:
                task.cancel()
            await asyncio.gather(*unfinished, return_exceptions=True)
