"""The caseworker console through the real gateway: sign-in (argon2, hashed session tokens, CSRF,
lockout), roles scoped to one municipality, replies that reach the person in their language
through the one outbound path, assignment, notes, closing and returning, export, failed
deliveries, and the append-only audit log (refused by the database itself)."""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DatabaseError

from actions.knowledge import Knowledge
from bot.console.auth import create_user
from bot.console.models import AuditEntry, ConsoleSession, ConsoleUser, Note
from bot.handoff.desk import Handoff
from bot.settings import ROOT
from bot.store.models import Conversation, Message
from tests.gateway.conftest import say, start

KB = Knowledge.load()
PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def add_user(client, username: str, municipality: str, role: str = "caseworker") -> ConsoleUser:
    console = client.app.state.console
    return create_user(console.sessions, console.policy, KB.municipalities, username=username, display_name=username.title(),
                       password=PASSWORD, role=role, municipality=municipality)


def login(client, username: str, password: str = PASSWORD):
    form = client.get("/console/login")
    return client.post("/console/login", data={"username": username, "password": password,
                                               "csrf": CSRF.search(form.text).group(1)}, follow_redirects=False)


def signed_in(client, username: str, municipality: str, role: str = "caseworker") -> str:
    """Signs in a new user; returns the CSRF token of the session."""
    add_user(client, username, municipality, role)
    assert login(client, username).status_code == 303
    return CSRF.search(client.get("/console/").text).group(1)


def handed_over(client, municipality: str, text: str = "") -> str:
    conversation = start(client, municipality)
    if text:
        say(client, conversation, text)
    say(client, conversation, "", choice="consent:yes")
    return conversation


def rows(client, model, *where):
    with client.app.state.pipeline.sessions() as session:
        return list(session.scalars(select(model).where(*where)))


def handoff(client, conversation: str) -> Handoff:
    return rows(client, Handoff, Handoff.conversation_id == conversation)[-1]


def audit(client, conversation: str | None = None) -> list[AuditEntry]:
    return rows(client, AuditEntry, *([AuditEntry.conversation_id == conversation] if conversation else []))


def post(client, path: str, **data):
    return client.post(path, data=data, follow_redirects=False)


# -- signing in -------------------------------------------------------------------------------------

def test_login_uses_a_strict_httponly_cookie_whose_token_is_stored_only_as_a_hash(client_without_rasa):
    client = client_without_rasa
    add_user(client, "mette", "faxe")
    response = login(client, "mette")
    assert response.status_code == 303 and response.headers["location"] == "/console/"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower() and "Path=/console" in cookie
    token = client.cookies.get("velkommen_console")
    stored = rows(client, ConsoleSession, ConsoleSession.user_id.is_not(None))
    assert [s.token_hash for s in stored] == [hashlib.sha256(token.encode()).hexdigest()]
    assert rows(client, ConsoleUser)[0].password_hash.startswith("$argon2id$")
    with client.app.state.pipeline.sessions() as session:
        dump = "\n".join(session.connection().connection.iterdump())
    assert token not in dump and PASSWORD not in dump
    assert client.get("/console/").status_code == 200


def test_login_without_or_with_a_wrong_csrf_token_fails(client_without_rasa):
    client = client_without_rasa
    add_user(client, "mette", "faxe")
    client.get("/console/login")
    for data in ({"username": "mette", "password": PASSWORD},
                 {"username": "mette", "password": PASSWORD, "csrf": "forged"}):
        assert client.post("/console/login", data=data, follow_redirects=False).status_code == 403
    assert rows(client, ConsoleSession, ConsoleSession.user_id.is_not(None)) == []
    client.cookies.clear()
    token_less = client.post("/console/login", data={"username": "mette", "password": PASSWORD, "csrf": "x"},
                             follow_redirects=False)
    assert token_less.status_code == 403


def test_repeated_failures_lock_the_account_for_a_while(client_without_rasa):
    client = client_without_rasa
    desk = client.app.state.pipeline.handoffs
    now = desk.clock()
    desk.clock = lambda: now
    add_user(client, "mette", "faxe")
    for _ in range(5):
        assert login(client, "mette", "wrong password!").status_code == 401
    assert login(client, "mette").status_code == 401  # locked: even the right password fails
    assert [e.action for e in audit(client)].count("login_failed") == 6
    desk.clock = lambda: now + timedelta(minutes=16)
    assert login(client, "mette").status_code == 303


def test_unauthenticated_requests_are_redirected_or_refused(client_without_rasa):
    client = client_without_rasa
    conversation = handed_over(client, "slagelse")
    before = len(client.app.state.pipeline.messages(conversation))
    for path in ("/console/", f"/console/conversations/{conversation}", f"/console/conversations/{conversation}/export",
                 "/console/admin/users", "/console/admin/audit"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/console/login", path
    for path in ("/console/queue", "/console/events", f"/console/conversations/{conversation}/transcript"):
        assert client.get(path).status_code == 401, path
    for action in ("reply", "note", "assign", "close", "return"):
        response = post(client, f"/console/conversations/{conversation}/{action}", text="Hej", outcome="answered", csrf="x")
        assert response.status_code == 303 and response.headers["location"] == "/console/login"
    assert len(client.app.state.pipeline.messages(conversation)) == before
    assert handoff(client, conversation).status == "waiting" and audit(client, conversation) == []


# -- roles and municipalities --------------------------------------------------------------------------

def test_a_faxe_caseworker_cannot_see_or_act_on_a_slagelse_conversation(client_without_rasa):
    client = client_without_rasa
    slagelse = handed_over(client, "slagelse")
    faxe = handed_over(client, "faxe")
    csrf = signed_in(client, "mette", "faxe")
    queue = client.get("/console/").text
    assert faxe in queue and slagelse not in queue
    for path in (f"/console/conversations/{slagelse}", f"/console/conversations/{slagelse}/transcript",
                 f"/console/conversations/{slagelse}/export"):
        assert client.get(path).status_code == 404, path
    before = len(client.app.state.pipeline.messages(slagelse))
    for action in ("reply", "note", "assign", "close", "return"):
        response = post(client, f"/console/conversations/{slagelse}/{action}", text="Hej", outcome="answered", csrf=csrf)
        assert response.status_code == 404, action
    assert len(client.app.state.pipeline.messages(slagelse)) == before
    assert handoff(client, slagelse).status == "waiting" and handoff(client, slagelse).assigned_to is None
    assert rows(client, Note) == [] and audit(client, slagelse) == []
    assert client.get(f"/console/conversations/{faxe}").status_code == 200  # its own municipality's: yes


def test_only_admins_manage_users_and_read_the_audit_log(client_without_rasa):
    client = client_without_rasa
    csrf = signed_in(client, "mette", "faxe")
    assert client.get("/console/admin/users").status_code == 403
    assert client.get("/console/admin/audit").status_code == 403
    refused = post(client, "/console/admin/users", username="sneaky", display_name="S", role="admin",
                   password=PASSWORD, csrf=csrf)
    assert refused.status_code == 403 and not rows(client, ConsoleUser, ConsoleUser.username == "sneaky")

    client.cookies.clear()
    csrf = signed_in(client, "anne", "faxe", role="admin")
    assert post(client, "/console/admin/users", username="jonas", display_name="Jonas", role="caseworker",
                password=PASSWORD).status_code == 403  # no CSRF token
    created = post(client, "/console/admin/users", username="jonas", display_name="Jonas", role="caseworker",
                   password=PASSWORD, csrf=csrf)
    assert created.status_code == 303
    [jonas] = rows(client, ConsoleUser, ConsoleUser.username == "jonas")
    assert (jonas.role, jonas.municipality) == ("caseworker", "faxe")  # the admin's own municipality
    too_short = post(client, "/console/admin/users", username="kim", display_name="Kim", role="caseworker",
                     password="short", csrf=csrf)
    assert too_short.status_code == 422 and not rows(client, ConsoleUser, ConsoleUser.username == "kim")
    page = client.get("/console/admin/audit")
    assert page.status_code == 200 and "Oprettede bruger" in page.text
    assert [e.action for e in audit(client)][-2:] == ["user_created", "audit_read"]


def test_bin_velkommen_user_add_creates_a_hashed_user(tmp_path):
    env = os.environ | {"VELKOMMEN_DATABASE_URL": f"sqlite:///{tmp_path / 'users.db'}", "VELKOMMEN_HOME": str(tmp_path)}
    command = [sys.executable, "-m", "bot.cli", "user", "add", "anne", "--municipality", "nyborg", "--role", "admin",
               "--name", "Anne Admin", "--password-stdin"]
    done = subprocess.run(command, input=PASSWORD + "\n", capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"created": "anne", "role": "admin", "municipality": "nyborg"}
    again = subprocess.run(command, input=PASSWORD + "\n", capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert again.returncode == 1 and "username_taken" in again.stderr
    bad = subprocess.run([*command[:5], "bo.jensen", "--municipality", "aarhus", "--password-stdin"], input=PASSWORD + "\n",
                         capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert bad.returncode == 1 and "bad_municipality" in bad.stderr


# -- working on a conversation ---------------------------------------------------------------------------

def test_view_reply_assign_note_export_close_are_audited_and_the_reply_reaches_the_user(client_without_rasa):
    client = client_without_rasa
    conversation = handed_over(client, "slagelse")
    say(client, conversation, "my residence card expired, what do I do?")
    csrf = signed_in(client, "mette", "slagelse")
    [mette] = rows(client, ConsoleUser, ConsoleUser.username == "mette")

    view = client.get(f"/console/conversations/{conversation}")
    assert view.status_code == 200
    assert view.text.count("my residence card expired, what do I do?") == 2  # the original, and as is in the Danish column
    assert "Ikke oversat" in view.text and "engelsk" in view.text

    danish = "Hej. Jeg ser på dit opholdskort og skriver igen i morgen."
    assert post(client, f"/console/conversations/{conversation}/reply", text=danish, csrf=csrf).headers["location"].endswith("done=reply")
    received = client.get(f"/api/conversations/{conversation}/messages").json()["messages"][-1]
    assert received["text"] == f"{danish}\n\n{KB.message('caseworker_untranslated', 'en')}"
    [sent] = rows(client, Message, Message.conversation_id == conversation, Message.role == "caseworker")
    assert (sent.original_text, sent.language, sent.translated, sent.status) == (danish, "en", "none", "done")

    post(client, f"/console/conversations/{conversation}/assign", assignee=str(mette.id), csrf=csrf)
    assert (handoff(client, conversation).status, handoff(client, conversation).assigned_to) == ("assigned", mette.id)
    post(client, f"/console/conversations/{conversation}/note", text="Ring torsdag.", csrf=csrf)
    assert "Ring torsdag." in client.get(f"/console/conversations/{conversation}").text
    exported = client.get(f"/console/conversations/{conversation}/export")
    assert "attachment" in exported.headers["content-disposition"]
    assert exported.json()["messages"][-1]["sent_text"] == received["text"]
    assert post(client, f"/console/conversations/{conversation}/close", outcome="nonsense", csrf=csrf).headers["location"].endswith("error=bad_outcome")
    post(client, f"/console/conversations/{conversation}/close", outcome="answered", csrf=csrf)

    record = handoff(client, conversation)
    assert (record.status, record.outcome) == ("closed", "answered")
    assert client.app.state.pipeline.conversation(conversation).owner == "assistant"
    told = client.get(f"/api/conversations/{conversation}/messages").json()["messages"][-1]
    assert told["text"] == KB.message("handoff_closed", "en")
    entries = audit(client, conversation)
    assert [e.action for e in entries if e.action != "view"] == ["reply", "assign", "note", "export", "close"]
    assert "view" in [e.action for e in entries]
    assert all(e.actor == "mette" and e.municipality == "slagelse" and e.at is not None for e in entries)
    for action, form in [("reply", {"text": "Hej igen"}), ("note", {"text": "Ring igen."}), ("assign", {"assignee": str(mette.id)}),
                         ("close", {"outcome": "answered"}), ("return", {})]:
        refused = post(client, f"/console/conversations/{conversation}/{action}", **form, csrf=csrf)
        assert refused.headers["location"] == f"/console/conversations/{conversation}?error=not_open", action
    assert [e.action for e in audit(client, conversation) if e.action != "view"] == ["reply", "assign", "note", "export", "close"]


def test_the_audit_log_refuses_update_and_delete_in_the_database(client_without_rasa):
    client = client_without_rasa
    signed_in(client, "mette", "faxe")
    engine = client.app.state.pipeline.sessions.kw["bind"]
    with engine.connect() as connection:
        count = connection.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
    assert count >= 1
    for statement in ("UPDATE audit_log SET actor = 'someone else'", "DELETE FROM audit_log"):
        with pytest.raises(DatabaseError, match="append-only"), engine.begin() as connection:
            connection.execute(text(statement))
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(AuditEntry)).scalar_one() == count
        assert connection.execute(select(AuditEntry.actor)).scalars().all() == ["mette"] * count


def test_danish_users_get_the_reply_as_written_and_curated_phrases_are_used(client_without_rasa):
    client = client_without_rasa
    danish_user = client.post("/api/conversations", json={"municipality": "faxe", "language": "da"}).json()["id"]
    say(client, danish_user, "", choice="consent:yes")
    english_user = handed_over(client, "faxe")
    csrf = signed_in(client, "mette", "faxe")
    post(client, f"/console/conversations/{danish_user}/reply", text="Vi ringer i morgen.", csrf=csrf)
    assert client.get(f"/api/conversations/{danish_user}/messages").json()["messages"][-1]["text"] == "Vi ringer i morgen."
    phrases = client.app.state.console.phrases
    post(client, f"/console/conversations/{english_user}/reply", phrase="call_tomorrow", csrf=csrf)
    assert client.get(f"/api/conversations/{english_user}/messages").json()["messages"][-1]["text"] == phrases["call_tomorrow"]["en"]
    post(client, f"/console/conversations/{english_user}/reply", text=phrases["interpreter"]["da"], csrf=csrf)
    assert client.get(f"/api/conversations/{english_user}/messages").json()["messages"][-1]["text"] == phrases["interpreter"]["en"]
    assert [m.translated for m in rows(client, Message, Message.role == "caseworker")] == ["none", "curated", "curated"]
    assert post(client, f"/console/conversations/{english_user}/reply", text="  ", csrf=csrf).headers["location"].endswith("error=empty_reply")


class Shouting:
    """A stand-in machine translator (the real packages are the multilingual issue's): its output
    differs from its input, which is all the console needs to tell a translation from none."""

    def can_translate(self, source: str, target: str) -> bool:
        return True

    def translate(self, text: str, source: str, target: str) -> str:
        return text if source == target else f"[{source}>{target}] {text.upper()}"


def test_with_a_translator_the_user_sees_the_translation_and_the_caseworker_a_flagged_danish(client_without_rasa):
    client = client_without_rasa
    conversation = handed_over(client, "nyborg")
    say(client, conversation, "where is my caseworker office?")
    csrf = signed_in(client, "mette", "nyborg")
    client.app.state.pipeline.translator = Shouting()
    view = client.get(f"/console/conversations/{conversation}").text
    assert "[en&gt;da] WHERE IS MY CASEWORKER OFFICE?" in view and "Maskinoversat" in view
    post(client, f"/console/conversations/{conversation}/reply", text="Kontoret ligger på Torvet.", csrf=csrf)
    received = client.get(f"/api/conversations/{conversation}/messages").json()["messages"][-1]
    assert received["text"] == "[da>en] KONTORET LIGGER PÅ TORVET."
    assert rows(client, Message, Message.role == "caseworker")[0].translated == "mt"


def test_a_failed_delivery_is_kept_and_shown(client_without_rasa):
    client = client_without_rasa

    async def broken(conversation, messages):
        raise ConnectionError("provider unreachable")

    conversation = handed_over(client, "faxe")
    csrf = signed_in(client, "mette", "faxe")
    client.app.state.delivery.register("web", broken)  # say, a provider outage from now on
    response = post(client, f"/console/conversations/{conversation}/reply", text="Hej", csrf=csrf)
    assert response.headers["location"].endswith("done=reply_failed")
    [message] = rows(client, Message, Message.role == "caseworker")
    assert message.status == "failed" and "provider unreachable" in message.details["delivery_error"]
    assert "Levering mislykkedes" in client.get(f"/console/conversations/{conversation}").text
    assert "1 ikke leveret" in client.get("/console/queue").text


def test_new_handoffs_and_messages_are_announced_on_the_municipality_topic(client_without_rasa):
    client = client_without_rasa
    published: list[tuple[str, dict]] = []
    bus = client.app.state.events
    original = bus.publish
    bus.publish = lambda topic, event: (published.append((topic, event)), original(topic, event))
    conversation = handed_over(client, "frederikshavn")
    say(client, conversation, "hello, are you there?")
    csrf = signed_in(client, "mette", "frederikshavn")
    post(client, f"/console/conversations/{conversation}/reply", text="Ja, jeg er her.", csrf=csrf)
    kinds = [event["type"] for topic, event in published if topic == "console:frederikshavn"]
    assert kinds == ["handoff", "message", "sent"]
    assert all(event["conversation"] == conversation for topic, event in published if topic.startswith("console:"))


def test_returning_hands_the_conversation_back_to_the_assistant(client):
    conversation = handed_over(client, "slagelse", "I want to talk to a real person")
    csrf = signed_in(client, "mette", "slagelse")
    assert say(client, conversation, "where can I learn danish?")["replies"] == []
    post(client, f"/console/conversations/{conversation}/return", csrf=csrf)
    assert handoff(client, conversation).status == "returned"
    told = client.get(f"/api/conversations/{conversation}/messages").json()["messages"][-1]
    assert told["text"] == KB.message("handoff_returned", "en")
    answered = say(client, conversation, "how do I find a doctor?")
    assert answered["topic"] == "health" and answered["replies"][0]["sources"][0]["municipality"] in ("slagelse", "national")
    assert [e.action for e in audit(client, conversation)][-1] == "return"
    page = client.get(f"/console/conversations/{conversation}").text
    assert "where can I learn danish?" in page and "how do I find a doctor?" not in page  # not shared after the return
    assert rows(client, Conversation, Conversation.id == conversation)[0].owner == "assistant"
