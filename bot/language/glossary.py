"""Keeps Danish institution names (Borgerservice, Jobcenter, MitID …) through machine translation.

Outbound, a translated reply that mentions a name gets a curated line naming it as written in
Denmark and explaining it in the reader's language; inbound, a name the translation lost is
added back for the NLU. The names and explanations are data (data/language/glossary.yml).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml


@dataclass(frozen=True)
class Term:
    name: str
    pattern: re.Pattern[str]
    explanations: dict[str, str]


class Glossary:
    def __init__(self, terms: list[Term], note: str) -> None:
        self.terms = terms
        self.note = note

    @classmethod
    def from_file(cls, path: Path) -> "Glossary":
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        terms = [
            Term(name, re.compile(r"(?<!\w)(?:" + "|".join(re.escape(f) for f in entry["forms"]) + r")(?!\w)", re.IGNORECASE),
                 entry["explain"])
            for name, entry in spec["terms"].items()
        ]
        return cls(terms, spec["note"])

    def mentioned(self, text: str) -> list[Term]:
        """The terms `text` mentions, in the order they first appear."""
        found = [(match.start(), term) for term in self.terms if (match := term.pattern.search(text))]
        return [term for _, term in sorted(found, key=lambda pair: pair[0])]

    def explain(self, translation: str, source_text: str, language: str) -> str:
        """The translation followed by one line per name the source mentions, explained in `language`."""
        lines = [self.note.format(term=term.name, explanation=term.explanations.get(language) or term.explanations["en"])
                 for term in self.mentioned(source_text)]
        return "\n".join([translation, *lines])

    def keep_names(self, translation: str, source_text: str) -> str:
        """The translation with any name of the source it lost added back (for the NLU)."""
        lost = [term.name for term in self.mentioned(source_text) if not term.pattern.search(translation)]
        return " ".join([translation, *lost])
