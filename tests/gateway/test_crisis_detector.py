"""CrisisDetector against the real data/safety/crisis.yml."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import yaml

from bot.safety.crisis import CrisisDetector, CrisisMatch, normalise_variants

CRISIS_YML = Path(__file__).parents[2] / "data/safety/crisis.yml"


@pytest.fixture(scope="module")
def detector() -> CrisisDetector:
    return CrisisDetector.from_file(CRISIS_YML)


@pytest.fixture(scope="module")
def raw_data() -> dict:
    return yaml.safe_load(CRISIS_YML.read_text(encoding="utf-8"))


EN_CASES = [
    ("I want to die", "suicide"),
    ("i wanna kill myself", "suicide"),
    ("I can't go on like this", "suicide"),
    ("There is no reason to live anymore", "suicide"),
    ("I keep cutting myself", "suicide"),
    ("i dont want to live anymore", "suicide"),
    ("I have been thinking about suicide", "suicide"),
    ("My husband hits me", "violence"),
    ("he hits me when he is drunk", "violence"),
    ("my husbend beat me yesterday", "violence"),
    ("My boyfriend threatened to kill me", "violence"),
    ("I am afraid of my husband", "violence"),
    ("My family is forcing me to marry a man I don't know", "violence"),
    ("im scared to go home", "violence"),
    ("cant breathe", "danger"),
    ("My son is unconcious and not breathing", "danger"),
    ("My wife is bleeding a lot, please help", "danger"),
    ("There is a fire in my apartment!", "danger"),
    ("I took all my sleeping pills", "danger"),
    ("Someone is attacking me right now", "danger"),
    ("please call an ambulance", "danger"),
]

DA_CASES = [
    ("jeg orker ikke mere at leve", "suicide"),
    ("Jeg vil ikke leve mere", "suicide"),
    ("vil ikke leve mere", "suicide"),
    ("jeg vil slå mig selv ihjel", "suicide"),
    ("Jeg tænker på selvmord", "suicide"),
    ("jeg skærer i mig selv", "suicide"),
    ("Jeg kan ikke mere.", "suicide"),
    ("Jeg har ikke lyst til at leve mere", "suicide"),
    ("min mand slår mig", "violence"),
    ("Min kæreste truer med at slå mig ihjel", "violence"),
    ("jeg er bange for min mand", "violence"),
    ("min familie vil tvinge mig til at gifte mig", "violence"),
    ("i går slog han mig", "violence"),
    ("han har taget mit pas", "violence"),
    ("Jeg tør ikke gå hjem", "violence"),
    ("Min datter trækker ikke vejret", "danger"),
    ("Han er bevidstløs", "danger"),
    ("Det brænder i køkkenet!", "danger"),
    ("jeg kan ikke få vejret", "danger"),
    ("min søn har taget alle mine sovepiller", "danger"),
    ("Han bløder meget", "danger"),
    ("Mit barn har drukket klorin", "danger"),
]


@pytest.mark.parametrize(("text", "kind"), EN_CASES)
def test_english_crisis_kind(detector: CrisisDetector, text: str, kind: str) -> None:
    match = detector.detect(text)
    assert match is not None, text
    assert match.kind == kind
    assert match.language == "en"


@pytest.mark.parametrize(("text", "kind"), DA_CASES)
def test_danish_crisis_kind(detector: CrisisDetector, text: str, kind: str) -> None:
    match = detector.detect(text)
    assert match is not None, text
    assert match.kind == kind
    assert match.language == "da"


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        # Danish typed without æ/ø/å, both ways
        ("min mand slaar mig", "violence"),
        ("min mand slar mig", "violence"),
        ("hun traekker ikke vejret", "danger"),
        ("han er bevidstlos", "danger"),
        ("han er bevidstloes", "danger"),
        ("jeg vil bare do", "suicide"),
        ("Jeg vil ikke vaagne i morgen", "suicide"),
        # case, punctuation and misspelled "ikke"
        ("MIN MAND SLÅR MIG!!!", "violence"),
        ("jeg orker ik mere at leve", "suicide"),
        ("I CAN'T BREATHE", "danger"),
        ("i can’t breathe", "danger"),
    ],
)
def test_normalisation_variants_match(detector: CrisisDetector, text: str, kind: str) -> None:
    match = detector.detect(text)
    assert match is not None, text
    assert match.kind == kind


@pytest.mark.parametrize(
    "text",
    [
        # English idioms and information questions
        "My teacher is killing me with homework",
        "I'm dying to know when the Danish course starts",
        "We nearly died of laughter",
        "I could die of laughter",
        "My back is killing me, how do I find a doctor?",
        "I almost had a heart attack when I saw the rent",
        "What is 112?",
        "what is 112",
        "When should I call 112?",
        "Does my home insurance cover fire damage if there is a fire in my apartment?",
        "There is a fire drill at the school tomorrow",
        "What should I do in case of fire?",
        "I was fired from my job",
        "Hit me up when the office opens",
        "My brother always beats me at chess",
        "I want to die my hair, where is a hairdresser?",
        "I can't go on the trip on Friday",
        "I don't want to live in Faxe anymore",
        "I take 2 pills a day for my blood pressure",
        "My computer is not responding",
        "I can't breathe when I laugh this hard haha",
        # Danish idioms and information questions
        "Jeg dør af grin",
        "jeg dør af kedsomhed på sprogskolen",
        "jeg keder mig ihjel",
        "Dækker min brandforsikring hvis der er brand i lejligheden?",
        "Hvad er 112?",
        "Hvornår skal man ringe 112?",
        "Hvor kan jeg slå ordet op?",
        "Hvordan slår jeg en tekst op?",
        "Vi vil gerne slå os ned i Faxe",
        "min mand og jeg vil slå os ned her",
        "jeg har slået mig ned i Køge",
        "Min kæreste har slået op med mig",
        "Stillingen er slået op på Jobnet",
        "min bror slår mig altid i skak",
        "Det slår mig at priserne er høje",
        "Jeg kan ikke leve af kontanthjælpen",
        "Min mand kan ikke leve uden mig",
        "Jeg skal på do",
        "Det brænder på med ansøgningen",
        "Jeg brænder for at arbejde med børn",
        "Hvad gør jeg hvis der er brand i opgangen?",
        "Jeg fik næsten et hjerteanfald da jeg så regningen",
        "jeg kan ikke mere dansk end det",
        "Kommunen svarer ikke på min mail",
        "jeg har taget min medicin i dag",
        # ordinary questions
        "Hvor kan jeg lære dansk?",
        "Where is the jobcenter?",
        "",
        "   ",
    ],
)
def test_near_misses_are_not_crisis(detector: CrisisDetector, text: str) -> None:
    assert detector.detect(text) is None


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        # an idiom is removed, but a real crisis phrase in the same message still counts
        ("I'm dying to know, but honestly I want to kill myself", "suicide"),
        ("Jeg dør af grin, men min mand slår mig", "violence"),
        ("Min mand slår mig. Dækker forsikringen noget?", "violence"),
        # precedence: danger > violence > suicide
        ("My husband beats me and I want to die", "violence"),
        ("I took 30 pills because I want to die", "danger"),
        ("he is hitting me right now", "danger"),
        ("min mand slår mig lige nu", "danger"),
        ("jeg vil dø, jeg har taget alle mine piller", "danger"),
        ("min mand slår mig og jeg vil ikke leve mere", "violence"),
    ],
)
def test_exclusions_and_precedence(detector: CrisisDetector, text: str, kind: str) -> None:
    match = detector.detect(text)
    assert match is not None, text
    assert match.kind == kind


def test_matches_lists_every_kind_in_precedence_order(detector: CrisisDetector) -> None:
    kinds = [m.kind for m in detector.matches("He hits me, I want to die, I took all my pills")]
    assert kinds[0] == "danger"
    assert set(kinds) == {"danger", "violence", "suicide"}
    order = {"danger": 0, "violence": 1, "suicide": 2}
    assert [order[k] for k in kinds] == sorted(order[k] for k in kinds)


def test_match_reports_pattern_as_written_in_file(detector: CrisisDetector, raw_data: dict) -> None:
    match = detector.detect("jeg vil slå mig selv ihjel")
    assert match is not None
    assert match.pattern in raw_data["kinds"][match.kind][match.language]
    assert match == CrisisMatch("suicide", "da", r"\b(?:slå|slår|slog) mig selv ihjel\b")


def test_crisis_match_is_frozen() -> None:
    match = CrisisMatch("danger", "en", "x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        match.kind = "suicide"  # type: ignore[misc]


def test_data_file_shape(raw_data: dict, detector: CrisisDetector) -> None:
    assert raw_data["precedence"] == ["danger", "violence", "suicide"]
    assert detector.precedence == ("danger", "violence", "suicide")
    assert set(raw_data["kinds"]) == {"danger", "violence", "suicide"}
    for kind, by_language in raw_data["kinds"].items():
        assert {"en", "da"} <= set(by_language), kind
        for language, patterns in by_language.items():
            assert len(patterns) >= (5 if language in ("en", "da") else 3), (kind, language)
            assert len(patterns) == len(set(patterns)), (kind, language)
    assert {"en", "da"} <= set(raw_data["not_crisis"])
    assert detector.languages[:2] == ("en", "da")
    assert len(detector.languages) == 15


def test_normalise_variants() -> None:
    assert normalise_variants("Min mand SLÅR mig!!") == ("min mand slaar mig", "min mand slar mig")
    assert normalise_variants("I can't breathe… help") == ("i cant breathe . help",)
    assert normalise_variants("Ærø café") == ("aeroe cafe", "aero cafe")


def test_new_language_is_just_another_key(tmp_path: Path) -> None:
    path = tmp_path / "crisis.yml"
    path.write_text(
        "precedence: [danger, violence, suicide]\n"
        "kinds:\n"
        "  danger: {en: ['\\bnot breathing\\b'], uk: ['\\bне дихає\\b']}\n"
        "  violence: {en: ['\\bhits me\\b']}\n"
        "  suicide: {en: ['\\bkill myself\\b']}\n"
        "not_crisis: {en: ['\\bhits me up\\b']}\n",
        encoding="utf-8",
    )
    det = CrisisDetector.from_file(path)
    assert det.detect("Він не дихає!") == CrisisMatch("danger", "uk", r"\bне дихає\b")
    assert det.detect("he hits me up later") is None
    assert det.detect("he hits me") == CrisisMatch("violence", "en", r"\bhits me\b")


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("kinds: {danger: {en: ['(unclosed']}}\nprecedence: [danger]\n", "kinds.danger.en[0]"),
        ("kinds: {danger: {en: ['a|']}}\nprecedence: [danger]\n", "matches empty text"),
        ("kinds: {danger: {en: ['x']}}\nprecedence: [danger, suicide]\n", "precedence"),
        ("kinds: {danger: {en: ['{{nope}} x']}}\nprecedence: [danger]\n", "unknown vocab"),
        ("kinds: {danger: {EN!: ['x']}}\nprecedence: [danger]\n", "language code"),
        ("kinds: {danger: {en: 'x'}}\nprecedence: [danger]\n", "list of non-empty strings"),
    ],
)
def test_malformed_file_is_rejected(tmp_path: Path, yaml_text: str, message: str) -> None:
    path = tmp_path / "crisis.yml"
    path.write_text(yaml_text, encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape(message)):
        CrisisDetector.from_file(path)
