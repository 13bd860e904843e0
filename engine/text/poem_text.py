"""Turn a poem as a user types it into lines of simplified Chinese characters, or refuse it.

Lines are separated by punctuation (，。？！；、 …), newlines and spaces; quotes and brackets are
dropped. Traditional characters are converted with OpenCC t2s. A poem typed without any
separators (20, 28, 40 or 56 characters), or one couplet per line, is split into its lines.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from engine.errors import InvalidInput
from engine.text.han import is_han
from engine.text.script import to_simplified_per_char

MAX_POEM_CHARS = 200
SHAPES = {(5, 4), (7, 4), (5, 8), (7, 8)}  # (characters per line, lines)
DROPPED_CATEGORIES = {"Ps", "Pe", "Pi", "Pf", "Cf", "Mn"}  # brackets, quotes, invisible marks
BREAK_CATEGORIES = {"Po", "Pd", "Pc", "Zs", "Zl", "Zp", "Cc"}  # punctuation, spaces, newlines


@dataclass(frozen=True)
class PoemText:
    lines: tuple[str, ...]  # simplified characters, one string per line
    original: tuple[str, ...]  # the same lines as typed (traditional stays traditional)

    @property
    def shape(self) -> tuple[int, int] | None:
        """(characters per line, number of lines) when every line has the same length."""
        lengths = {len(line) for line in self.lines}
        return (lengths.pop(), len(self.lines)) if len(lengths) == 1 else None


def split_poem(text: str) -> PoemText:
    """Lines of a poem; InvalidInput if it is empty, too long, or mixes in other scripts."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("请发来一首诗（汉字）。", "Please send a poem (in Chinese characters).")
    n_han = sum(1 for ch in text if is_han(ch))
    if n_han > MAX_POEM_CHARS:
        raise InvalidInput(
            f"诗太长了：共 {n_han} 字，最多 {MAX_POEM_CHARS} 字（律诗不过 56 字）。",
            f"The poem is too long: {n_han} characters; at most {MAX_POEM_CHARS} (a 律诗 has 56).",
        )
    lines: list[str] = []
    current: list[str] = []
    foreign: list[str] = []
    for ch in text:
        if is_han(ch):
            current.append(ch)
            continue
        category = unicodedata.category(ch)
        if category in DROPPED_CATEGORIES:
            continue
        if category in BREAK_CATEGORIES:
            if current:
                lines.append("".join(current))
                current = []
            continue
        if ch not in foreign:
            foreign.append(ch)
    if current:
        lines.append("".join(current))
    if foreign:
        shown = " ".join(repr(c)[1:-1] for c in foreign[:5])
        raise InvalidInput(
            f"诗中只能有汉字和标点，不能有：{shown}",
            f"A poem may hold only Chinese characters and punctuation, not: {shown}",
        )
    if not lines:
        raise InvalidInput("没有找到汉字，请发来一首诗。", "No Chinese characters found; please send a poem.")
    lines = _resplit(lines)
    return PoemText(tuple(to_simplified_per_char(line) for line in lines), tuple(lines))


def _resplit(lines: list[str]) -> list[str]:
    """Split a poem typed without separators, or one couplet per line, into its lines."""
    if len(lines) == 1:
        for size, count in SHAPES:
            if len(lines[0]) == size * count:
                return [lines[0][i : i + size] for i in range(0, len(lines[0]), size)]
    lengths = {len(line) for line in lines}
    if len(lengths) == 1 and (lengths.pop() // 2, 2 * len(lines)) in SHAPES and len(lines[0]) % 2 == 0:
        half = len(lines[0]) // 2
        return [part for line in lines for part in (line[:half], line[half:])]
    return lines
