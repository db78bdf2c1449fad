"""The handoff desk: asks consent, opens the handoff record, keeps the queue's urgency, and tells
the person honestly when a caseworker will answer.

The pipeline's route_owner and hand_off steps call it; the console assigns, closes and returns
what it opens. The flow is data (flow.yml), every sentence a message key (data/messages/), office
hours configuration (config/office_hours.yml). The clock is injectable (`desk.clock`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy import DateTime, ForeignKey, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from actions.knowledge import Knowledge
from bot.events import EventBus
from bot.store.models import Base, Conversation

FLOW = Path(__file__).with_name("flow.yml")
OPEN = ("waiting", "assigned")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Clock = Callable[[], datetime]


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


class Handoff(Base):
    """One handover of a conversation to its municipality's caseworkers, from consent to closure."""

    __tablename__ = "handoffs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    municipality: Mapped[str] = mapped_column(String(32), index=True)
    language: Mapped[str | None] = mapped_column(String(8))
    channel: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(32))  # request | offer_accepted | personal_case | crisis
    urgency: Mapped[str] = mapped_column(String(8))  # urgent | normal
    status: Mapped[str] = mapped_column(String(16))  # waiting | assigned | closed | returned
    consent: Mapped[str] = mapped_column(String(16))  # given | vital_interest (crisis)
    contact_time: Mapped[str | None] = mapped_column(String(16))
    transcript_seq: Mapped[int] = mapped_column(Integer)  # the transcript handed over: messages up to this seq
    last_seq: Mapped[int | None] = mapped_column(Integer)  # once closed or returned: its last message
    assigned_to: Mapped[int | None] = mapped_column(ForeignKey("console_users.id", ondelete="SET NULL"))
    outcome: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def is_open(self) -> bool:
        return self.status in OPEN


@dataclass(frozen=True)
class Notice:
    """A curated sentence for the person, with any buttons: in their language where it is curated,
    else in English (the pipeline's translate_out step then translates it, or says it cannot)."""

    key: str
    text: str
    buttons: list[dict[str, str]] = field(default_factory=list)
    language: str = "en"


@dataclass(frozen=True)
class OfficeHours:
    zone: ZoneInfo
    weekly: dict[int, tuple[time, time]] | None  # weekday (0 = Monday) -> opens, closes; None: unknown
    expected_wait_minutes: int | None

    @classmethod
    def parse(cls, zone: ZoneInfo, spec: dict[str, Any]) -> "OfficeHours":
        hours = spec.get("hours")
        weekly = None
        if hours is not None:
            weekly = {}
            for day, span in hours.items():
                opens, closes = (time.fromisoformat(part.strip()) for part in span.split("-"))
                weekly[WEEKDAYS.index(day)] = (opens, closes)
        return cls(zone, weekly, spec.get("expected_wait_minutes"))

    def hours_on(self, day: datetime) -> tuple[datetime, datetime] | None:
        span = (self.weekly or {}).get(day.weekday())
        if span is None:
            return None
        return tuple(datetime.combine(day.date(), moment, self.zone) for moment in span)  # type: ignore[return-value]

    def open_until(self, now: datetime) -> datetime | None:
        """When today's hours end, if they are running now."""
        local = now.astimezone(self.zone)
        today = self.hours_on(local)
        return today[1] if today and today[0] <= local < today[1] else None

    def next_opening(self, now: datetime) -> datetime | None:
        local = now.astimezone(self.zone)
        for ahead in range(8):
            hours = self.hours_on(local + timedelta(days=ahead))
            if hours and hours[0] > local:
                return hours[0]
        return None


def load_office_hours(path: Path) -> dict[str, OfficeHours]:
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    zone = ZoneInfo(config["timezone"])
    default = config.get("default") or {}
    return {slug: OfficeHours.parse(zone, default | (spec or {})) for slug, spec in config["municipalities"].items()}


class HandoffDesk:
    def __init__(
        self, sessions: sessionmaker[Session], kb: Knowledge, events: EventBus, office_hours: dict[str, OfficeHours],
        flow: dict[str, Any], clock: Clock | None = None,
    ) -> None:
        self.sessions = sessions
        self.kb = kb
        self.events = events
        self.office_hours = office_hours
        self.flow = flow
        self.clock: Clock = clock or (lambda: datetime.now(timezone.utc))

    @classmethod
    def load(cls, sessions: sessionmaker[Session], kb: Knowledge, events: EventBus, config_dir: Path) -> "HandoffDesk":
        flow = yaml.safe_load(FLOW.read_text(encoding="utf-8"))
        return cls(sessions, kb, events, load_office_hours(config_dir / "office_hours.yml"), flow)

    # -- the flow's own buttons ------------------------------------------------------------------

    def handles(self, choice: str) -> bool:
        kind, _, value = choice.partition(":")
        if kind == "consent":
            answer, _, place = value.partition(":")
            return (answer == "no" and not place) or (answer == "yes" and (not place or place in self.kb.municipalities))
        return kind == "contact" and value in self.flow["contact_times"]

    def answer_choice(self, conversation: Conversation, choice: str, seq: int, language: str) -> list[Notice]:
        kind, _, value = choice.partition(":")
        if kind == "contact":
            return self.note_contact_time(conversation, value, language)
        answer, _, place = value.partition(":")
        return self.consent(conversation, answer, seq, language, place or None)

    def typed_consent(self, conversation: Conversation, intent: str | None) -> str | None:
        """"yes"/"no" when the person typed an answer to a pending consent question."""
        return self.flow["typed_consent"].get(intent) if conversation.handoff_pending else None

    # -- consent -----------------------------------------------------------------------------------

    def ask_consent(self, conversation: Conversation, intent: str | None, language: str) -> list[Notice]:
        reason = self.flow["reasons"].get(intent, self.flow["default_reason"])
        self.update(conversation, handoff_pending=reason)
        return [self.consent_question(conversation, language)]

    def consent_question(self, conversation: Conversation, language: str) -> Notice:
        no = {"title": self.message("consent_no", language), "choice": "consent:no"}
        if conversation.municipality:
            yes = {"title": self.message("consent_yes", language), "choice": "consent:yes"}
            name = self.kb.municipality_name(conversation.municipality)
            return self.say("handoff_consent", language, [yes, no], municipality=name)
        places = [
            {"title": self.message("consent_yes_for", language, municipality=place["name"]), "choice": f"consent:yes:{slug}"}
            for slug, place in self.kb.municipalities.items()
        ]
        return self.say("handoff_consent_municipality", language, [*places, no])

    def consent(self, conversation: Conversation, answer: str, seq: int, language: str, municipality: str | None = None) -> list[Notice]:
        reason = conversation.handoff_pending or self.flow["default_reason"]
        if self.open_handoff(conversation.id) is not None:
            self.update(conversation, handoff_pending=None)
            return [self.say("handoff_already", language)]
        if answer == "no":
            self.update(conversation, handoff_pending=None)
            return [self.say("handoff_declined", language)]
        municipality = municipality or conversation.municipality
        if municipality is None:
            self.update(conversation, handoff_pending=reason)
            return [self.consent_question(conversation, language)]
        return self.open(conversation, reason, "given", seq, language, municipality)

    def urgent(self, conversation: Conversation, seq: int, language: str) -> list[Notice]:
        """A crisis: hand over at once (top of the queue), or raise an open handoff to urgent."""
        with self.sessions.begin() as session:
            existing = self.find_open(session, conversation.id)
            if existing is not None:
                if existing.urgency == "urgent":
                    return []
                existing.urgency = "urgent"
                municipality = existing.municipality
        if existing is not None:
            self.publish(municipality, "urgent", conversation.id)
            return [self.say("handoff_urgent", language, municipality=self.kb.municipality_name(municipality))]
        if conversation.municipality is None:
            self.update(conversation, handoff_pending="crisis")
            return [self.consent_question(conversation, language)]
        return self.open(conversation, "crisis", "vital_interest", seq, language, conversation.municipality)

    def open(self, conversation: Conversation, reason: str, consent: str, seq: int, language: str, municipality: str) -> list[Notice]:
        urgent = reason in self.flow["urgent_reasons"] or conversation.crisis
        with self.sessions.begin() as session:
            session.add(Handoff(
                conversation_id=conversation.id, municipality=municipality, language=conversation.language or language,
                channel=conversation.channel, reason=reason, urgency="urgent" if urgent else "normal", status="waiting",
                consent=consent, transcript_seq=seq, created_at=self.clock(),
            ))
            for record in (session.get(Conversation, conversation.id), conversation):
                record.owner, record.handoff, record.handoff_pending, record.municipality = "caseworker", True, None, municipality
        self.publish(municipality, "handoff", conversation.id)
        name = self.kb.municipality_name(municipality)
        told = [self.say("handoff_urgent" if reason == "crisis" else "handoff_queued", language, municipality=name)]
        told += self.waiting(municipality, language, urgent)
        if not urgent:
            times = [{"title": self.message(f"contact_{value}", language), "choice": f"contact:{value}"}
                     for value in self.flow["contact_times"]]
            told.append(self.say("handoff_contact_time", language, times))
        return told

    def note_contact_time(self, conversation: Conversation, value: str, language: str) -> list[Notice]:
        with self.sessions.begin() as session:
            handoff = self.find_open(session, conversation.id)
            if handoff is not None:
                handoff.contact_time = value
                municipality = handoff.municipality
        if handoff is None:
            return [self.say("ok", language)]
        self.publish(municipality, "contact_time", conversation.id)
        spoken = self.spoken("handoff_contact_noted", language)
        return [self.say("handoff_contact_noted", spoken, time=self.message(f"contact_{value}", spoken))]

    # -- while a caseworker owns the conversation ---------------------------------------------------

    def forward(self, conversation: Conversation, seq: int) -> None:
        """A message for the console: announce it to the municipality's caseworkers."""
        handoff = self.open_handoff(conversation.id)
        if handoff is not None:
            self.publish(handoff.municipality, "message", conversation.id, seq=seq)

    def assign(self, handoff_id: int, user_id: int) -> None:
        with self.sessions.begin() as session:
            handoff = session.get(Handoff, handoff_id)
            handoff.assigned_to, handoff.status = user_id, "assigned"
        self.publish(handoff.municipality, "assigned", handoff.conversation_id)

    def release(self, handoff_id: int, status: str, outcome: str | None = None, last_seq: int | None = None) -> None:
        """Close (with an outcome) or return: the assistant answers the conversation again."""
        with self.sessions.begin() as session:
            handoff = session.get(Handoff, handoff_id)
            handoff.status, handoff.outcome, handoff.closed_at = status, outcome, self.clock()
            handoff.last_seq = last_seq
            session.get(Conversation, handoff.conversation_id).owner = "assistant"
        self.publish(handoff.municipality, status, handoff.conversation_id)

    # -- honest waiting times -----------------------------------------------------------------------

    def waiting(self, municipality: str, language: str, crisis: bool) -> list[Notice]:
        hours = self.office_hours.get(municipality)
        now = self.clock()
        until = hours.open_until(now) if hours and hours.weekly is not None else None
        opening = hours.next_opening(now) if hours and hours.weekly is not None and until is None else None
        if until is not None and hours.expected_wait_minutes:
            told = [self.say("handoff_wait_expected", language, minutes=str(hours.expected_wait_minutes))]
        elif until is not None:
            spoken = self.spoken("handoff_wait_open", language)
            told = [self.say("handoff_wait_open", spoken, closes=self.clock_time(until, spoken))]
        elif opening is not None:
            spoken = self.spoken("handoff_wait_closed", language)
            told = [self.say("handoff_wait_closed", spoken, when=self.when(opening, now.astimezone(hours.zone), spoken))]
        else:
            told = [self.say("handoff_wait_unknown", language)]
        if crisis and until is None:
            told.append(self.say("handoff_crisis_numbers", language))
        return told

    def when(self, opening: datetime, now: datetime, language: str) -> str:
        at = self.clock_time(opening, language)
        days = (opening.date() - now.date()).days
        if days == 0:
            return self.message("when_today", language, time=at)
        if days == 1:
            return self.message("when_tomorrow", language, time=at)
        weekday = self.message(f"weekday_{WEEKDAYS[opening.weekday()]}", language)
        return self.message("when_weekday", language, weekday=weekday, time=at)

    def clock_time(self, moment: datetime, language: str) -> str:
        return self.message("time_of_day", language, hh=f"{moment.hour:02d}", mm=f"{moment.minute:02d}")

    # -- storage ----------------------------------------------------------------------------------

    @staticmethod
    def find_open(session: Session, conversation_id: str) -> Handoff | None:
        query = select(Handoff).where(Handoff.conversation_id == conversation_id, Handoff.status.in_(OPEN))
        return session.scalars(query.order_by(Handoff.id.desc())).first()

    def open_handoff(self, conversation_id: str) -> Handoff | None:
        with self.sessions() as session:
            return self.find_open(session, conversation_id)

    def update(self, conversation: Conversation, **values: Any) -> None:
        with self.sessions.begin() as session:
            stored = session.get(Conversation, conversation.id)
            for name, value in values.items():
                setattr(stored, name, value)
                setattr(conversation, name, value)

    def publish(self, municipality: str, kind: str, conversation_id: str, **extra: Any) -> None:
        self.events.publish(f"console:{municipality}", {"type": kind, "conversation": conversation_id, **extra})

    def say(self, key: str, language: str, buttons: list[dict[str, str]] | None = None, **values: str) -> Notice:
        spoken = self.spoken(key, language)
        return Notice(key, self.kb.message(key, spoken, **values), buttons or [], spoken)

    def message(self, key: str, language: str, **values: str) -> str:
        return self.kb.message(key, self.spoken(key, language), **values)

    def spoken(self, key: str, language: str) -> str:
        """The language a message key is curated in: the person's, else English."""
        return language if key in self.kb.messages.get(language, {}) else "en"
