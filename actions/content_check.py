"""Content checks: prints the municipality × topic coverage matrix and the policy sections
behind each intent, and fails on an answer without a source, a text missing in Danish or
English, an over-long text, a quote not found in its seed, or a broken reference.

Run: bin/velkommen coverage  (or python -m actions.content_check)
"""
from __future__ import annotations

import os
import string
import sys
from pathlib import Path

from actions.knowledge import LANGUAGES, Knowledge, data_dir

LIMITS = {"sms": 320, "web": 900}
LONGEST_NAME = "Frederikshavn Kommune"


def seeds_dir() -> Path:
    return Path(os.environ.get("VELKOMMEN_SEEDS", data_dir().parents[1] / "shared/seeds"))


def folded(text: str) -> str:
    return " ".join(text.split())


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def check_texts(where: str, entry: dict, problems: list[str], fill: dict[str, str] | None = None) -> None:
    for language in LANGUAGES:
        texts = entry.get(language) or {}
        if not texts.get("sms"):
            problems.append(f"{where}: no {language} text")
        for rendering, text in texts.items():
            if rendering not in LIMITS:
                problems.append(f"{where}: unknown rendering {language}.{rendering}")
                continue
            unknown = placeholders(text) - set(fill or {})
            if unknown:
                problems.append(f"{where}: unknown placeholder {sorted(unknown)} in {language}.{rendering}")
                continue
            shown = text.format(**fill) if fill else text
            if len(shown) > LIMITS[rendering]:
                problems.append(f"{where}: {language}.{rendering} is {len(shown)} characters (max {LIMITS[rendering]})")


def check(kb: Knowledge, seeds: Path) -> list[str]:
    problems: list[str] = []
    for slug, answers in kb.policy_answers.items():
        seed = folded((seeds / kb.municipalities[slug]["seed"]).read_text(encoding="utf-8"))
        for topic, entry in answers.items():
            where = f"{slug}/{topic}"
            if topic not in kb.topics:
                problems.append(f"{where}: not a knowledge topic")
                continue
            check_texts(where, entry, problems)
            if entry.get("contact") not in kb.contact_points:
                problems.append(f"{where}: unknown contact {entry.get('contact')!r}")
            if not entry.get("sources"):
                problems.append(f"{where}: no source")
            for source in entry.get("sources") or []:
                if folded(source.get("section", "")) not in seed or not source.get("section"):
                    problems.append(f"{where}: section {source.get('section')!r} not in {kb.municipalities[slug]['seed']}")
                if not source.get("quote") or folded(source["quote"]) not in seed:
                    problems.append(f"{where}: quote not found in the seed: {source.get('quote')!r}")
    fill = {"municipality": LONGEST_NAME, "region": "Region Nordjylland"}
    for topic in kb.topics:
        entry = kb.national_answers.get(topic)
        if entry is None:
            problems.append(f"national/{topic}: missing (needed wherever a policy is silent)")
            continue
        check_texts(f"national/{topic}", entry, problems, fill)
        if entry.get("contact") not in kb.contact_points:
            problems.append(f"national/{topic}: unknown contact {entry.get('contact')!r}")
    keys = {language: set(table) for language, table in kb.messages.items()}
    for language, table in keys.items():
        for missing in sorted(keys["en"] - table):
            problems.append(f"messages/{language}: missing {missing}")
    for language in LANGUAGES:
        if language not in kb.messages:
            problems.append(f"messages/{language}.yml missing")
    for topic in kb.menu:
        if topic not in kb.topics:
            problems.append(f"menu: unknown topic {topic}")
    return problems


def matrix(kb: Knowledge) -> str:
    slugs = list(kb.municipalities)
    width = max(len(topic) for topic in kb.topics)
    lines = [" " * width + "  " + "  ".join(f"{slug[:6]:>6}" for slug in slugs)]
    for topic in kb.topics:
        cells = ["policy" if topic in kb.policy_answers.get(slug, {}) else "nation" for slug in slugs]
        lines.append(f"{topic:<{width}}  " + "  ".join(f"{cell:>6}" for cell in cells))
    policy = sum(len(answers) for answers in kb.policy_answers.values())
    lines.append(f"{policy} policy answers, {len(slugs) * len(kb.topics) - policy} national fallbacks")
    return "\n".join(lines)


def intent_sections(kb: Knowledge) -> str:
    lines = []
    for topic, spec in kb.topics.items():
        sections = sorted({f"{slug}: {s['section']}" for slug, answers in kb.policy_answers.items()
                           for s in (answers.get(topic) or {}).get("sources", [])})
        lines.append(f"{spec['intent']} <- " + ("; ".join(sections) if sections else "(national fallback only)"))
    return "\n".join(lines)


def main() -> int:
    kb = Knowledge.load()
    print(matrix(kb))
    print()
    print(intent_sections(kb))
    problems = check(kb, seeds_dir())
    for problem in problems:
        print(f"PROBLEM {problem}")
    print(f"content check: {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
