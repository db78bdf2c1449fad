"""No CPR number, in any shape, reaches a store or a log: property-based (hypothesis) through the
real gateway and Rasa; checked in the gateway DB, Rasa's tracker DB, rasa.log, actions.log and
the gateway's captured logs. Phone numbers and e-mail addresses go too, and the user is told."""
from __future__ import annotations

import logging
import re
import sqlite3
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actions.knowledge import Knowledge
from bot.safety.pii import PersonalDataRedactor
from bot.settings import ROOT
from tests.gateway.conftest import say, start

KB = Knowledge.load()
REDACTOR = PersonalDataRedactor.from_file(ROOT / "data/safety/pii.yml")
DIGITS = {"ascii": "0123456789", "arabic-indic": "٠١٢٣٤٥٦٧٨٩", "full-width": "０１２３４５６７８９"}


@st.composite
def cpr_numbers(draw) -> tuple[str, str]:
    """(how the user writes it, its ten ASCII digits): normal and replacement (61–91) days, any
    serial (so many fail modulus 11), any separators, other digit scripts, hidden markup."""
    day = draw(st.one_of(st.integers(1, 31), st.integers(61, 91)))
    plain = f"{day:02d}{draw(st.integers(1, 12)):02d}{draw(st.integers(0, 99)):02d}{draw(st.integers(0, 9999)):04d}"
    date_gap = draw(st.sampled_from(["", "", ".", " ", "-"]))
    gap = draw(st.sampled_from(["", "-", " ", ".", " - ", "–", "  ", "\u200b", "<b></b>", "&#45;", "-\u00ad"]))
    digits = DIGITS[draw(st.sampled_from(sorted(DIGITS)))]
    written = "".join(digits[int(d)] for d in plain)
    shaped = date_gap.join([written[0:2], written[2:4], written[4:6]]) + gap + written[6:]
    return shaped, plain


CONTEXTS = st.sampled_from([
    "{}", "my CPR is {}", "mit cpr-nummer er {} hvor kan jeg lære dansk?", "cpr: {}.", "I am {} and need a doctor",
    "({})", "personnummer {}, tak",
])


def leaks(plain: str, text: str) -> bool:
    """Whether the ten digits appear in order, whatever (up to 12 non-digits) lies between them."""
    ascii_digits = "".join(str(unicodedata.digit(c)) if c.isdecimal() else c for c in text)
    return re.search(r"\D{0,12}".join(plain), ascii_digits) is not None


def dump_sqlite(path: Path) -> str:
    with sqlite3.connect(path) as db:
        tables = [name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return "\n".join(repr(row) for table in tables for row in db.execute(f'SELECT * FROM "{table}"'))


def everything_kept(client, stack, caplog) -> dict[str, str]:
    gateway_db = Path(client.app.state.settings.database_url.removeprefix("sqlite:///"))
    return {
        "gateway DB": dump_sqlite(gateway_db),
        "Rasa tracker DB": dump_sqlite(stack.home / "rasa_tracker.db"),
        "rasa.log": (stack.home / "rasa.log").read_text(errors="replace"),
        "actions.log": (stack.home / "actions.log").read_text(errors="replace"),
        "gateway log": caplog.text,
    }


@given(number=cpr_numbers())
def test_the_redactor_removes_every_shape_of_cpr_number(number):
    shaped, plain = number
    redaction = REDACTOR.redact_message(f"my cpr is {shaped} thanks")
    assert not leaks(plain, redaction.text), redaction.text
    assert "cpr" in redaction.kinds


@pytest.mark.parametrize("text", [
    "0101901234",         # fails modulus 11
    "010190-1235", "010190 1235", "010190.1235", "01.01.90-1235",
    "610190-1234", "910190-1234",  # replacement numbers (day + 60)
])
def test_cpr_examples(text):
    assert REDACTOR.redact(text).text == "[CPR removed]"


@pytest.mark.parametrize("text, kind", [
    ("ring 12 34 56 78", "phone"), ("tlf 12345678", "phone"), ("1234 5678", "phone"), ("70 201 201", "phone"),
    ("+45 12 34 56 78", "phone"), ("0045 12345678", "phone"), ("+44 20 7946 0958", "phone"),
    ("+49 (30) 1234567", "phone"), ("amira.h+x@example.dk", "email"), ("a_b@mail.co.uk", "email"),
])
def test_phone_numbers_and_email_addresses_are_removed(text, kind):
    redaction = REDACTOR.redact(text)
    assert redaction.kinds == {kind}
    assert not re.search(r"\d{3}|@", redaction.text), redaction.text


@pytest.mark.parametrize("text", ["call 112 or 1888", "I arrived 15.01.2024", "meeting 2024-01-15 at 10.30",
                                  "room 320190-12 floor 2", "919912-0000"])
def test_ordinary_numbers_are_kept(text):
    assert REDACTOR.redact(text).text == text


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(number=cpr_numbers(), context=CONTEXTS)
def test_no_cpr_reaches_any_store_or_log_through_the_real_stack(client, stack, caplog, number, context):
    caplog.set_level(logging.DEBUG)
    shaped, plain = number
    conversation = start(client, "faxe")
    turn = say(client, conversation, context.format(shaped))
    told = KB.message("personal_data_removed", "en" if turn["language"] != "da" else "da")
    assert told in [reply["text"] for reply in turn["replies"]]
    history = client.get(f"/api/conversations/{conversation}/messages").json()["messages"]
    places = everything_kept(client, stack, caplog) | {"what the API shows": repr(history), "the reply": repr(turn)}
    leaked = [place for place, text in places.items() if leaks(plain, text)]
    assert not leaked, f"{shaped!r} reached {leaked}"


def test_the_user_is_told_in_their_language_and_phone_and_email_do_not_reach_rasa(client, stack):
    conversation = start(client, "slagelse")
    turn = say(client, conversation, "hej, mit nummer er 22 33 44 55 og min mail er fatima@example.dk, hvor kan jeg lære dansk?")
    assert turn["language"] == "da"
    assert turn["replies"][-1]["text"] == KB.message("personal_data_removed", "da")
    tracker = dump_sqlite(stack.home / "rasa_tracker.db")
    assert conversation in tracker
    assert "22 33 44 55" not in tracker and "fatima@example.dk" not in tracker
    assert "[phone number removed]" in tracker and "[e-mail removed]" in tracker
