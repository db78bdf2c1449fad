"""The languages the gateway answers in, with what is curated for each beyond the messages
themselves: the language's own name and the topic-menu labels (data/language/languages.yml,
the `topics:` map of data/messages/<code>.yml; English and Danish labels are in topics.yml).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

# Buttons the assistant sends whose title is one of the curated messages.
BUTTON_MESSAGES = {"handoff:request": "talk_to_person", "answer:yes": "answer_yes", "answer:no": "answer_no"}


@dataclass(frozen=True)
class Languages:
    assistant: tuple[str, ...]
    default: str
    names: dict[str, str]  # code → the language's own name, in the order of languages.yml
    machine_codes: dict[str, str]  # a language translated with another's packages (Dari with Persian)
    topic_labels: dict[str, dict[str, str]]  # code → topic → label

    @classmethod
    def load(cls, data_dir: Path) -> "Languages":
        spec = yaml.safe_load((data_dir / "language/languages.yml").read_text(encoding="utf-8"))
        topics = yaml.safe_load((data_dir / "knowledge/topics.yml").read_text(encoding="utf-8"))["knowledge_topics"]
        labels: dict[str, dict[str, str]] = {}
        for code in spec["languages"]:
            path = data_dir / f"messages/{code}.yml"
            curated = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("topics") if path.exists() else None
            labels[code] = curated or {topic: entry[code] for topic, entry in topics.items() if code in entry}
        return cls(
            assistant=tuple(spec["assistant"]), default=spec["default"],
            names={code: entry["name"] for code, entry in spec["languages"].items()},
            machine_codes={code: entry["machine_translation"] for code, entry in spec["languages"].items()
                           if entry.get("machine_translation")},
            topic_labels=labels,
        )

    def __contains__(self, code: object) -> bool:
        return code in self.names

    def buttons(self) -> list[dict[str, str]]:
        """One button per language, titled in that language: the explicit choice on every channel."""
        return [{"title": name, "choice": f"language:{code}"} for code, name in self.names.items()]

    def chosen(self, choice: str | None) -> str | None:
        kind, _, code = (choice or "").partition(":")
        return code if kind == "language" and code in self.names else None
