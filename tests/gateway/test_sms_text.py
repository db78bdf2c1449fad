"""SMS segment arithmetic: GSM-7 160/153 (extension characters cost two and are never split),
UCS-2 70/67 (surrogate pairs never split), and the cut of a long reply for "reply MORE"."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.channels.sms_text import GSM7, UCS2, Cut, cut, encoding, gsm7_when_possible, segment_count, segments

ARABIC_400 = ("مرحبا بك في البلدية، يمكنك تعلم اللغة الدنماركية مجانا في مركز اللغة " * 6)[:400]
MORE = "(reply MORE for the rest)"


def test_danish_letters_are_gsm7_and_arabic_cyrillic_are_ucs2():
    assert encoding("Hvor lærer jeg dansk? Æbler, øl og Åbenrå") == GSM7
    assert encoding(ARABIC_400) == UCS2
    assert encoding("Де я можу вивчати данську?") == UCS2


@pytest.mark.parametrize(("length", "count"), [(1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4)])
def test_gsm7_is_160_alone_and_153_per_part(length, count):
    assert segment_count("a" * length) == count


@pytest.mark.parametrize(("length", "count"), [(70, 1), (71, 2), (134, 2), (135, 3), (400, 6)])
def test_ucs2_is_70_alone_and_67_per_part(length, count):
    assert segment_count(("ж" * length)) == count


def test_an_arabic_reply_of_400_characters_is_six_ucs2_segments():
    assert len(ARABIC_400) == 400
    parts = segments(ARABIC_400)
    assert [len(part) for part in parts] == [67, 67, 67, 67, 67, 65]
    assert "".join(parts) == ARABIC_400


def test_extension_characters_cost_two_and_stay_whole():
    assert segment_count("€" * 80) == 1 and segment_count("€" * 81) == 2
    parts = segments("€" * 100)  # 200 septets: 153 is odd, so the 77th € would straddle the first cut
    assert [sum(2 if c == "€" else 1 for c in part) for part in parts] == [152, 48]


def test_surrogate_pairs_count_two_and_stay_whole():
    assert segment_count("😀" * 35) == 1 and segment_count("😀" * 36) == 2
    parts = segments("a" + "😀" * 40)
    assert all(len(part.encode("utf-16-le")) // 2 <= 67 for part in parts)
    assert "".join(parts) == "a" + "😀" * 40


def test_typographic_punctuation_is_made_gsm7_but_real_script_is_kept():
    assert gsm7_when_possible("Livslinien 70 201 201 — you’re not alone…") == "Livslinien 70 201 201 - you're not alone..."
    assert gsm7_when_possible("Ring 112 — مرحبا") == "Ring 112 — مرحبا"


def test_a_reply_that_fits_is_not_cut():
    assert cut("short", 1, MORE) == Cut("short", "")


def test_the_arabic_reply_over_budget_ends_with_more_and_keeps_the_rest():
    parts = cut(ARABIC_400, 4, MORE)
    assert parts.now.endswith(MORE) and segment_count(parts.now) <= 4 and encoding(parts.now) == UCS2
    head = parts.now.removesuffix(MORE).rstrip()
    assert f"{head} {parts.kept}".split() == ARABIC_400.split()
    assert segment_count(parts.now) == 4  # the budget is used, not wasted


@settings(max_examples=200, deadline=None)
@given(text=st.text(st.sampled_from("abc æøå€{ жд مر😀\n"), min_size=1, max_size=900), budget=st.integers(1, 6))
def test_a_cut_always_fits_and_loses_nothing(text, budget):
    parts = cut(text, budget, MORE)
    assert segment_count(parts.now) <= budget
    if parts.kept:
        head = parts.now.removesuffix(MORE).rstrip("\n").rstrip()
        assert (head + parts.kept).replace(" ", "").replace("\n", "") == text.replace(" ", "").replace("\n", "")
        assert parts.kept.strip()
    else:
        assert parts.now in (text, text.rstrip())
