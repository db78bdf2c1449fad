"""Machine translation between a person's language and the assistant's (en/da), with argostranslate.

`ArgosEngine` loads the installed packages once, at start: argos builds its own pivots (ar → en →
uk when only ar↔en and en↔uk are installed), we replace its sentence splitter (stanza/MiniSBD,
which download models at first use) with an offline one, and warm every model so no person waits
for a lazy load. It never touches the network. `Translator` is what the pipeline uses: same-language
passes through, every translation goes through the cache and the glossary, and a pair without
packages raises `NoTranslation` (the pipeline then answers with its curated messages).
"""
from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from bot.language.cache import TranslationCache
from bot.language.glossary import Glossary
from bot.language.packages import ARGOS_LOCK, installed, use_argos

log = logging.getLogger(__name__)
SENTENCE_END = re.compile(r"(?<=[.!?…؟۔።])\s+")


class NoTranslation(LookupError):
    pass


class SentenceSplitter:
    """Stands in for argos's sentence boundary detection: splits after sentence-final punctuation."""

    def split_sentences(self, text: str) -> list[str]:
        return [sentence for sentence in SENTENCE_END.split(text) if sentence.strip()] or [text]


class ArgosEngine:
    """The installed argos packages, loaded and warmed; translates with the real argos code."""

    def __init__(self, packages_dir: Path, intra_threads: int = 1) -> None:
        self.packages_dir = packages_dir
        with ARGOS_LOCK:
            use_argos(packages_dir, intra_threads)
            from argostranslate import translate

            translate.installed_translates.clear()  # argos caches these by pair name, across directories
            translate.get_installed_languages.cache_clear()
            self.languages: dict[str, Any] = {language.code: language for language in translate.get_installed_languages()}
            self.packaged = [entry.cached_translation.underlying for entry in translate.installed_translates]
            for translation in self.packaged:
                translation.sentencizer = SentenceSplitter()
                translation.translate("ok")  # loads the CTranslate2 model and the tokenizer now
        self.direct_pairs = {(t.from_lang.code, t.to_lang.code) for t in self.packaged}

    def can_translate(self, source: str, target: str) -> bool:
        return source in self.languages and target in self.languages and \
            self.languages[source].get_translation(self.languages[target]) is not None

    def translate(self, text: str, source: str, target: str) -> str:
        return self.languages[source].get_translation(self.languages[target]).translate(text)


class Translator:
    def __init__(self, engine: ArgosEngine | None, glossary: Glossary, assistant_languages: list[str],
                 machine_codes: dict[str, str] | None = None, cache: TranslationCache | None = None) -> None:
        self.engine = engine
        self.glossary = glossary
        self.assistant_languages = set(assistant_languages)
        self.machine_codes = machine_codes or {}  # e.g. Dari through the Persian packages
        self.cache = cache or TranslationCache()

    @classmethod
    def load(cls, packages_dir: Path, glossary: Glossary, assistant_languages: list[str],
             machine_codes: dict[str, str] | None = None, intra_threads: int = 1) -> "Translator":
        """Loads and warms the installed packages; with none installed, argos is not even imported."""
        engine = None
        if installed(packages_dir):
            try:
                engine = ArgosEngine(packages_dir, intra_threads)
            except Exception:  # a broken package must not stop the gateway: it answers from curated text
                log.exception("could not load the translation packages in %s; running without them", packages_dir)
        return cls(engine, glossary, assistant_languages, machine_codes)

    def code(self, language: str) -> str:
        return self.machine_codes.get(language, language)

    def can_translate(self, source: str, target: str) -> bool:
        if source == target:
            return True
        return self.engine is not None and self.engine.can_translate(self.code(source), self.code(target))

    def direct(self, source: str, target: str) -> bool:
        """Whether one installed package translates `source` into `target` (no pivot)."""
        return self.engine is not None and (self.code(source), self.code(target)) in self.engine.direct_pairs

    def translate(self, text: str, source: str, target: str, owner: str | None = None) -> str:
        """`text` in `target`; `owner` is the conversation that asks (erasing it empties its cache entries)."""
        if source == target or not text.strip():
            return text
        if not self.can_translate(source, target):
            raise NoTranslation(f"no translation from {source} to {target}")
        try:
            return self.cache.get_or_translate((text, source, target), lambda: self.machine(text, source, target), owner)
        except Exception as error:  # a failing model is a missing translation, not a failed turn
            log.exception("translation %s → %s failed", source, target)
            raise NoTranslation(f"translation from {source} to {target} failed") from error

    def machine(self, text: str, source: str, target: str) -> str:
        translation = self.engine.translate(text, self.code(source), self.code(target))
        if target in self.assistant_languages:
            return self.glossary.keep_names(translation, text)
        return self.glossary.explain(translation, text, target)

    def forget(self, conversation_id: str) -> None:
        self.cache.forget(conversation_id)
