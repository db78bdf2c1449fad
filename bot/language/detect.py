"""Offline language identification for short messages (lingua), with the conversation rule.

Short or uncertain text keeps the conversation's language; an explicit choice always wins.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

UNDETERMINED = "und"


@dataclass(frozen=True)
class Detection:
    language: str  # ISO 639-1, or "und"
    confidence: float


class LanguageDetector:
    def __init__(self, codes: list[str], min_words: int, min_confidence: float, ignore_words: list[str],
                 switch_confidence: float = 0.8) -> None:
        languages = [Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper())) for code in codes]
        self.detector = LanguageDetectorBuilder.from_languages(*languages).with_preloaded_language_models().build()
        self.min_words = min_words
        self.min_confidence = min_confidence
        self.switch_confidence = switch_confidence
        self.ignore_words = {word.lower() for word in ignore_words}

    @classmethod
    def from_file(cls, path: Path) -> "LanguageDetector":
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        return cls(spec["detect"], spec["min_words"], spec["min_confidence"], spec.get("ignore_words", []),
                   spec["switch_confidence"])

    def telling_words(self, text: str) -> str:
        return " ".join(w for w in text.split() if w.strip(".,!?;:").lower() not in self.ignore_words)

    def detect(self, text: str) -> Detection:
        values = self.detector.compute_language_confidence_values(self.telling_words(text))
        if not values:
            return Detection(UNDETERMINED, 0.0)
        best = values[0]
        return Detection(best.language.iso_code_639_1.name.lower(), best.value)

    def conversation_language(self, text: str, current: str | None) -> Detection:
        """The language to use for this turn. A new conversation takes any fairly sure detection; an
        ongoing one switches only on a long enough message detected with high confidence."""
        found = self.detect(text)
        if found.language == UNDETERMINED:
            return Detection(current or UNDETERMINED, found.confidence)
        if current is None:
            return found if found.confidence >= self.min_confidence else Detection(UNDETERMINED, found.confidence)
        long_enough = len(self.telling_words(text).split()) >= self.min_words
        if found.language != current and long_enough and found.confidence >= self.switch_confidence:
            return found
        return Detection(current, found.confidence)
