"""Translation between the user's language and the assistant's (en/da).

Until machine translation packages are configured this is the identity for en/da; the
pipeline asks `can_translate` before relying on it.
"""
from __future__ import annotations


class Translator:
    def __init__(self, assistant_languages: list[str]) -> None:
        self.assistant_languages = set(assistant_languages)

    def can_translate(self, source: str, target: str) -> bool:
        return source == target or {source, target} <= self.assistant_languages

    def translate(self, text: str, source: str, target: str) -> str:
        if source == target or target in self.assistant_languages and source in self.assistant_languages:
            return text
        raise LookupError(f"no translation from {source} to {target}")
