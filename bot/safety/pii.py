"""Removes personal identifiers (CPR numbers, phone numbers, e-mail addresses) from user text.

The pipeline's first step runs `PersonalDataRedactor.redact_message` on every raw message, so
nothing after it (the store, logs, translation, Rasa, a caseworker's screen) ever sees them.

* CPR: DDMMYY then four digits, with nothing, dashes, spaces or dots between the groups, in
  any decimal digits (Arabic-Indic and full-width as well as ASCII). The day may be 01–31
  or a replacement number's 61–91; the month 01–12. The modulus-11 check is deliberately not
  applied: numbers issued since 2007 need not pass it.
* Phone: +/00 and a country code followed by 6–14 digits in any grouping; Danish numbers of
  eight digits written solid or as 2-2-2-2, 4-4 or 2-3-3 (optionally after +45 or 0045).
* E-mail: anything shaped local@domain.tld.

Identifiers split by markup or invisible characters ("010190<b></b>1234") are caught too:
`redact_message` also redacts the message as the cleaning step will see it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from bot.safety.input_clean import clean_input

_GAP = r"[ \u00a0.\-\u2010-\u2015]*"  # dash, space, dot (and their look-alikes), any number of them
CPR = re.compile(rf"(?<![\d+])(\d{{2}}){_GAP}(\d{{2}}){_GAP}(\d{{2}}){_GAP}(\d{{4}})(?!\d)")
EMAIL = re.compile(r"[\w.+%-]+@[\w-]+(?:\.[\w-]+)+")
_SEP = r"[ \u00a0.\-]"
INTERNATIONAL_PHONE = re.compile(rf"(?<![\w+])(?:\+|00){_SEP}?\(?\d{{1,3}}\)?(?:{_SEP}?\(?\d+\)?)+")
DANISH_PHONE = re.compile(
    rf"(?<![\d+])(?:\d{{8}}|\d{{4}}{_SEP}\d{{4}}|\d{{2}}(?:{_SEP}\d{{2}}){{3}}|\d{{2}}{_SEP}\d{{3}}{_SEP}\d{{3}})(?!\d)"
)


def _is_cpr(match: re.Match[str]) -> bool:
    day, month = int(match.group(1)), int(match.group(2))
    return (1 <= day <= 31 or 61 <= day <= 91) and 1 <= month <= 12


def _digit_count(text: str) -> int:
    return sum(c.isdecimal() for c in text)


@dataclass(frozen=True)
class Redaction:
    text: str
    kinds: frozenset[str]  # which kinds of identifier were removed: cpr, phone, email


@dataclass(frozen=True)
class PersonalDataRedactor:
    placeholders: dict[str, str]

    @classmethod
    def from_file(cls, path: Path) -> "PersonalDataRedactor":
        return cls(yaml.safe_load(path.read_text(encoding="utf-8"))["placeholders"])

    def redact(self, text: str) -> Redaction:
        found: set[str] = set()

        def replace(kind: str, accept=lambda match: True):
            def replacement(match: re.Match[str]) -> str:
                if not accept(match):
                    return match.group()
                found.add(kind)
                return self.placeholders[kind]
            return replacement

        text = EMAIL.sub(replace("email"), text)
        text = CPR.sub(replace("cpr", _is_cpr), text)
        text = INTERNATIONAL_PHONE.sub(replace("phone", lambda m: 7 <= _digit_count(m.group()) <= 15), text)
        text = DANISH_PHONE.sub(replace("phone"), text)
        return Redaction(text, frozenset(found))

    def redact_message(self, raw: str) -> Redaction:
        """Redacts the raw text; if cleaning would reveal an identifier hidden by markup or
        invisible characters, the cleaned, redacted text replaces it."""
        first = self.redact(raw)
        if not first.text:
            return first
        hidden = self.redact(clean_input(first.text, max(1, len(first.text))).text)
        if hidden.kinds:
            return Redaction(hidden.text, first.kinds | hidden.kinds)
        return first
