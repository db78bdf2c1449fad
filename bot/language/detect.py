"""Offline language identification for short messages, with the conversation rule.

lingua decides among the languages it knows; the script, alphabet and marker-word rules in
data/language/detection.yml decide the rest (Tigrinya, Pashto, Dari, Kurdish) and split what lingua
cannot (Persian/Dari). Short or uncertain text keeps the conversation's language; an explicit
choice always wins (the pipeline keeps it; `choice` recognises a language's name).
"""
from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from lingua import Language, LanguageDetectorBuilder

UNDETERMINED = "und"
INVISIBLE = dict.fromkeys(map(ord, "\u200c\u200d\u0640"), None)  # ZWNJ, ZWJ, tatweel


@dataclass(frozen=True)
class Detection:
    language: str  # one of the supported codes, or "und"
    confidence: float


@dataclass(frozen=True)
class Script:
    name: str
    ranges: tuple[tuple[int, int], ...]
    languages: tuple[str, ...]
    alphabets: dict[str, frozenset[str]]

    def holds(self, letter: str) -> bool:
        point = ord(letter)
        return any(low <= point <= high for low, high in self.ranges)


def choice_form(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().translate(INVISIBLE).strip(" .!?,;:؟").split())


def marker_form(word: str) -> str:
    """A word as markers are compared: NFKC, lowercase, no punctuation, no joiners or vowel marks."""
    word = unicodedata.normalize("NFKC", word).casefold().translate(INVISIBLE)
    return "".join(c for c in word if unicodedata.category(c)[0] in "LN" or c in "-")


class LanguageDetector:
    def __init__(self, languages: dict[str, dict[str, Any]], rules: dict[str, Any], *, min_words: int,
                 min_confidence: float, switch_confidence: float, ignore_words: list[str]) -> None:
        self.languages = tuple(languages)
        self.min_words = min_words
        self.min_confidence = min_confidence
        self.switch_confidence = switch_confidence
        self.ignore_words = {marker_form(word) for word in ignore_words}
        self.scripts = tuple(
            Script(name, tuple(tuple(r) for r in spec["ranges"]),
                   tuple(code for code in spec.get("languages") or spec["alphabets"] if code in languages),
                   {code: frozenset(letters) for code, letters in (spec.get("alphabets") or {}).items()})
            for name, spec in rules["scripts"].items()
        )
        self.variants: dict[str, str] = {v: parent for v, parent in rules.get("variants", {}).items() if v in languages}
        self.markers = {code: {marker_form(w) for w in words} for code, words in rules["markers"].items()}
        self.marker_letters = {code: set(letters) for code, letters in rules.get("marker_letters", {}).items()}
        self.lingua_code = {getattr(Language, name): code for code, name in rules["lingua"].items() if code in languages}
        # lingua loads its models once per process, on first use: warm them here, not on a user's turn
        self.lingua = LanguageDetectorBuilder.from_languages(*self.lingua_code).build()
        for sentence in rules.get("warm_up", []):
            self.lingua.compute_language_confidence_values(sentence)
        self.choices = {choice_form(name): code for code, spec in languages.items() for name in spec.get("choose", [])}

    @classmethod
    def from_files(cls, languages_path: Path, rules_path: Path) -> "LanguageDetector":
        spec = yaml.safe_load(languages_path.read_text(encoding="utf-8"))
        rules = yaml.safe_load(rules_path.read_text(encoding="utf-8"))
        return cls(spec["languages"], rules, min_words=spec["min_words"], min_confidence=spec["min_confidence"],
                   switch_confidence=spec["switch_confidence"], ignore_words=spec.get("ignore_words", []))

    # -- one message ---------------------------------------------------------------------------

    def telling_words(self, text: str) -> list[str]:
        return [w for w in unicodedata.normalize("NFKC", text).split() if marker_form(w) not in self.ignore_words]

    def script_of(self, text: str) -> Script | None:
        counts = Counter(index for c in text if c.isalpha() for index, script in enumerate(self.scripts) if script.holds(c))
        return self.scripts[counts.most_common(1)[0][0]] if counts else None

    def candidates(self, script: Script, text: str) -> list[str]:
        """The script's languages whose alphabet has every letter of the message that any of them has."""
        known = frozenset().union(*script.alphabets.values())
        letters = {c for c in text.casefold() if c in known}
        fitting = [code for code in script.languages
                   if code not in script.alphabets or letters <= script.alphabets[code]]
        return fitting or list(script.languages)

    def marker_hits(self, words: list[str], candidates: list[str]) -> Counter[str]:
        hits: Counter[str] = Counter()
        for word in map(marker_form, words):
            for code in candidates:
                if word in self.markers.get(code, ()) or self.marker_letters.get(code, set()) & set(word):
                    hits[code] += 1
        return hits

    def lingua_values(self, text: str, candidates: list[str]) -> dict[str, float]:
        values = {self.lingua_code[v.language]: v.value for v in self.lingua.compute_language_confidence_values(text)
                  if self.lingua_code.get(v.language) in candidates}
        total = sum(values.values())
        return {code: value / total for code, value in values.items()} if total else {}

    @staticmethod
    def marker_confidence(hits: int) -> float:
        return min(0.95, 0.6 + 0.15 * hits)

    def detect(self, text: str) -> Detection:
        words = self.telling_words(text)
        telling = " ".join(words)
        script = self.script_of(telling)
        if script is None:
            return Detection(UNDETERMINED, 0.0)
        candidates = self.candidates(script, telling)
        if len(candidates) == 1:
            return Detection(candidates[0], 1.0)
        hits = self.marker_hits(words, candidates)
        values = self.lingua_values(telling, candidates)
        best = max(values, key=values.get) if values else None
        unseen = [code for code in candidates if code not in self.lingua_code.values() and code not in self.variants]
        if unseen:
            marked = max(unseen, key=lambda code: hits[code])
            if hits[marked] > hits.get(best, 0):
                return Detection(marked, self.marker_confidence(hits[marked]))
        if best is None:
            return Detection(UNDETERMINED, 0.0)
        confidence = values[best]
        seen = [(count, code) for code, count in hits.most_common() if code not in unseen]
        if confidence < self.min_confidence and seen and (len(seen) == 1 or seen[0][0] > seen[1][0]):
            best = seen[0][1]
            confidence = max(values.get(best, 0.0), self.marker_confidence(seen[0][0]))
        for variant, parent in self.variants.items():
            if parent == best and variant in candidates and hits[variant] > hits[parent]:
                return Detection(variant, max(confidence, self.marker_confidence(hits[variant])))
        return Detection(best, confidence)

    def choice(self, text: str) -> str | None:
        """The language a message chooses when it is only a language's name ("العربية", "på dansk")."""
        return self.choices.get(choice_form(text))

    # -- the conversation rule -----------------------------------------------------------------

    def same_language(self, found: str, current: str) -> bool:
        return found == current or self.variants.get(current) == found

    def conversation_language(self, text: str, current: str | None, found: Detection | None = None) -> Detection:
        """The language for this turn (`found`: the message's own detection, if already made). A new
        conversation takes any fairly sure detection; an ongoing one switches only on a sure
        detection of a long enough message, or of one written in another script than the
        conversation's language."""
        found = found or self.detect(text)
        if found.language == UNDETERMINED:
            return Detection(current or UNDETERMINED, found.confidence)
        if current is None:
            return found if found.confidence >= self.min_confidence else Detection(UNDETERMINED, found.confidence)
        if self.same_language(found.language, current):
            return Detection(current, found.confidence)
        long_enough = len(self.telling_words(text)) >= self.min_words
        script = self.script_of(" ".join(self.telling_words(text)))
        other_script = script is not None and current not in script.languages
        if (long_enough or other_script) and found.confidence >= self.switch_confidence:
            return found
        return Detection(current, found.confidence)
