"""Loads the editors' content (topics, municipalities, policy answers, messages) from data/.

Shared by the custom actions and the content check; holds no answer text itself.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

LANGUAGES = ("en", "da")
RENDERINGS = ("sms", "web")


def data_dir() -> Path:
    return Path(os.environ.get("VELKOMMEN_DATA", Path(__file__).resolve().parents[1] / "data"))


def read_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@dataclass(frozen=True)
class Source:
    municipality: str
    document: str
    section: str

    def as_dict(self) -> dict[str, str]:
        return {"municipality": self.municipality, "document": self.document, "section": self.section}


@dataclass(frozen=True)
class Answer:
    """One policy answer for one municipality and topic, in both languages and renderings."""

    municipality: str
    topic: str
    texts: dict[str, dict[str, str]]
    sources: tuple[Source, ...]
    contact: str
    national_fallback: bool

    def text(self, language: str, rendering: str = "sms") -> str:
        by_language = self.texts.get(language) or self.texts["en"]
        return by_language.get(rendering) or by_language["sms"]


@dataclass(frozen=True)
class Knowledge:
    topics: dict[str, dict[str, str]]
    intent_topics: dict[str, str]
    menu: tuple[str, ...]
    municipalities: dict[str, dict[str, Any]]
    contact_points: dict[str, dict[str, str]]
    policy_answers: dict[str, dict[str, dict[str, Any]]]
    national_answers: dict[str, dict[str, Any]]
    messages: dict[str, dict[str, str]]

    @classmethod
    def load(cls, root: Path | None = None) -> "Knowledge":
        root = root or data_dir()
        knowledge = root / "knowledge"
        topics = read_yaml(knowledge / "topics.yml")
        places = read_yaml(knowledge / "municipalities.yml")
        policy_answers = {}
        for slug in places["municipalities"]:
            path = knowledge / f"{slug}.yml"
            policy_answers[slug] = (read_yaml(path) or {}).get("answers") or {} if path.exists() else {}
        national_path = knowledge / "national.yml"
        national = (read_yaml(national_path) or {}).get("answers") or {} if national_path.exists() else {}
        messages = {
            path.stem: read_yaml(path)["messages"] for path in sorted((root / "messages").glob("*.yml"))
        }
        return cls(
            topics=topics["knowledge_topics"],
            intent_topics=topics["intent_topics"],
            menu=tuple(topics["menu"]),
            municipalities=places["municipalities"],
            contact_points=places["contact_points"],
            policy_answers=policy_answers,
            national_answers=national,
            messages=messages,
        )

    def topic_for_intent(self, intent: str | None) -> str | None:
        for topic, spec in self.topics.items():
            if spec["intent"] == intent:
                return topic
        return self.intent_topics.get(intent or "")

    def municipality_name(self, slug: str) -> str:
        return self.municipalities[slug]["name"]

    def answer(self, municipality: str, topic: str) -> Answer:
        entry = self.policy_answers.get(municipality, {}).get(topic)
        if entry:
            document = self.municipalities[municipality]["document"]
            sections = dict.fromkeys(s["section"] for s in entry["sources"])  # two quotes, one section: cite once
            sources = tuple(Source(municipality, document, section) for section in sections)
            texts = {lang: entry[lang] for lang in LANGUAGES}
            return Answer(municipality, topic, texts, sources, entry["contact"], national_fallback=False)
        entry = self.national_answers[topic]
        place = self.municipalities[municipality]
        texts = {
            lang: {
                rendering: text.format(municipality=place["name"], region=place["region"])
                for rendering, text in entry[lang].items()
            }
            for lang in LANGUAGES
        }
        source = Source("national", "Velkommen – general national information", self.topics[topic]["en"])
        return Answer(municipality, topic, texts, (source,), entry["contact"], national_fallback=True)

    def message(self, key: str, language: str, **values: str) -> str:
        table = self.messages.get(language) or self.messages["en"]
        return table[key].format(**values) if values else table[key]


@lru_cache(maxsize=1)
def knowledge() -> Knowledge:
    return Knowledge.load()
