"""Crisis detection on the held-out sets: recall per kind and false alarms on near-misses.

`crisis.jsonl` was used to widen the phrase lists after its first measurement, so only
`crisis_fresh.jsonl` (written later, by someone who never saw the lists) measures generalisation.

    bin/velkommen benchmark crisis_recall
"""
from __future__ import annotations

import collections
import json

from bot.safety.crisis import CrisisDetector
from bot.settings import ROOT

SETS = ("crisis.jsonl", "crisis_fresh.jsonl")


def main(argv: list[str]) -> int:
    detector = CrisisDetector.from_file(ROOT / "data/safety/crisis.yml")
    for name in SETS:
        path = ROOT / "tests/heldout" / name
        if not path.exists():
            continue
        cases = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        found = collections.Counter()
        total = collections.Counter()
        misses = []
        for case in cases:
            match = detector.detect(case["text"])
            got = match.kind if match else "none"
            total[case["kind"]] += 1
            if (got != "none") == (case["kind"] != "none"):
                found[case["kind"]] += 1
            else:
                misses.append(f"  {case['id']} {case['kind']}->{got}: {case['text']}")
        crises = sum(total[k] for k in total if k != "none")
        caught = sum(found[k] for k in found if k != "none")
        print(f"{name}: crisis recall {caught}/{crises} ({caught / crises:.0%}); "
              + ", ".join(f"{kind} {found[kind]}/{total[kind]}" for kind in ("danger", "violence", "suicide"))
              + f"; near-misses left alone {found['none']}/{total['none']}")
        print("\n".join(misses))
    return 0
