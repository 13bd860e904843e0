"""Simplified and traditional script: the one pair of OpenCC converters every package uses."""

from __future__ import annotations

from functools import cache

import opencc


@cache
def _converter(config: str) -> opencc.OpenCC:
    return opencc.OpenCC(config)


def to_simplified(text: str) -> str:
    """OpenCC t2s (phrase-aware traditional → simplified)."""
    return _converter("t2s").convert(text)


def to_traditional(text: str) -> str:
    """OpenCC s2t, phrase-aware: 头发 → 頭髮, 发现 → 發現, 干净 → 乾淨, 树干 → 樹幹."""
    return _converter("s2t").convert(text)


def to_simplified_per_char(line: str) -> str:
    """t2s keeping the length: where a phrase conversion would change it, convert character by character."""
    out = to_simplified(line)
    if len(out) != len(line):
        out = "".join(c if len(s := to_simplified(c)) != 1 else s for c in line)
    return out
