"""Language identification on short messages (held-out set written before the marker rules),
the conversation rule on one-word and mixed turns, and choosing a language by its name."""
from __future__ import annotations

from collections import Counter

import pytest
import yaml

from bot.language.detect import UNDETERMINED, LanguageDetector
from bot.settings import ROOT
from tests.gateway.conftest import HELDOUT, read_jsonl

LANGUAGES = list(yaml.safe_load((ROOT / "data/language/languages.yml").read_text(encoding="utf-8"))["languages"])
CASES = read_jsonl(HELDOUT / "language_id.jsonl")


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    return LanguageDetector.from_files(ROOT / "data/language/languages.yml", ROOT / "data/language/detection.yml")


def test_the_held_out_set_covers_every_language_with_short_messages():
    counts = Counter(case["language"] for case in CASES)
    assert len(CASES) >= 150 and set(counts) == set(LANGUAGES) and len(LANGUAGES) == 15
    assert min(counts.values()) >= 10
    assert all(1 <= len(case["text"].split()) <= 12 for case in CASES)


def test_held_out_accuracy_per_language(detector):
    right, total = Counter(), Counter()
    for case in CASES:
        total[case["language"]] += 1
        right[case["language"]] += detector.detect(case["text"]).language == case["language"]
    per_language = {code: right[code] / total[code] for code in total}
    assert sum(right.values()) / len(CASES) >= 0.9, per_language
    assert min(per_language.values()) >= 0.8, per_language


@pytest.mark.parametrize("text, current", [
    ("ok", "ar"), ("tak", "da"), ("Faxe", "so"), ("Jobcenter", "ar"), ("yes", "da"), ("merhaba", "en"), ("min mand", "en"),
])
def test_one_word_and_very_short_turns_keep_the_conversation_language(detector, text, current):
    assert detector.conversation_language(text, current).language == current


@pytest.mark.parametrize("text, current, expected", [
    ("Hvor kan jeg lære dansk, please", "en", "da"),        # mixed, mostly Danish and sure
    ("hej, where can I learn danish", "da", "en"),          # mixed, mostly English and sure
    ("Danca nerede öğrenebilirim?", "da", "tr"),
    ("ሰላም", "en", "ti"),                                    # one word, but another script and certain
    ("کجا میتوانم کار پیدا کنم", "prs", "prs"),             # Persian to lingua; a Dari conversation stays Dari
])
def test_a_sure_longer_message_or_another_script_switches(detector, text, current, expected):
    assert detector.conversation_language(text, current).language == expected


def test_a_new_conversation_takes_only_a_fairly_sure_detection(detector):
    assert detector.conversation_language("qwpo zxmn lkjh", None).language == UNDETERMINED
    assert detector.conversation_language("hello", None).language == "en"
    assert detector.conversation_language("hej", None).language == "da"
    assert detector.conversation_language("Ez dixwazim zimanê danîmarkî hîn bibim", None).language == "ku"
    assert detector.conversation_language("مه یک سوال دارم در باره مکتب", None).language == "prs"


def test_script_and_letter_rules_decide_what_lingua_cannot(detector):
    assert detector.detect("ቋንቋ ዴንማርክ ኣበይ ክመሃር ይኽእል?").language == "ti"
    assert detector.detect("زه غواړم ډنمارکي زده کړم").language == "ps"
    assert detector.detect("دەمەوێت زمانی دانیمارکی فێر بم").language == "ku"
    assert detector.detect("میں ڈینش کہاں سیکھ سکتا ہوں").language == "ur"
    assert detector.detect("Де я можу вивчити данську").language == "uk"


@pytest.mark.parametrize("text, expected", [
    ("العربية", "ar"), ("på dansk", "da"), ("Türkçe", "tr"), ("English!", "en"), ("ትግርኛ", "ti"), ("kurdî", "ku"),
    ("dansk", None), ("where can I learn danish", None),
])
def test_a_language_is_chosen_by_writing_its_name(detector, text, expected):
    assert detector.choice(text) == expected
