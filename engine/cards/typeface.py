"""The shipped card fonts (engine/cards/fonts/, see SOURCE.md there): which one has a character, and
each character's glyph as a cached mask.

YinshiKai.ttf (a cut of LXGW WenKai) has everything but a few rare Extension A/B/G characters of the
vocabulary, which YinshiRare.ttf and YinshiRareExt.ttf carry. Glyphs are centred on the ink of
REFERENCE, so that characters from different fonts sit on one line.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

from fontTools.ttLib import TTFont
from PIL import Image, ImageDraw, ImageFont

FONT_DIR = Path(__file__).parent / "fonts"
FONT_FILES = (FONT_DIR / "YinshiKai.ttf", FONT_DIR / "YinshiRare.ttf", FONT_DIR / "YinshiRareExt.ttf")
CHARS_FILE = (
    FONT_DIR / "chars.txt"
)  # every character the fonts cover: vocabularies, traditional forms, card text
REFERENCE = "国"  # in every card font: a full-size ideograph whose ink centre is the line's centre


@dataclass(frozen=True)
class Glyph:
    mask: Image.Image  # 'L' coverage, cropped to the ink
    dx: int  # offset of the mask's top left from the point the glyph is centred on
    dy: int


@cache
def _fallbacks() -> tuple[frozenset[int], ...]:
    """The code points of the fallback fonts (small files: read once)."""
    return tuple(frozenset(TTFont(path, lazy=True).getBestCmap()) for path in FONT_FILES[1:])


def font_index(ch: str) -> int:
    """Which of FONT_FILES draws `ch` (0, the Kai font, unless a fallback has it)."""
    for i, cps in enumerate(_fallbacks(), start=1):
        if ord(ch) in cps:
            return i
    return 0


_FREETYPE = threading.Lock()  # a FreeType face is not safe to use from two threads at once


@cache
def _face(index: int, size: int) -> ImageFont.FreeTypeFont:
    """FONT_FILES[index] at `size` px (basic layout: the renderer places characters itself)."""
    return ImageFont.truetype(str(FONT_FILES[index]), size, layout_engine=ImageFont.Layout.BASIC)


@cache
def _centre_y(index: int, size: int) -> float:
    """The height of REFERENCE's ink centre relative to the baseline, in px (negative: above)."""
    _, y0, _, y1 = _face(index, size).getbbox(REFERENCE, anchor="ls")
    return (y0 + y1) / 2


@lru_cache(maxsize=4096)  # ~35 MB of masks at most: the commonest characters of each size
def glyph(ch: str, size: int) -> Glyph | None:
    """`ch` at `size` px, its advance centred horizontally and REFERENCE's ink centred vertically on
    (0, 0) when drawn at its offset: so ideographs line up, and the vertical punctuation forms ︐︒
    stay where the font puts them (top right of the square). None for a character without ink."""
    index = font_index(ch)
    with _FREETYPE:
        font = _face(index, size)
        x0, y0, x1, y1 = font.getbbox(ch, anchor="ls")
        if x1 <= x0 or y1 <= y0:
            return None
        mask = Image.new("L", (x1 - x0, y1 - y0))
        ImageDraw.Draw(mask).text((-x0, -y0), ch, fill=255, font=font, anchor="ls")
        return Glyph(mask, round(x0 - font.getlength(ch) / 2), round(y0 - _centre_y(index, size)))


def text_line(text: str, size: int) -> Image.Image:
    """`text` (Latin letters, digits: no fallback fonts) set in a line at `size` px, as 'L' coverage
    of height 2 × size with the text's middle on the middle row."""
    with _FREETYPE:
        font = _face(0, size)
        im = Image.new("L", (max(1, math.ceil(font.getlength(text))), 2 * size))
        ImageDraw.Draw(im).text((0, size), text, fill=255, font=font, anchor="lm")
    return im
