"""The console's work on handoffs: the queue, the transcript with each message in the original and
in Danish, caseworker replies in the person's language (a curated phrase, else the pipeline's
translator, else the Danish with a curated note) through the one outbound path, internal notes,
assignment, closing and returning, export, failed deliveries, and the append-only audit log.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy import case, select
from sqlalchemy.orm import Session, sessionmaker

from bot.console.auth import SecurityPolicy
from bot.console.models import AuditEntry, ConsoleUser, Note
from bot.delivery import Delivery
from bot.handoff.desk import OPEN, Handoff, HandoffDesk, as_utc
from bot.outbox import OutboxItem
from bot.pipeline import Pipeline
from bot.settings import Settings
from bot.store.models import Conversation, Message

log = logging.getLogger(__name__)
DANISH = "da"


@dataclass(frozen=True)
class QueueItem:
    handoff: Handoff
    waited_minutes: int
    assignee: str | None
    failed: int


@dataclass(frozen=True)
class Line:
    """One message as the console shows it."""

    message: Message
    original: str
    danish: str | None  # user messages: the Danish shown beside the original
    danish_state: str  # same (written in Danish) | mt (machine-translated) | untranslated (the original, as is)
    failed: str | None  # why the delivery failed, if it did


class NotOpen(Exception):
    """The handoff is closed or returned: nothing more can be done on it but reading."""


@dataclass
class Console:
    pipeline: Pipeline
    delivery: Delivery
    policy: SecurityPolicy
    ui: dict[str, Any]
    phrases: dict[str, dict[str, str]]
    zone: ZoneInfo
    rtl: frozenset[str]
    secure_cookies: bool

    @classmethod
    def load(cls, pipeline: Pipeline, delivery: Delivery, settings: Settings) -> "Console":
        def read(path: Path) -> Any:
            return yaml.safe_load(path.read_text(encoding="utf-8"))

        return cls(
            pipeline, delivery, SecurityPolicy.from_file(settings.config_dir / "console.yml"),
            read(settings.data_dir / "ui/console/da.yml"), read(settings.data_dir / "ui/console/phrases.yml")["phrases"],
            ZoneInfo(read(settings.config_dir / "office_hours.yml")["timezone"]),
            frozenset(read(settings.data_dir / "ui/languages.yml").get("rtl", [])),
            secure_cookies=settings.public_url.startswith("https://"),
        )

    @property
    def sessions(self) -> sessionmaker[Session]:
        return self.pipeline.sessions

    @property
    def desk(self) -> HandoffDesk:
        return self.pipeline.handoffs

    def now(self) -> datetime:
        return self.desk.clock()

    def local(self, moment: datetime) -> datetime:
        return as_utc(moment).astimezone(self.zone)

    # -- audit ---------------------------------------------------------------------------------------

    def audit(self, user: ConsoleUser | None, action: str, *, actor: str | None = None, municipality: str | None = None,
              handoff: Handoff | None = None, **details: Any) -> None:
        with self.sessions.begin() as session:
            session.add(AuditEntry(
                at=self.now(), actor_id=user.id if user else None, actor=(user.username if user else actor or "")[:64],
                role=user.role if user else None, municipality=user.municipality if user else municipality, action=action,
                conversation_id=handoff.conversation_id if handoff else None, handoff_id=handoff.id if handoff else None,
                details=details,
            ))

    def audit_entries(self, municipality: str, before: int | None = None, limit: int = 100) -> list[AuditEntry]:
        query = select(AuditEntry).where(AuditEntry.municipality == municipality)
        if before is not None:
            query = query.where(AuditEntry.id < before)
        with self.sessions() as session:
            return list(session.scalars(query.order_by(AuditEntry.id.desc()).limit(limit)))

    # -- reading -------------------------------------------------------------------------------------

    def queue(self, municipality: str) -> list[QueueItem]:
        urgent_first = case((Handoff.urgency == "urgent", 0), else_=1)
        with self.sessions() as session:
            handoffs = list(session.scalars(select(Handoff).where(
                Handoff.municipality == municipality, Handoff.status.in_(OPEN)).order_by(urgent_first, Handoff.created_at)))
            names = self.names(session, municipality)
        now = self.now()
        return [
            QueueItem(h, int((now - as_utc(h.created_at)).total_seconds() // 60), names.get(h.assigned_to),
                      len(self.failed_deliveries(h.conversation_id)))
            for h in handoffs
        ]

    def handoff_of(self, municipality: str, conversation_id: str) -> Handoff | None:
        """The conversation's latest handoff, if it is this municipality's: otherwise it does not exist here."""
        with self.sessions() as session:
            return session.scalars(select(Handoff).where(
                Handoff.conversation_id == conversation_id, Handoff.municipality == municipality,
            ).order_by(Handoff.id.desc())).first()

    def conversation(self, handoff: Handoff) -> Conversation:
        with self.sessions() as session:
            return session.get(Conversation, handoff.conversation_id)

    def transcript(self, handoff: Handoff) -> list[Line]:
        """The conversation up to the handoff's end: what the person said with the assistant afterwards is not shared."""
        failed = self.failed_deliveries(handoff.conversation_id)
        query = select(Message).where(Message.conversation_id == handoff.conversation_id)
        if handoff.last_seq is not None:
            query = query.where(Message.seq <= handoff.last_seq)
        with self.sessions() as session:
            messages = list(session.scalars(query.order_by(Message.seq)))
        return [self.line(message, failed.get(message.seq)) for message in messages]

    def line(self, message: Message, failed: str | None) -> Line:
        original = message.original_text or message.text
        if message.role != "user":
            return Line(message, original, None, "same", failed)
        if message.language == DANISH:
            return Line(message, original, original, "same", failed)
        danish = self.in_language(message.text, message.language or "", DANISH)
        if danish is None:  # no translation into Danish: the original, as it is, flagged
            return Line(message, original, original, "untranslated", failed)
        return Line(message, original, danish, "mt", failed)

    def in_language(self, text: str, source: str, target: str) -> str | None:
        """The pipeline translator's rendering, or None when it has none (an identity is none)."""
        translator = self.pipeline.translator
        try:
            translated = translator.translate(text, source, target) if translator.can_translate(source, target) else None
        except LookupError:
            return None
        return translated if translated and translated != text else None

    def failed_deliveries(self, conversation_id: str) -> dict[int, str]:
        """Message seq -> why it did not reach the person (the console's own sends and the outbox's)."""
        with self.sessions() as session:
            failed = {m.seq: (m.details or {}).get("delivery_error", "") for m in session.scalars(select(Message).where(
                Message.conversation_id == conversation_id, Message.status == "failed"))}
            for item in session.scalars(select(OutboxItem).where(
                    OutboxItem.conversation_id == conversation_id, OutboxItem.status == "failed")):
                failed.update({seq: item.last_error or "" for seq in item.message_seqs or []})
        return failed

    def notes(self, conversation_id: str) -> list[Note]:
        with self.sessions() as session:
            return list(session.scalars(select(Note).where(Note.conversation_id == conversation_id).order_by(Note.id)))

    def users(self, municipality: str, active_only: bool = False) -> list[ConsoleUser]:
        query = select(ConsoleUser).where(ConsoleUser.municipality == municipality)
        if active_only:
            query = query.where(ConsoleUser.active)
        with self.sessions() as session:
            return list(session.scalars(query.order_by(ConsoleUser.display_name)))

    @staticmethod
    def names(session: Session, municipality: str) -> dict[int, str]:
        return {user_id: name for user_id, name in session.execute(select(ConsoleUser.id, ConsoleUser.display_name).where(
            ConsoleUser.municipality == municipality))}

    # -- acting --------------------------------------------------------------------------------------

    def outgoing(self, danish: str, language: str | None) -> tuple[str, str, bool]:
        """(what the person receives, how: none | curated | mt, whether the untranslated note is added)."""
        if not language or language == DANISH:
            return danish, "none", False
        for phrase in self.phrases.values():
            if phrase[DANISH] == danish and language in phrase:
                return phrase[language], "curated", False
        translated = self.in_language(danish, DANISH, language)
        if translated is not None:
            return translated, "mt", False
        return f"{danish}\n\n{self.kb_message('caseworker_untranslated', language)}", "none", True

    def kb_message(self, key: str, language: str) -> str:
        """A curated message in the person's language: as written, else translated from English."""
        kb = self.pipeline.kb
        if key in kb.messages.get(language, {}):
            return kb.message(key, language)
        english = kb.message(key, "en")
        return self.in_language(english, "en", language) or english

    async def reply(self, user: ConsoleUser, handoff: Handoff, danish: str) -> Message:
        language = self.language_of(handoff)
        text, how, noted = self.outgoing(danish, language)
        message = Message(
            conversation_id=handoff.conversation_id, role="caseworker", status="done", text=text, original_text=danish,
            language=language, topic="handoff", key="caseworker_reply", translated=how,
            details={"web_text": text, "author": user.display_name, "author_id": user.id, "untranslated_note": noted},
        )
        await self.send(handoff, message)
        self.audit(user, "reply", handoff=handoff, seq=message.seq, translated=how, delivered=message.status != "failed")
        return message

    def language_of(self, handoff: Handoff) -> str:
        """The person's language now (it may have changed since the handoff), else the one handed over."""
        return self.conversation(handoff).language or handoff.language or self.pipeline.default_language

    async def send(self, handoff: Handoff, message: Message) -> None:
        async with self.pipeline.locks[handoff.conversation_id]:
            self.check_open(handoff)
            await self.deliver(handoff, message)

    async def deliver(self, handoff: Handoff, message: Message) -> None:
        """Store, then hand to the one outbound path; a failure is kept on the message for the console."""
        with self.sessions.begin() as session:
            session.add(message)
            session.flush()
            conversation = session.get(Conversation, handoff.conversation_id)
        try:
            await self.delivery.deliver(conversation, [message])
        except Exception as error:  # whatever the sender raised: the console shows it, the message stays stored
            log.exception("delivery of message %s failed", message.seq)
            with self.sessions.begin() as session:
                stored = session.get(Message, message.seq)
                stored.status = message.status = "failed"
                stored.details = message.details = {**message.details, "delivery_error": f"{type(error).__name__}: {error}"[:300]}
        self.desk.publish(handoff.municipality, "sent", handoff.conversation_id, seq=message.seq)

    def note(self, user: ConsoleUser, handoff: Handoff, text: str) -> None:
        self.check_open(handoff)
        with self.sessions.begin() as session:
            note = Note(handoff_id=handoff.id, conversation_id=handoff.conversation_id, author_id=user.id,
                        author=user.display_name, text=text, created_at=self.now())
            session.add(note)
            session.flush()
        self.audit(user, "note", handoff=handoff, note=note.id)

    def assign(self, user: ConsoleUser, handoff: Handoff, assignee: ConsoleUser) -> None:
        self.check_open(handoff)
        self.desk.assign(handoff.id, assignee.id)
        self.audit(user, "assign", handoff=handoff, assignee=assignee.username)

    async def release(self, user: ConsoleUser, handoff: Handoff, status: str, outcome: str | None = None) -> None:
        """Close with an outcome, or return: the assistant answers again, and the person is told so."""
        language = self.language_of(handoff)
        key = "handoff_closed" if status == "closed" else "handoff_returned"
        notice = Message(
            conversation_id=handoff.conversation_id, role="assistant", status="done", text=self.kb_message(key, language),
            language=language, topic="handoff", key=key, details={},
        )
        async with self.pipeline.locks[handoff.conversation_id]:
            self.check_open(handoff)
            await self.deliver(handoff, notice)
            self.desk.release(handoff.id, status, outcome, last_seq=notice.seq)
        self.audit(user, "close" if status == "closed" else "return", handoff=handoff, outcome=outcome)

    def check_open(self, handoff: Handoff) -> None:
        with self.sessions() as session:
            if not session.get(Handoff, handoff.id).is_open:
                raise NotOpen(handoff.status)

    def export(self, user: ConsoleUser, handoff: Handoff) -> dict[str, Any]:
        conversation = self.conversation(handoff)
        failed = self.failed_deliveries(handoff.conversation_id)
        self.audit(user, "export", handoff=handoff)
        return {
            "exported_at": self.now().isoformat(), "exported_by": user.username,
            "conversation": {"id": conversation.id, "channel": conversation.channel, "municipality": conversation.municipality,
                             "language": conversation.language, "created_at": as_utc(conversation.created_at).isoformat()},
            "handoff": {column: plain(getattr(handoff, column)) for column in Handoff.__table__.columns.keys()},
            "messages": [
                {"seq": line.message.seq, "role": line.message.role, "at": as_utc(line.message.created_at).isoformat(),
                 "language": line.message.language, "original": line.original, "danish": line.danish,
                 "danish_state": line.danish_state, "sent_text": line.message.text if line.message.role == "caseworker" else None,
                 "translated": line.message.translated, "delivery_failed": line.failed}
                for line in self.transcript(handoff)
            ],
            "notes": [{"author": n.author, "at": as_utc(n.created_at).isoformat(), "text": n.text}
                      for n in self.notes(handoff.conversation_id)],
            "delivery_failures": failed,
        }


def plain(value: Any) -> Any:
    return as_utc(value).isoformat() if isinstance(value, datetime) else value
