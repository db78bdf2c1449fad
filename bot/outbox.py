"""The persistent outbox behind the Telegram and SMS senders: every outgoing text is a row first,
then one background worker sends each recipient's rows strictly in order, several recipients at
a time. A failed send is retried a bounded number of times (after the provider's own wait when
it names one, e.g. Telegram's 429 retry_after); what still cannot be sent stays as `failed` with
its reason, for the console to show.

Row status: pending → sending → sent | failed | suppressed (opted out); `held` rows are SMS
continuations waiting for MORE (then `released` into new rows), `superseded` when a newer one came.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Awaitable, Callable

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, Integer, Select, String, Text, func, or_, select, update
from sqlalchemy.orm import Mapped, Session, aliased, mapped_column, sessionmaker

from bot.store.models import Base, utcnow

log = logging.getLogger(__name__)

LANE_OPEN = ("pending", "sending")


class OutboxItem(Base):
    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_lane", "channel", "recipient", "status", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str] = mapped_column(String(128))  # Telegram chat id; SMS: the number's keyed hash
    conversation_id: Mapped[str | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    message_seqs: Mapped[list[int]] = mapped_column(JSON, default=list)
    kind: Mapped[str] = mapped_column(String(16), default="message")  # message | opt_out_notice
    text: Mapped[str] = mapped_column(Text)
    buttons: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    language: Mapped[str | None] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[float] = mapped_column(Float, default=0.0)  # epoch seconds; a claim's lease while sending
    last_error: Mapped[str | None] = mapped_column(Text)
    provider_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RetryLater(Exception):
    def __init__(self, reason: str, delay_s: float | None = None) -> None:
        super().__init__(reason)
        self.delay_s = delay_s  # None: the outbox's own backoff


class Undeliverable(Exception):
    """Permanent: retrying cannot help (blocked bot, invalid number, conversation deleted)."""


class Suppressed(Exception):
    """Not to be sent at all (the recipient opted out)."""


Transport = Callable[[OutboxItem], Awaitable[str | None]]


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    backoff_s: tuple[float, ...] = (1, 5, 30, 120, 600)
    lease_s: float = 60.0

    def delay(self, attempts: int) -> float:
        return self.backoff_s[min(attempts - 1, len(self.backoff_s) - 1)]


def lane_heads() -> Select:
    """The oldest open row of every recipient: only it may be sent, which keeps the order."""
    earlier = aliased(OutboxItem)
    head = select(func.min(earlier.id)).where(
        earlier.channel == OutboxItem.channel, earlier.recipient == OutboxItem.recipient,
        earlier.status.in_(LANE_OPEN)).scalar_subquery()
    return select(OutboxItem).where(OutboxItem.status.in_(LANE_OPEN), OutboxItem.id == head)


class Outbox:
    def __init__(self, sessions: sessionmaker[Session], policy: RetryPolicy = RetryPolicy(),
                 concurrency: int = 8, poll_s: float = 2.0) -> None:
        self.sessions = sessions
        self.policy = policy
        self.concurrency = concurrency
        self.poll_s = poll_s  # also notices rows another gateway process added
        self.transports: dict[str, Transport] = {}
        self.wake = asyncio.Event()
        self.sending: set[asyncio.Task] = set()
        self.worker: asyncio.Task | None = None

    def register(self, channel: str, transport: Transport) -> None:
        self.transports[channel] = transport

    def enqueue(self, items: list[OutboxItem]) -> None:
        with self.sessions.begin() as session:
            session.add_all(items)
        self.wake.set()

    # -- the worker ----------------------------------------------------------------------------

    async def start(self) -> None:
        self.wake = asyncio.Event()
        self.worker = asyncio.create_task(self.run())

    async def stop(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            await asyncio.gather(self.worker, return_exceptions=True)
        if self.sending:
            await asyncio.wait(set(self.sending), timeout=10)

    async def run(self) -> None:
        while True:
            self.wake.clear()
            try:
                for item in self.claim_due(self.concurrency - len(self.sending)):
                    task = asyncio.create_task(self.send(item))
                    self.sending.add(task)
                    task.add_done_callback(self.sending.discard)
                wait_s = self.seconds_until_due()
            except Exception:  # a database hiccup must not end the worker
                log.exception("outbox: claiming failed")
                wait_s = self.poll_s
            try:  # asyncio.timeout, not wait_for: 3.11's wait_for can swallow the cancel that stops us
                async with asyncio.timeout(min(wait_s, self.poll_s)):
                    await self.wake.wait()
            except TimeoutError:
                pass

    def claim_due(self, room: int) -> list[OutboxItem]:
        if room <= 0:
            return []
        now = time.time()
        claimed = []
        with self.sessions.begin() as session:
            heads = session.scalars(lane_heads().where(
                OutboxItem.not_before <= now, OutboxItem.channel.in_(list(self.transports)),
            ).order_by(OutboxItem.id).limit(room)).all()
            for item in heads:  # a stale `sending` claim (its process died) is taken over
                taken = session.execute(update(OutboxItem).where(
                    OutboxItem.id == item.id, OutboxItem.status.in_(LANE_OPEN), OutboxItem.not_before <= now,
                ).values(status="sending", not_before=now + self.policy.lease_s)).rowcount
                if taken:
                    claimed.append(item)
        return claimed

    def seconds_until_due(self) -> float:
        with self.sessions() as session:
            heads = lane_heads().where(OutboxItem.channel.in_(list(self.transports))).subquery()
            soonest = session.scalar(select(func.min(heads.c.not_before)))
        return self.poll_s if soonest is None else max(0.0, soonest - time.time())

    async def send(self, item: OutboxItem) -> None:
        try:
            async with asyncio.timeout(self.policy.lease_s / 2):
                provider_id = await self.transports[item.channel](item)
        except RetryLater as later:
            self.retry(item, str(later), later.delay_s)
        except Undeliverable as error:
            self.finish(item, "failed", error=str(error))
        except Suppressed as reason:
            self.finish(item, "suppressed", error=str(reason))
        except Exception as error:  # timeouts, network trouble, surprises: retried, then recorded
            log.warning("outbox: sending %s to %s failed: %r", item.id, item.channel, error)
            self.retry(item, repr(error), None)
        else:
            self.finish(item, "sent", provider_id=provider_id)
        finally:
            self.wake.set()

    def retry(self, item: OutboxItem, reason: str, delay_s: float | None) -> None:
        attempts = item.attempts + 1
        if attempts >= self.policy.max_attempts:
            self.finish(item, "failed", error=f"gave up after {attempts} attempts: {reason}", attempts=attempts)
            return
        delay = self.policy.delay(attempts) if delay_s is None else delay_s
        self.update(item, status="pending", attempts=attempts, not_before=time.time() + delay, last_error=reason[:500])

    def finish(self, item: OutboxItem, status: str, *, provider_id: str | None = None, error: str | None = None,
               attempts: int | None = None) -> None:
        values: dict[str, Any] = {"status": status, "last_error": error[:500] if error else None}
        if status == "sent":
            values |= {"provider_id": provider_id, "sent_at": utcnow(), "attempts": item.attempts + 1}
        if attempts is not None:
            values["attempts"] = attempts
        self.update(item, **values)

    def update(self, item: OutboxItem, **values: Any) -> None:
        with self.sessions.begin() as session:
            session.execute(update(OutboxItem).where(OutboxItem.id == item.id, OutboxItem.status == "sending").values(**values))

    # -- for the channels and the console ------------------------------------------------------

    def cancel_open(self, channel: str, recipient: str, status: str, reason: str) -> int:
        """Closes what is still waiting for one recipient (e.g. everything queued before STOP)."""
        with self.sessions.begin() as session:
            return session.execute(update(OutboxItem).where(
                OutboxItem.channel == channel, OutboxItem.recipient == recipient,
                or_(OutboxItem.status == "pending", OutboxItem.status == "held"),
            ).values(status=status, last_error=reason)).rowcount

    def of_conversation(self, conversation_id: str) -> list[OutboxItem]:
        """Every outgoing row of a conversation with its status and last error, oldest first."""
        with self.sessions() as session:
            return list(session.scalars(select(OutboxItem).where(
                OutboxItem.conversation_id == conversation_id).order_by(OutboxItem.id)))
