"""Language identification on the held-out short messages: accuracy per language, the misses,
and the time per message. The set was written before the marker rules in data/language/.

    bin/velkommen benchmark language_id
"""
from __future__ import annotations

import json
import statistics
import time
from collections import Counter

from bot.language.detect import LanguageDetector
from bot.settings import ROOT


def main(argv: list[str]) -> int:
    started = time.perf_counter()
    detector = LanguageDetector.from_files(ROOT / "data/language/languages.yml", ROOT / "data/language/detection.yml")
    print(f"detector ready (lingua models loaded) in {time.perf_counter() - started:.1f} s")
    cases = [json.loads(line) for line in (ROOT / "tests/heldout/language_id.jsonl").read_text(encoding="utf-8").splitlines()
             if line.strip()]
    right, total, misses, timings = Counter(), Counter(), [], []
    for case in cases:
        began = time.perf_counter()
        found = detector.detect(case["text"])
        timings.append((time.perf_counter() - began) * 1000)
        total[case["language"]] += 1
        if found.language == case["language"]:
            right[case["language"]] += 1
        else:
            misses.append(f"  {case['id']} {case['language']} -> {found.language} ({found.confidence:.2f}): {case['text']}")
    print(f"held-out language_id.jsonl: {sum(right.values())}/{len(cases)} "
          f"({sum(right.values()) / len(cases):.1%}) right")
    print("  " + ", ".join(f"{code} {right[code]}/{total[code]}" for code in total))
    print("misses:" if misses else "misses: none")
    print("\n".join(misses))
    timings.sort()
    print(f"time per message: p50 {timings[len(timings) // 2]:.2f} ms, p95 {timings[int(0.95 * len(timings))]:.2f} ms, "
          f"max {timings[-1]:.2f} ms, mean {statistics.mean(timings):.2f} ms")
    return 0
