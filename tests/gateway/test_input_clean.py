"""clean_input: exact cases plus property tests."""

from __future__ import annotations

import dataclasses
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.safety.input_clean import CleanedInput, clean_input


@pytest.mark.parametrize(
    ("raw", "text", "problem"),
    [
        # empty
        ("", "", "empty"),
        ("     ", "", "empty"),
        (" \n\t \r\n ", "", "empty"),
        ("\x00\x01\x7f\u200b\ufeff", "", "empty"),
        ("<b></b><script>hello</script>", "", "empty"),
        ("///", "", "empty"),
        ("/ / \n /", "", "empty"),
        # emoji / symbols only
        ("😀🎉👍", "😀🎉👍", "no_words"),
        ("!!! ???", "!!! ???", "no_words"),
        ("👨\u200d👩\u200d👧", "👨\u200d👩\u200d👧", "no_words"),
        ("🙂 1", "🙂 1", None),
        # Rasa command syntax neutralised
        ("/restart", "restart", None),
        ("//ask_health{...}", "ask_health{...}", None),
        ('/intent{"x":1}', 'intent{"x":1}', None),
        (" / /restart", "restart", None),
        ("&#47;restart", "restart", None),
        ("<b>/restart</b>", "restart", None),
        ("/\u200d/restart", "restart", None),
        ("hej /restart", "hej /restart", None),
        # markup
        ("<b>hi</b><script>x</script>", "hi", None),
        ("<style>p { color: red }</style>hej", "hej", None),
        ("<p>Hej</p><p>med dig</p>", "Hej\nmed dig", None),
        ("line<br>break", "line\nbreak", None),
        ("Tom &amp; Jerry &lt;3", "Tom & Jerry <3", None),
        ("I have <5 kr and a <3 for you", "I have <5 kr and a <3 for you", None),
        ("hi <script>alert(1)", "hi", None),
        # control and format characters, whitespace
        ("he\x00l\x07lo", "hello", None),
        ("hej\x00 med\u202e dig\ufeff", "hej med dig", None),
        ("a\tb", "a b", None),
        ("a\r\nb", "a\nb", None),
        ("a \n\n\n  b", "a\nb", None),
        ("  lots    of   space  ", "lots of space", None),
        # NFC
        ("Ae\u0301rø", "Aérø", None),
        ("Ae\u200b\u0301rø", "Aérø", None),
        ("Ae<b></b>\u0301rø", "Aérø", None),
        # non-Latin scripts unchanged
        ("مرحبا، أحتاج مساعدة في السكن", "مرحبا، أحتاج مساعدة في السكن", None),
        ("ሰላም ከመይ ኣለኹም", "ሰላም ከመይ ኣለኹም", None),
        ("Привет, мне нужна помощь", "Привет, мне нужна помощь", None),
        ("می\u200cخواهم", "می\u200cخواهم", None),
        ("١٢٣", "١٢٣", None),
    ],
)
def test_clean_cases(raw: str, text: str, problem: str | None) -> None:
    assert clean_input(raw) == CleanedInput(text, problem)


def test_arabic_text_unchanged() -> None:
    arabic = "أنا بحاجة إلى مساعدة في العثور على مدرسة لابني"
    assert clean_input(arabic) == CleanedInput(arabic, None)


def test_ten_thousand_chars_cut_at_word_boundary() -> None:
    result = clean_input("ord " * 2500)
    assert result.problem == "too_long"
    assert result.text == ("ord " * 250).rstrip()
    assert len(result.text) == 999


def test_ten_thousand_chars_without_spaces_hard_cut() -> None:
    assert clean_input("a" * 10_000) == CleanedInput("a" * 1000, "too_long")


def test_exactly_max_chars_is_fine() -> None:
    assert clean_input("a" * 1000) == CleanedInput("a" * 1000, None)
    assert clean_input("a" * 1001).problem == "too_long"


def test_custom_max_chars() -> None:
    assert clean_input("one two three", max_chars=9) == CleanedInput("one two", "too_long")
    assert clean_input("one two three", max_chars=7) == CleanedInput("one two", "too_long")


def test_emoji_flood_is_no_words_and_truncated() -> None:
    result = clean_input("😀" * 5000)
    assert result == CleanedInput("😀" * 1000, "no_words")


def test_huge_raw_input_is_capped() -> None:
    result = clean_input("hej " * 100_000)
    assert result.problem == "too_long"
    assert len(result.text) <= 1000


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_bad_max_chars(bad: object) -> None:
    with pytest.raises(ValueError):
        clean_input("hej", max_chars=bad)  # type: ignore[arg-type]


def test_non_str_rejected() -> None:
    with pytest.raises(TypeError):
        clean_input(b"/restart")  # type: ignore[arg-type]


def test_cleaned_input_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        clean_input("hej").text = "x"  # type: ignore[misc]


# ── properties ────────────────────────────────────────────────────────────────────────────

_TRICKY = st.sampled_from(
    [
        "/", "//", " ", "\n", "\t", "\r", "\r\n", "\x00", "\x1b", "\x7f", "\x85", "\u2028",
        "\u200b", "\u200c", "\u200d", "\u202e", "\ufeff", "\u00a0", "\u3000",
        "<b>", "</b>", "<p>", "<br/>", "<script>", "</script>", "<style>", "<!--", "-->", "<", ">",
        "&#47;", "&#x2f;", "&sol;", "&amp;", "&lt;", "&#0;", "&#1;", "&#x85;", "&nbsp;",
        "restart", "intent{\"x\":1}", "hej", "مرحبا", "ሰላም", "😀", "e\u0301",
    ]
)
_MESSY_TEXT = st.one_of(
    st.text(),
    st.lists(_TRICKY, max_size=30).map("".join),
    st.lists(st.one_of(_TRICKY, st.text(max_size=5)), max_size=20).map("".join),
)


def _assert_clean(raw: str, max_chars: int) -> None:
    result = clean_input(raw, max_chars=max_chars)
    text = result.text
    assert not text.startswith("/")
    assert all(c == "\n" or unicodedata.category(c) != "Cc" for c in text)
    assert all(c in "\u200c\u200d" or unicodedata.category(c) not in ("Cf", "Cs") for c in text)
    assert text == text.strip()
    assert len(text) <= max_chars
    assert unicodedata.is_normalized("NFC", text)
    assert result.problem in (None, "empty", "too_long", "no_words")
    assert (result.problem == "empty") == (text == "")


@settings(max_examples=500, deadline=None)
@given(_MESSY_TEXT)
def test_property_never_starts_with_slash_and_no_control_chars(raw: str) -> None:
    _assert_clean(raw, 1000)


@settings(max_examples=300, deadline=None)
@given(_MESSY_TEXT, st.integers(min_value=1, max_value=40))
def test_property_small_limits(raw: str, max_chars: int) -> None:
    _assert_clean(raw, max_chars)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Zs", "Zl", "Zp")), min_size=1))
def test_property_visible_text_without_markup_is_kept(raw: str) -> None:
    # text with no whitespace, markup, entities or leading slash comes back unchanged
    raw = unicodedata.normalize("NFC", raw)
    if raw.startswith("/") or "<" in raw or "&" in raw or len(raw) > 1000:
        return
    assert clean_input(raw).text == raw
