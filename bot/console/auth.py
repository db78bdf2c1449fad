"""Console sign-in: argon2 password hashes (argon2-cffi), lockout after repeated failures,
server-side sessions whose cookie token is stored only as a hash, and a CSRF token per session.

Used by the console's routes and by `bin/velkommen user add`.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Iterable

import yaml
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from sqlalchemy import delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.console.models import ConsoleSession, ConsoleUser
from bot.handoff.desk import as_utc

ROLES = ("caseworker", "admin")
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
HASHER = PasswordHasher()


@dataclass(frozen=True)
class SecurityPolicy:
    lockout_after_failures: int
    lockout_minutes: int
    session_idle_minutes: int
    session_max_hours: int
    password_min_length: int

    @classmethod
    def from_file(cls, path: Path) -> "SecurityPolicy":
        return cls(**yaml.safe_load(path.read_text(encoding="utf-8")))


class UserError(ValueError):
    """A user could not be created; `code` names the problem (a UI string key)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@cache
def unknown_user_hash() -> str:
    """Verified against when the username is unknown, so failures take the same time either way."""
    return HASHER.hash(secrets.token_urlsafe(16))


def create_user(
    sessions: sessionmaker[Session], policy: SecurityPolicy, municipalities: Iterable[str], *,
    username: str, display_name: str, password: str, role: str, municipality: str,
) -> ConsoleUser:
    username = username.strip().lower()
    if not USERNAME.match(username):
        raise UserError("bad_username")
    if role not in ROLES:
        raise UserError("bad_role")
    if municipality not in municipalities:
        raise UserError("bad_municipality")
    if len(password) < policy.password_min_length:
        raise UserError("short_password")
    user = ConsoleUser(username=username, display_name=display_name.strip() or username, role=role,
                       municipality=municipality, password_hash=HASHER.hash(password))
    try:
        with sessions.begin() as session:
            session.add(user)
    except IntegrityError as error:
        raise UserError("username_taken") from error
    return user


def authenticate(sessions: sessionmaker[Session], policy: SecurityPolicy, username: str, password: str,
                 now: datetime) -> tuple[ConsoleUser | None, ConsoleUser | None]:
    """(the signed-in user or None, the account the attempt was for, if it exists)."""
    with sessions.begin() as session:
        user = session.scalars(select(ConsoleUser).where(ConsoleUser.username == username.strip().lower())).first()
        if user is None or not user.active:
            verify(unknown_user_hash(), password)
            return None, user
        if user.locked_until is not None and as_utc(user.locked_until) > now:
            return None, user
        if not verify(user.password_hash, password):
            user.failed_logins += 1
            if user.failed_logins >= policy.lockout_after_failures:
                user.locked_until, user.failed_logins = now + timedelta(minutes=policy.lockout_minutes), 0
            return None, user
        user.failed_logins, user.locked_until = 0, None
        if HASHER.check_needs_rehash(user.password_hash):
            user.password_hash = HASHER.hash(password)
        return user, user


def verify(password_hash: str, password: str) -> bool:
    try:
        return HASHER.verify(password_hash, password)
    except (VerifyMismatchError, InvalidHashError):
        return False


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token(token: str) -> str:
    """Derived from the session token, so nothing more is stored; useless without the cookie."""
    return hmac.new(token.encode(), b"velkommen-console-csrf", hashlib.sha256).hexdigest()


def csrf_valid(token: str, supplied: str | None) -> bool:
    return bool(supplied) and hmac.compare_digest(csrf_token(token), supplied or "")


def start_session(sessions: sessionmaker[Session], policy: SecurityPolicy, user_id: int | None, now: datetime) -> str:
    """A new session (anonymous before login, so the login form has a CSRF token too); ends expired ones."""
    token = secrets.token_urlsafe(32)
    with sessions.begin() as session:
        session.execute(delete(ConsoleSession).where(or_(
            ConsoleSession.last_seen < now - timedelta(minutes=policy.session_idle_minutes),
            ConsoleSession.created_at < now - timedelta(hours=policy.session_max_hours))))
        session.add(ConsoleSession(token_hash=token_hash(token), user_id=user_id, created_at=now, last_seen=now))
    return token


def find_session(sessions: sessionmaker[Session], policy: SecurityPolicy, token: str | None,
                 now: datetime) -> tuple[ConsoleSession, ConsoleUser | None] | None:
    if not token:
        return None
    with sessions.begin() as session:
        found = session.get(ConsoleSession, token_hash(token))
        if found is None:
            return None
        idle = now - as_utc(found.last_seen) > timedelta(minutes=policy.session_idle_minutes)
        old = now - as_utc(found.created_at) > timedelta(hours=policy.session_max_hours)
        user = session.get(ConsoleUser, found.user_id) if found.user_id is not None else None
        if idle or old or (found.user_id is not None and (user is None or not user.active)):
            session.delete(found)
            return None
        found.last_seen = now
        return found, user


def end_session(sessions: sessionmaker[Session], token: str | None) -> None:
    if token:
        with sessions.begin() as session:
            session.execute(delete(ConsoleSession).where(ConsoleSession.token_hash == token_hash(token)))
