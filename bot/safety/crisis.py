"""Crisis detection, run on every user message before NLU.

The gateway calls :meth:`CrisisDetector.detect` on each cleaned message before Rasa sees it.
A match means the message is about danger to life (``danger``), violence at home
(``violence``) or suicide / self-harm (``suicide``). The gateway then sends the crisis reply
for that kind (the reply text lives in ``data/messages/<lang>.yml``) and skips NLU.

The phrase lists, the normalisation rules and the precedence between kinds are set in
``data/safety/crisis.yml``, and its header documents them. This module:

* normalises text the way that header describes (NFKC, casefold, no apostrophes, æ/ø/å
  folded both as ae/oe/aa and as ae/o/a, other diacritics stripped, punctuation reduced to
  word gaps and sentence marks);
* compiles every pattern once, in both fold forms;
* removes every ``not_crisis`` span (idioms, information questions) from the text, then tries
  the kinds in precedence order. Every language's patterns are tried on every message.

It holds no phrases and no replies.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import yaml

__all__ = ["CrisisMatch", "CrisisDetector", "normalise_variants", "DEFAULT_PRECEDENCE"]

DEFAULT_PRECEDENCE: tuple[str, ...] = ("danger", "violence", "suicide")

# ── normalisation ─────────────────────────────────────────────────────────────────────────

_APOSTROPHES = dict.fromkeys(map(ord, "'\u2019\u2018`\u00b4\u02bc\u2032"), None)
_FOLD_LONG = str.maketrans({"æ": "ae", "ø": "oe", "å": "aa", "Æ": "ae", "Ø": "oe", "Å": "aa"})
_FOLD_SHORT = str.maketrans({"æ": "ae", "ø": "o", "å": "a", "Æ": "ae", "Ø": "o", "Å": "a"})
_FOLDS = (_FOLD_LONG, _FOLD_SHORT)

# sentence ends (Latin, Arabic, Ethiopic, CJK, Devanagari) and line breaks
_SENTENCE_END = re.compile(
    r"[.!?;\n\r\u2026\u061f\u06d4\u0964\u1362\u1367\u1368\u3002\uff01\uff1f\u203c\u2047-\u2049\u00a1\u00bf]+"
)
_SENTENCE_MARK = " . "
_SPACES = re.compile(r" {2,}")
_VOCAB_REF = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
_LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$")


def _fold_letters(s: str, table: dict[int, str]) -> str:
    """Steps 2-4 of the header: drop apostrophes, fold æ/ø/å with *table*, strip other marks."""
    s = s.translate(_APOSTROPHES).translate(table)
    decomposed = unicodedata.normalize("NFKD", s)
    return unicodedata.normalize(
        "NFC", "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    )


def _tidy(s: str) -> str:
    """Keep only words and sentence marks, each separated by one space, with no mark at either end."""
    out: list[str] = []
    for token in s.split():
        if token == "." and (not out or out[-1] == "."):
            continue
        out.append(token)
    while out and out[-1] == ".":
        out.pop()
    return " ".join(out)


def _text_form(s: str, table: dict[int, str]) -> str:
    s = _fold_letters(unicodedata.normalize("NFKC", s).casefold(), table)
    s = _SENTENCE_END.sub(_SENTENCE_MARK, s)
    s = "".join(
        c if (c.isalnum() or c == "." or unicodedata.category(c)[0] == "M") else " " for c in s
    )
    return _tidy(s)


def normalise_variants(text: str) -> tuple[str, ...]:
    """The forms of *text* that patterns are matched against (one or two, without duplicates).

    >>> normalise_variants("Min mand SLÅR mig!!")
    ('min mand slaar mig', 'min mand slar mig')
    """
    forms: list[str] = []
    for table in _FOLDS:
        form = _text_form(text, table)
        if form not in forms:
            forms.append(form)
    return tuple(forms)


def _pattern_forms(pattern: str) -> tuple[str, ...]:
    forms: list[str] = []
    for table in _FOLDS:
        form = _fold_letters(unicodedata.normalize("NFKC", pattern), table)
        if form not in forms:
            forms.append(form)
    return tuple(forms)


# ── public types ──────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class CrisisMatch:
    """A message matched a crisis pattern.

    ``kind`` is danger, violence or suicide. ``language`` is the language key of the list the
    pattern is in (not necessarily the language the user wrote in). ``pattern`` is the pattern
    as written in crisis.yml.
    """

    kind: str
    language: str
    pattern: str


@dataclass(frozen=True)
class _Rule:
    kind: str
    language: str
    source: str
    regexes: tuple[re.Pattern[str], ...]


class CrisisDetector:
    """Finds crisis messages using the phrase lists in ``data/safety/crisis.yml``.

    The patterns are compiled once, when the detector is built. After that, :meth:`detect`
    only reads, so one detector can be shared between threads.
    """

    def __init__(self, data: Mapping[str, Any], *, source: str = "crisis data") -> None:
        self._source = source
        if not isinstance(data, Mapping):
            raise ValueError(f"{source}: top level must be a mapping")
        vocab = self._load_vocab(data.get("vocab") or {})
        kinds = data.get("kinds")
        if not isinstance(kinds, Mapping) or not kinds:
            raise ValueError(f"{source}: 'kinds' must be a non-empty mapping")
        precedence = tuple(data.get("precedence") or DEFAULT_PRECEDENCE)
        if sorted(precedence) != sorted(map(str, kinds)) or len(set(precedence)) != len(precedence):
            raise ValueError(
                f"{source}: 'precedence' {list(precedence)} must list each kind exactly once "
                f"(kinds: {sorted(map(str, kinds))})"
            )
        self.precedence: tuple[str, ...] = precedence

        rules: list[_Rule] = []
        languages: list[str] = []
        for kind in precedence:
            by_language = kinds[kind]
            if not isinstance(by_language, Mapping) or not by_language:
                raise ValueError(f"{source}: kinds.{kind} must map language codes to pattern lists")
            for language, patterns in by_language.items():
                where = f"kinds.{kind}.{language}"
                self._check_language(language, where)
                if language not in languages:
                    languages.append(language)
                for i, pattern in enumerate(self._pattern_list(patterns, where)):
                    regexes = self._compile(pattern, vocab, f"{where}[{i}]")
                    rules.append(_Rule(kind, language, pattern, regexes))
        self._rules: tuple[_Rule, ...] = tuple(rules)
        # One pass over a message finds whether any rule can match at all (most messages are not a
        # crisis); only then are the rules tried one by one, in precedence order.
        self._any_rule = re.compile("|".join(f"(?:{rx.pattern})" for rule in rules for rx in rule.regexes), re.IGNORECASE)

        exclusions: list[re.Pattern[str]] = []
        not_crisis = data.get("not_crisis") or {}
        if not isinstance(not_crisis, Mapping):
            raise ValueError(f"{source}: 'not_crisis' must map language codes to pattern lists")
        for language, patterns in not_crisis.items():
            where = f"not_crisis.{language}"
            self._check_language(language, where)
            for i, pattern in enumerate(self._pattern_list(patterns, where)):
                exclusions.extend(self._compile(pattern, vocab, f"{where}[{i}]"))
        self._exclusions: tuple[re.Pattern[str], ...] = tuple(exclusions)
        self.languages: tuple[str, ...] = tuple(languages)

    # ── construction helpers ──────────────────────────────────────────────────────────────

    @classmethod
    def from_file(cls, path: Path) -> "CrisisDetector":
        """Load and compile a crisis.yml file. Raises ValueError if the file is malformed."""
        path = Path(path)
        with path.open(encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
        return cls(data, source=str(path))

    def _load_vocab(self, raw: Any) -> dict[str, str]:
        if not isinstance(raw, Mapping):
            raise ValueError(f"{self._source}: 'vocab' must be a mapping of name -> regex fragment")
        vocab: dict[str, str] = {}
        for name, fragment in raw.items():
            if not isinstance(fragment, str) or _VOCAB_REF.search(fragment):
                raise ValueError(f"{self._source}: vocab.{name} must be a string without {{{{...}}}}")
            try:
                re.compile(fragment)
            except re.error as exc:
                raise ValueError(f"{self._source}: vocab.{name}: {exc}") from None
            vocab[str(name)] = fragment
        return vocab

    def _check_language(self, language: Any, where: str) -> None:
        if not isinstance(language, str) or not _LANGUAGE_CODE.match(language):
            raise ValueError(f"{self._source}: {where}: {language!r} is not a language code")

    def _pattern_list(self, patterns: Any, where: str) -> Sequence[str]:
        if not isinstance(patterns, list) or not all(isinstance(p, str) and p.strip() for p in patterns):
            raise ValueError(f"{self._source}: {where} must be a list of non-empty strings")
        return patterns

    def _compile(self, pattern: str, vocab: Mapping[str, str], where: str) -> tuple[re.Pattern[str], ...]:
        def expand(m: re.Match[str]) -> str:
            name = m.group(1)
            if name not in vocab:
                raise ValueError(f"{self._source}: {where}: unknown vocab {{{{{name}}}}}")
            return vocab[name]

        expanded = _VOCAB_REF.sub(expand, pattern)
        compiled: list[re.Pattern[str]] = []
        for form in _pattern_forms(expanded):
            try:
                rx = re.compile(form, re.IGNORECASE)
            except re.error as exc:
                raise ValueError(f"{self._source}: {where}: {exc} in {pattern!r}") from None
            if rx.search("") or rx.search(" "):
                raise ValueError(f"{self._source}: {where}: pattern matches empty text: {pattern!r}")
            compiled.append(rx)
        return tuple(compiled)

    # ── detection ─────────────────────────────────────────────────────────────────────────

    def _candidate_texts(self, text: str) -> tuple[str, ...]:
        forms: list[str] = []
        for form in normalise_variants(text):
            for rx in self._exclusions:
                form = rx.sub(_SENTENCE_MARK, form)
            form = _SPACES.sub(" ", form).strip()
            if form and form not in forms:
                forms.append(form)
        return tuple(forms)

    def _iter_matches(self, text: str) -> Iterable[CrisisMatch]:
        if not text or not text.strip():
            return
        forms = self._candidate_texts(text)
        if not any(self._any_rule.search(form) for form in forms):
            return
        for rule in self._rules:
            if any(rx.search(form) for rx in rule.regexes for form in forms):
                yield CrisisMatch(rule.kind, rule.language, rule.source)

    def detect(self, text: str) -> CrisisMatch | None:
        """Return the winning match for *text* (highest-precedence kind), or None.

        Exclusion spans are removed first. The kinds are then tried in precedence order,
        each over all languages in file order and each language's patterns in file order.
        """
        return next(iter(self._iter_matches(text)), None)

    def matches(self, text: str) -> list[CrisisMatch]:
        """All matching patterns, in the order :meth:`detect` tries them (for editors and tests)."""
        return list(self._iter_matches(text))
