"""Retention and data subjects' rights: erase and export one conversation everywhere it is kept
(the gateway's tables, Rasa's SQL tracker store, in-memory caches), and purge by age per data
class with the retention periods in config/privacy.yml (`retention_days`).

Tables are found by inspecting the live database: any table with a `conversation_id` column
belongs to a conversation, so tables other features add are covered without changes here. The
audit log is the exception: it is append-only (triggers refuse UPDATE and DELETE), outlives an
erased conversation as the record of who did what, holds no message text, and is purged by age
only, with its triggers lifted for that one transaction.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable

import yaml
from sqlalchemy import Engine, MetaData, Table, bindparam, create_engine, delete, func, inspect, or_, select, text
from sqlalchemy.orm import Session, sessionmaker

from bot.store.models import Conversation, Message

DATA_CLASSES = ("assistant_only", "handoff", "audit_log")
AUDIT_TABLE = "audit_log"


@dataclass(frozen=True)
class RetentionPolicy:
    days: dict[str, int]

    @classmethod
    def from_file(cls, path: Path) -> "RetentionPolicy":
        days = yaml.safe_load(path.read_text(encoding="utf-8"))["retention_days"]
        missing = set(DATA_CLASSES) - set(days)
        if missing:
            raise ValueError(f"{path}: retention_days lacks {sorted(missing)}")
        return cls({name: int(days[name]) for name in DATA_CLASSES})


def _tracker_engine(tracker_url: str | None) -> Engine | None:
    """Rasa's tracker store, if it exists yet (Rasa creates its `events` table on start)."""
    if not tracker_url:
        return None
    if tracker_url.startswith("sqlite:///") and not Path(tracker_url.removeprefix("sqlite:///")).exists():
        return None
    engine = create_engine(tracker_url)
    if not inspect(engine).has_table("events"):
        engine.dispose()
        return None
    return engine


def _conversation_tables(session: Session, with_audit_log: bool = False) -> list[str]:
    inspector = inspect(session.connection())
    skipped = {"conversations"} | (set() if with_audit_log else {AUDIT_TABLE})
    return [name for name in inspector.get_table_names()
            if name not in skipped and any(c["name"] == "conversation_id" for c in inspector.get_columns(name))]


def _erase_gateway(session: Session, conversation_ids: list[str]) -> int:
    for table in _conversation_tables(session):  # children first, whether or not their foreign key cascades
        session.execute(text(f'DELETE FROM "{table}" WHERE conversation_id IN :ids').bindparams(
            bindparam("ids", expanding=True)), {"ids": conversation_ids})
    return session.execute(delete(Conversation).where(Conversation.id.in_(conversation_ids))).rowcount


def _erase_tracker(tracker_url: str | None, conversation_ids: list[str]) -> int:
    engine = _tracker_engine(tracker_url)
    if engine is None:
        return 0
    try:
        with engine.begin() as connection:
            return connection.execute(text("DELETE FROM events WHERE sender_id IN :ids").bindparams(
                bindparam("ids", expanding=True)), {"ids": conversation_ids}).rowcount
    finally:
        engine.dispose()


def _forget(caches: Iterable[object], conversation_ids: list[str]) -> None:
    for cache in caches:
        hook = getattr(cache, "forget", None) or getattr(cache, "erase", None)
        if callable(hook):
            for conversation_id in conversation_ids:
                hook(conversation_id)


def erase(sessions: sessionmaker[Session], tracker_url: str | None, conversation_ids: list[str],
          caches: Iterable[object] = ()) -> dict[str, int]:
    """Deletes the conversations from every store; returns how many conversations and Rasa events went."""
    if not conversation_ids:
        return {"conversations": 0, "tracker_events": 0}
    with sessions.begin() as session:
        conversations = _erase_gateway(session, conversation_ids)
    events = _erase_tracker(tracker_url, conversation_ids)
    _forget(caches, conversation_ids)
    return {"conversations": conversations, "tracker_events": events}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return value.decode("utf-8", "replace")
    return value


def export(sessions: sessionmaker[Session], tracker_url: str | None, conversation_id: str) -> dict[str, Any]:
    """Everything stored about one conversation, as JSON-ready data (the right of access)."""
    with sessions() as session:
        conversation = session.execute(text("SELECT * FROM conversations WHERE id = :id"), {"id": conversation_id})
        row = conversation.mappings().one()
        tables = {}
        for table in _conversation_tables(session, with_audit_log=True):
            rows = session.execute(text(f'SELECT * FROM "{table}" WHERE conversation_id = :id'), {"id": conversation_id})
            tables[table] = [{k: _plain(v) for k, v in r.items()} for r in rows.mappings()]
    events: list[Any] = []
    engine = _tracker_engine(tracker_url)
    if engine is not None:
        try:
            with engine.connect() as connection:
                rows = connection.execute(text("SELECT data FROM events WHERE sender_id = :id ORDER BY id"),
                                          {"id": conversation_id})
                events = [json.loads(data) for (data,) in rows]
        finally:
            engine.dispose()
    return {"conversation": {k: _plain(v) for k, v in row.items()}, "tables": tables, "assistant_tracker_events": events}


def purge(sessions: sessionmaker[Session], tracker_url: str | None, policy: RetentionPolicy,
          now: datetime | None = None, caches: Iterable[object] = ()) -> dict[str, int]:
    """Deletes what is older than its data class allows; a conversation's age counts from its last message."""
    now = now or datetime.now(timezone.utc)
    last_activity = (
        select(Conversation.id, or_(Conversation.handoff, Conversation.owner != "assistant").label("handoff"),
               func.coalesce(func.max(Message.created_at), Conversation.created_at).label("last"))
        .outerjoin(Message, Message.conversation_id == Conversation.id)
        .group_by(Conversation.id)
        .subquery()
    )
    expired: dict[str, list[str]] = {}
    with sessions() as session:
        for data_class, handed_off in (("assistant_only", False), ("handoff", True)):
            cutoff = now - timedelta(days=policy.days[data_class])
            expired[data_class] = list(session.scalars(select(last_activity.c.id).where(
                last_activity.c.handoff == handed_off, last_activity.c.last < cutoff)))
    counts = {name: erase(sessions, tracker_url, ids, caches)["conversations"] for name, ids in expired.items()}
    counts["audit_log"] = _purge_audit_log(sessions, now - timedelta(days=policy.days["audit_log"]))
    return counts


def _purge_audit_log(sessions: sessionmaker[Session], cutoff: datetime) -> int:
    with sessions.begin() as session:
        connection = session.connection()
        if not inspect(connection).has_table(AUDIT_TABLE):
            return 0
        audit = Table(AUDIT_TABLE, MetaData(), autoload_with=connection)
        written = audit.c.at if "at" in audit.c else audit.c.created_at
        if connection.dialect.name == "sqlite":
            triggers = list(connection.execute(text(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :table"), {"table": AUDIT_TABLE}))
            for name, _ in triggers:
                connection.execute(text(f'DROP TRIGGER "{name}"'))
            purged = connection.execute(delete(audit).where(written < cutoff)).rowcount
            for _, sql in triggers:
                connection.execute(text(sql))
            return purged
        connection.execute(text(f'ALTER TABLE "{AUDIT_TABLE}" DISABLE TRIGGER USER'))
        purged = connection.execute(delete(audit).where(written < cutoff)).rowcount
        connection.execute(text(f'ALTER TABLE "{AUDIT_TABLE}" ENABLE TRIGGER USER'))
        return purged
