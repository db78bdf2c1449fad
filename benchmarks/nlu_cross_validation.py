"""5-fold cross-validation of the deployed NLU setup (one model on English + Danish), scored
separately per language on stratified test folds. Prints intent F1 (weighted) per language.

    bin/velkommen benchmark nlu_cross_validation [--folds 5]
"""
from __future__ import annotations

import argparse
import collections
import json
import random
import subprocess
import tempfile
from pathlib import Path

import yaml

from bot.settings import ROOT
from bot.stack import rasa_env, rasa_python, say

LANGUAGE_FILES = {"en": ROOT / "data/nlu/en.yml", "da": ROOT / "data/nlu/da.yml"}
ALWAYS_TRAINED = [ROOT / "data/nlu/crisis.yml"]  # mixed-language safety-net examples: trained, not scored


def load(path: Path) -> tuple[list[tuple[str, str]], list[dict]]:
    """(intent, example) pairs and the non-intent items (lookups, synonyms) of one NLU file."""
    examples, other = [], []
    for item in yaml.safe_load(path.read_text(encoding="utf-8"))["nlu"]:
        if "intent" in item:
            for line in item["examples"].splitlines():
                if line.strip().startswith("- "):
                    examples.append((item["intent"], line.strip()[2:]))
        else:
            other.append(item)
    return examples, other


def write_nlu(path: Path, examples: list[tuple[str, str]], other: list[dict]) -> None:
    by_intent = collections.defaultdict(list)
    for intent, text in examples:
        by_intent[intent].append(text)
    items = [{"intent": intent, "examples": "".join(f"- {text}\n" for text in texts)} for intent, texts in by_intent.items()]
    path.write_text(yaml.safe_dump({"version": "3.1", "nlu": items + other}, allow_unicode=True, sort_keys=False))


def folds_of(examples: list[tuple[str, str]], folds: int, seed: int) -> list[list[tuple[str, str]]]:
    by_intent = collections.defaultdict(list)
    for example in examples:
        by_intent[example[0]].append(example)
    split: list[list[tuple[str, str]]] = [[] for _ in range(folds)]
    rng = random.Random(seed)
    for intent in sorted(by_intent):
        group = by_intent[intent]
        rng.shuffle(group)
        for i, example in enumerate(group):
            split[i % folds].append(example)
    return split


def rasa(*args: str) -> None:
    subprocess.run([rasa_python(), "-m", "rasa", *args], cwd=ROOT, env=rasa_env(), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="benchmark nlu_cross_validation")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--only", type=int, default=None, help="run just this many folds (a quick look)")
    parser.add_argument("--keep", type=Path, default=None, help="keep models and reports in this folder")
    args = parser.parse_args(argv)
    data = {language: load(path) for language, path in LANGUAGE_FILES.items()}
    splits = {language: folds_of(examples, args.folds, seed=17) for language, (examples, _) in data.items()}
    other = [item for _, items in data.values() for item in items]
    always = [example for path in ALWAYS_TRAINED for example in load(path)[0]]
    scores: dict[str, list[dict]] = collections.defaultdict(list)
    with tempfile.TemporaryDirectory(prefix="velkommen-cv-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for fold in range(args.only or args.folds):
            say(f"fold {fold + 1}/{args.folds}: training on both languages")
            train = always + [example for language in data for i, part in enumerate(splits[language]) if i != fold
                              for example in part]
            write_nlu(work / "train.yml", train, other)
            rasa("train", "nlu", "--config", str(ROOT / "config.yml"), "--nlu", str(work / "train.yml"),
                 "--out", str(work / "models"), "--fixed-model-name", f"fold{fold}")
            for language in data:
                write_nlu(work / f"test_{language}.yml", splits[language][fold], [])
                out = work / f"report_{fold}_{language}"
                rasa("test", "nlu", "--model", str(work / "models" / f"fold{fold}.tar.gz"),
                     "--nlu", str(work / f"test_{language}.yml"), "--out", str(out))
                report = json.loads((out / "intent_report.json").read_text())
                scores[language].append(report)
    for language, reports in scores.items():
        f1 = sum(r["weighted avg"]["f1-score"] for r in reports) / len(reports)
        accuracy = sum(r["accuracy"] for r in reports) / len(reports)
        per_intent = collections.defaultdict(list)
        for report in reports:
            for intent, values in report.items():
                if isinstance(values, dict) and "f1-score" in values and intent not in ("weighted avg", "macro avg", "micro avg"):
                    per_intent[intent].append(values["f1-score"])
        lowest = sorted((sum(v) / len(v), intent) for intent, v in per_intent.items())[:3]
        examples = sum(len(part) for part in splits[language])
        print(f"{language}: {args.folds}-fold intent F1 (weighted) {f1:.3f}  accuracy {accuracy:.3f}  examples {examples}  "
              f"lowest: " + ", ".join(f"{intent} {score:.2f}" for score, intent in lowest), flush=True)
    return 0
