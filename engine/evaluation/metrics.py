"""Small text metrics of generated poems: shape, diversity, repetition, keyword use.

A poem is handled as a tuple of lines (clauses without punctuation). Every function is pure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from engine.errors import InvalidInput
from engine.prosody.forms import form_for_shape
from engine.text.cleaning import normalise_punctuation
from engine.text.han import is_han
from engine.text.poem_text import split_poem
from engine.text.script import to_simplified

Lines = Sequence[str]
_SEPARATORS = re.compile(r"[，。；：！？、\s]+")


def parse_lines(text: str) -> tuple[str, ...]:
    """Simplified lines of a poem as the checker reads it (engine.text.poem_text.split_poem).

    Text the checker refuses (Latin letters, digits, stray symbols) is split at punctuation and
    whitespace with those characters kept, so its shape check fails but its characters count.
    """
    try:
        return split_poem(text).lines
    except InvalidInput:
        text = normalise_punctuation(to_simplified(text.replace("\r", "\n")))
        return tuple(part for part in _SEPARATORS.split(text) if part)


def detect_form(lines: Lines) -> str | None:
    """wujue / qijue / wulv / qilv when the lines have exactly that shape (all Chinese characters)."""
    if not lines or len({len(line) for line in lines}) != 1:
        return None
    if not all(is_han(ch) for line in lines for ch in line):
        return None
    form = form_for_shape(len(lines[0]), len(lines))
    return form.name if form else None


def format_valid(lines: Lines, form: str | None = None) -> bool:
    """The poem has exactly the shape of `form`, or of any of the four forms when `form` is None."""
    detected = detect_form(lines)
    return detected is not None and (form is None or detected == form)


def ngrams(line: str, n: int) -> list[str]:
    """Character n-grams of one line (never across a line break)."""
    return [line[i : i + n] for i in range(len(line) - n + 1)]


def distinct_n(poems: Iterable[Lines], n: int) -> float | None:
    """Unique n-grams / all n-grams over a set of poems (Li et al., 2016); None without n-grams."""
    total = 0
    unique: set[str] = set()
    for lines in poems:
        for line in lines:
            grams = ngrams(line, n)
            total += len(grams)
            unique.update(grams)
    return len(unique) / total if total else None


def repetition(lines: Lines) -> float:
    """Share of repeated characters within one poem: 1 - unique characters / characters."""
    chars = "".join(lines)
    return 1.0 - len(set(chars)) / len(chars) if chars else 0.0


def keyword_hit(lines: Lines, keyword: str, acrostic: bool = False) -> bool:
    """Every keyword character is in the poem; in acrostic mode, line i opens with keyword[i]."""
    if acrostic:
        return len(keyword) <= len(lines) and all(
            line[:1] == ch for line, ch in zip(lines, keyword, strict=False)
        )
    text = "".join(lines)
    return all(ch in text for ch in keyword)


def keyword_in_first_couplet(lines: Lines, keyword: str) -> bool:
    """Every keyword character appears in the first two lines."""
    head = "".join(lines[:2])
    return bool(keyword) and all(ch in head for ch in keyword)


def mean(values: Iterable[float | bool | None]) -> float | None:
    """Mean of the values that are not None; None when there are none."""
    vals = [float(v) for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None
