"""Cleaning of raw user text, done first, before crisis detection and NLU.

``clean_input`` turns whatever a channel delivers (SMS, web widget, pasted HTML) into plain
text that is safe to pass on. It also reports the one problem the gateway should answer
instead of running NLU:

* ``"empty"``    nothing is left after cleaning (only whitespace, control or format characters,
  markup, or slashes);
* ``"no_words"`` no letter or digit in any script, only emoji, symbols or punctuation;
* ``"too_long"`` more than ``max_chars`` characters after cleaning. The text is cut to at most
  ``max_chars`` characters at a word boundary (a hard cut when no boundary exists).

When more than one applies, the order is empty > no_words > too_long. The returned text is
never longer than ``max_chars``.

Steps, in order:

1. Unicode NFC. ``\\r\\n``, ``\\r``, VT, FF, NEL, U+2028 and U+2029 become ``\\n``.
2. Control characters (Cc) are removed, except ``\\n`` and ``\\t``. Format characters (Cf) are
   removed too: bidi overrides, zero-width space, BOM, soft hyphen and so on. ZWNJ/ZWJ
   (U+200C/U+200D) are kept inside words, because Persian spelling and emoji sequences need
   them. They are dropped at the edges of words.
3. HTML/XML tags are removed but their text is kept. Anything inside ``<script>`` or
   ``<style>`` is dropped. Comments and declarations are dropped. Entities are decoded (one
   pass). Block tags such as ``<p>`` and ``<br>`` become line breaks. Steps 2 and 1 then run
   again, because decoded entities can produce new control characters and removals can leave
   a combining mark next to its base character.
4. Whitespace: a run that contains a line break becomes a single ``\\n``. Any other run,
   including tabs, becomes a single space. The ends are stripped.
5. Rasa command syntax is neutralised. Any leading run of ``/`` and whitespace is removed, so
   ``/restart`` becomes ``restart`` and ``//intent{"x":1}`` becomes ``intent{"x":1}``. The
   result never starts with ``/``, so Rasa can never read it as an intent or entity injection.

Non-Latin scripts (Arabic, Tigrinya/Ge'ez, Cyrillic, ...) pass through unchanged, apart from
NFC. The output is plain text. Whoever renders it into HTML must escape it (``&lt;b&gt;``
comes out as the literal ``<b>``).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from html.parser import HTMLParser

__all__ = ["CleanedInput", "clean_input", "EMPTY", "TOO_LONG", "NO_WORDS"]

EMPTY = "empty"
TOO_LONG = "too_long"
NO_WORDS = "no_words"

# Raw input beyond this many characters is cut before any parsing (it is reported as
# too_long), so a huge paste cannot make the HTML parser or the regexes slow.
_RAW_CAP_FACTOR = 20
_RAW_CAP_MIN = 20_000

_JOINERS = "\u200c\u200d"  # ZWNJ, ZWJ: kept inside words only
_NEWLINES = re.compile(r"\r\n|[\r\x0b\x0c\x85\u2028\u2029]")
_EDGE_JOINERS = re.compile(rf"(?:(?<=\s)|^)[{_JOINERS}]+|[{_JOINERS}]+(?=\s|$)")
_WHITESPACE = re.compile(r"\s+")
_COMMAND_PREFIX = re.compile(rf"^[\s/{_JOINERS}]+")
_TRAILING = re.compile(rf"[\s{_JOINERS}]+$")


@dataclass(frozen=True)
class CleanedInput:
    """Cleaned text, plus the problem the gateway should reply to (None when the text is fine)."""

    text: str
    problem: str | None


def _drop_invisible(s: str) -> str:
    """Remove control (Cc), format (Cf) and surrogate (Cs) characters, keeping \\n, \\t, ZWNJ and ZWJ."""
    out = []
    for c in s:
        if c in "\n\t" or c in _JOINERS:
            out.append(c)
            continue
        if unicodedata.category(c) in ("Cc", "Cf", "Cs"):
            continue
        out.append(c)
    return "".join(out)


class _TextExtractor(HTMLParser):
    _SKIP = frozenset({"script", "style"})
    _BLOCK = frozenset(
        "address article aside blockquote br dd div dl dt fieldset figcaption figure footer form "
        "h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section table tbody td tfoot th thead "
        "title tr ul".split()
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        # <br/>, <script/>: a self-closing script or style tag has no content to skip
        if tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def _strip_markup(s: str) -> str:
    if "<" not in s and "&" not in s:
        return s
    parser = _TextExtractor()
    parser.feed(s)
    parser.close()
    return "".join(parser.parts)


def _collapse_whitespace(s: str) -> str:
    return _WHITESPACE.sub(lambda m: "\n" if "\n" in m.group() else " ", s)


def _truncate(s: str, max_chars: int) -> str:
    """Cut *s* to at most *max_chars* characters, at the last whitespace when there is one."""
    if len(s) <= max_chars:
        return s
    cut = s[:max_chars]
    if not s[max_chars].isspace():
        boundary = max(cut.rfind(" "), cut.rfind("\n"))
        if boundary > 0:
            cut = cut[:boundary]
    return _TRAILING.sub("", cut)


def _has_word(s: str) -> bool:
    return any(unicodedata.category(c)[0] in "LN" for c in s)


def clean_input(raw: str, max_chars: int = 1000) -> CleanedInput:
    """Clean one raw user message. See the module docstring for the steps and the problem codes."""
    if not isinstance(raw, str):
        raise TypeError(f"raw must be str, not {type(raw).__name__}")
    if isinstance(max_chars, bool) or not isinstance(max_chars, int) or max_chars < 1:
        raise ValueError(f"max_chars must be a positive int, got {max_chars!r}")

    raw_cap = max(_RAW_CAP_MIN, _RAW_CAP_FACTOR * max_chars)
    capped = len(raw) > raw_cap
    s = raw[:raw_cap] if capped else raw

    s = _drop_invisible(_NEWLINES.sub("\n", unicodedata.normalize("NFC", s)))
    s = _strip_markup(s)
    # NFC again after removals and decoding, so a mark freed from "e<b></b>\u0301" composes
    s = unicodedata.normalize("NFC", _drop_invisible(_NEWLINES.sub("\n", s)))
    s = _EDGE_JOINERS.sub("", s)
    s = _collapse_whitespace(s)
    s = _COMMAND_PREFIX.sub("", s)
    s = _TRAILING.sub("", s)

    if not s:
        return CleanedInput("", EMPTY)
    too_long = capped or len(s) > max_chars
    s = _truncate(s, max_chars)
    if not _has_word(s):
        return CleanedInput(s, NO_WORDS)
    return CleanedInput(s, TOO_LONG if too_long else None)
