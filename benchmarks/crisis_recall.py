"""Crisis detection on the held-out sets: recall per kind and false alarms on near-misses,
for the phrase lists alone and for the full pipeline (phrase lists + the NLU safety net).

`crisis.jsonl` was used to widen the phrase lists after its first measurement, so only
`crisis_fresh.jsonl` (written later, by someone who never saw the lists) measures generalisation.

    bin/velkommen benchmark crisis_recall [--pipeline]
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import tempfile
from pathlib import Path

from bot.safety.crisis import CrisisDetector
from bot.settings import ROOT, Settings
from bot.stack import Stack, ensure_model

SETS = ("crisis.jsonl", "crisis_fresh.jsonl")


def report(name: str, cases: list[dict], flagged: list[bool]) -> None:
    found, total, misses = collections.Counter(), collections.Counter(), []
    for case, is_crisis in zip(cases, flagged):
        total[case["kind"]] += 1
        if is_crisis == (case["kind"] != "none"):
            found[case["kind"]] += 1
        else:
            misses.append(f"  {case['id']} {case['kind']} {'missed' if not is_crisis else 'false alarm'}: {case['text']}")
    crises = sum(total[k] for k in total if k != "none")
    caught = sum(found[k] for k in found if k != "none")
    print(f"{name}: crisis recall {caught}/{crises} ({caught / crises:.0%}); "
          + ", ".join(f"{kind} {found[kind]}/{total[kind]}" for kind in ("danger", "violence", "suicide"))
          + f"; near-misses left alone {found['none']}/{total['none']}", flush=True)
    print("\n".join(misses), flush=True)


async def through_pipeline(cases: list[dict], home: Path) -> list[bool]:
    from bot.app import build_pipeline

    pipeline = build_pipeline(Settings(home=home))
    flagged = []
    for case in cases:
        conversation = pipeline.start_conversation("web", "faxe")
        turn = await pipeline.handle(conversation.id, case["text"])
        flagged.append(turn.crisis is not None)
    await pipeline.rasa.close()
    return flagged


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="benchmark crisis_recall")
    parser.add_argument("--pipeline", action="store_true", help="also run every message through the full stack")
    args = parser.parse_args(argv)
    detector = CrisisDetector.from_file(ROOT / "data/safety/crisis.yml")
    sets = {name: [json.loads(line) for line in (ROOT / "tests/heldout" / name).read_text(encoding="utf-8").splitlines()
                   if line.strip()] for name in SETS}
    for name, cases in sets.items():
        report(f"{name} phrase lists", cases, [detector.detect(case["text"]) is not None for case in cases])
    if args.pipeline:
        with tempfile.TemporaryDirectory(prefix="velkommen-crisis-") as tmp, Stack(Path(tmp), ensure_model()) as stack:
            os.environ.update(stack.gateway_env())
            for name, cases in sets.items():
                report(f"{name} pipeline (phrase lists + NLU)", cases, asyncio.run(through_pipeline(cases, Path(tmp))))
    return 0
