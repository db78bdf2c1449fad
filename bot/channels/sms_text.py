"""SMS segment arithmetic: GSM-7 when every character allows it (160 septets alone, 153 per part of
a long message; the extension characters cost two), otherwise UCS-2 (70 UTF-16 units alone, 67
per part). Also the cut of a long reply into what fits a segment budget plus a continuation.
"""
from __future__ import annotations

from dataclasses import dataclass

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")
GSM7, UCS2 = "GSM-7", "UCS-2"
LIMITS = {GSM7: (160, 153), UCS2: (70, 67)}  # (alone, per part of a concatenated message)

# Typographic characters with a plain GSM-7 equivalent; replacing them keeps a Danish or
# English reply at 160 characters per segment instead of 70.
GSM7_LOOKALIKES = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2212": "-",
    "\u00a0": " ", "\u2007": " ", "\u2009": " ", "\u202f": " ", "\u2026": "...", "\u2022": "-",
})


def is_gsm7(text: str) -> bool:
    return all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in text)


def encoding(text: str) -> str:
    return GSM7 if is_gsm7(text) else UCS2


def gsm7_when_possible(text: str) -> str:
    """The text with typographic punctuation made plain, if that makes it GSM-7; else unchanged."""
    plain = text.translate(GSM7_LOOKALIKES)
    return plain if is_gsm7(plain) else text


def units(char: str, scheme: str) -> int:
    if scheme == GSM7:
        return 2 if char in GSM7_EXTENSION else 1
    return 2 if ord(char) > 0xFFFF else 1  # a surrogate pair in UTF-16


def segments(text: str) -> list[str]:
    """The parts a phone receives; a two-unit character is never split across parts."""
    scheme = encoding(text)
    alone, per_part = LIMITS[scheme]
    if sum(units(char, scheme) for char in text) <= alone:
        return [text] if text else []
    parts, current, used = [], [], 0
    for char in text:
        cost = units(char, scheme)
        if used + cost > per_part:
            parts.append("".join(current))
            current, used = [], 0
        current.append(char)
        used += cost
    parts.append("".join(current))
    return parts


def segment_count(text: str) -> int:
    return len(segments(text))


@dataclass(frozen=True)
class Cut:
    now: str   # what is sent now (ends with the continuation when something is kept)
    kept: str  # what the person gets on replying MORE; empty when nothing is left


def cut(text: str, max_segments: int, continuation: str) -> Cut:
    """The longest head (at a word boundary when there is one) that, with the continuation after
    it, fits in max_segments; the rest is kept."""
    if segment_count(text) <= max_segments:
        return Cut(text, "")

    def fits(end: int) -> bool:
        return segment_count(f"{text[:end].rstrip()}\n{continuation}") <= max_segments

    if not fits(1):
        raise ValueError(f"the continuation alone does not fit in {max_segments} segment(s)")
    low, high = 1, len(text)  # fits(low) holds, fits(high) does not
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if fits(middle) else (low, middle)
    boundary = max(text.rfind(" ", 0, low + 1), text.rfind("\n", 0, low + 1))
    end = boundary if boundary > low // 2 else low
    head, kept = text[:end].rstrip(), text[end:].lstrip()
    return Cut(f"{head}\n{continuation}", kept) if kept else Cut(head, "")
