"""What counts as a Chinese character: the one definition every package uses."""

from __future__ import annotations

import re

# CJK unified ideographs (the basic block, extension A, extensions B–H and beyond in planes 2–3),
# compatibility ideographs and their supplement, and 〇 (a numeral written in poems: 〇 = 零).
HAN_RANGES = "\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003ffff"
_HAN = re.compile(f"[{HAN_RANGES}]")
_NOT_HAN = re.compile(f"[^{HAN_RANGES}]")


def is_han(ch: str) -> bool:
    """One Chinese character."""
    return len(ch) == 1 and _HAN.match(ch) is not None


def all_han(text: str) -> bool:
    """A non-empty text made only of Chinese characters."""
    return bool(text) and _NOT_HAN.search(text) is None


def han_only(text: str) -> str:
    """The Chinese characters of a text, in order."""
    return "".join(_HAN.findall(text))
