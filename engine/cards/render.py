"""Poem cards: a poem typeset 竖排 (columns read right to left) on letter paper, as a PNG.

    png = render_card(["春眠不觉晓，", "处处闻啼鸟。", ...], title="春", footer="五绝 · gan-1a2b3c4d")

The card is 诗笺 letter paper: a double frame and column rules in faded vermilion (朱丝栏), the title
in red in the rightmost column, the lines to its left with their punctuation in the vertical forms
(︐︒: top right of a half cell), and in the leftmost column a quiet grey footer (落款) over a red
seal with the characters cut white (白文印). Cards are HEIGHT px tall and as wide as the columns
need, 3:4 to 4:3: whole in a Telegram photo and a Discord embed. Examples: docs/cards/.

Rendering is cheap because little is drawn per card: the paper, frame, rules and seal of a layout
are drawn once and cached as palette indices; a card pastes cached glyph masks into a coverage
layer, maps it onto the palette's ramp from paper to ink and writes a palette PNG (~12 ms).
"""

from __future__ import annotations

import io
import math
import re
import string
import zlib
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageChops, ImageDraw, ImageFilter

from engine.cards.typeface import glyph, text_line

HEIGHT = 1080
MAX_WIDTH = HEIGHT * 4 // 3
MIN_WIDTH = HEIGHT * 3 // 4
PAPER = (246, 238, 222)  # 宣纸
INK = (38, 33, 30)  # 墨
RULE = (214, 140, 118)  # faded vermilion of the frame and column rules
SEAL = (184, 43, 36)  # 朱砂 of the seal
TITLE = (178, 52, 40)  # 朱 of the title
FOOTER_INK = 0.55  # the footer's share of ink on paper: a quiet grey
# The palette: four ramps of 64 steps from paper to a colour (index 0 is paper). A card is made of
# palette indices, so that ink, whose indices are above 0, goes onto paper by taking the maximum.
SEAL_AT, RULE_AT, INK_AT, TITLE_AT = 0, 64, 128, 192
PALETTE = [
    round(p + (c - p) * i / 63)
    for colour in (SEAL, RULE, INK, TITLE)
    for i in range(64)
    for p, c in zip(PAPER, colour, strict=True)
]

VERTICAL = str.maketrans("，。、：；！？", "︐︒︑︓︔︕︖")  # vertical presentation forms
PUNCTUATION = "，。、：；！？︐︒︑︓︔︕︖·"
FORM_NAMES = "五绝七绝五律七律五絕七絕藏头藏頭"
CARD_TEXT = string.printable[:95] + PUNCTUATION + FORM_NAMES + "吟诗吟詩"  # what a card prints besides poems


@dataclass(frozen=True)
class Layout:
    """Where everything goes on a card of `n_lines` columns of `line_len` characters."""

    width: int
    size: int  # px of a poem character
    advance: float  # px from one character's centre to the next in a column
    pitch: float  # px between column centres
    frame: tuple[int, int, int, int]  # the inner frame line: left, top, right, bottom
    top: float  # centre of a column's first character
    columns: tuple[float, ...]  # centres: the title column, then the lines' (right to left), then the seal's
    seal: tuple[int, int, int]  # left, top and side of the seal

    @property
    def small(self) -> int:
        """px of the title's characters (fewer, if they would not fit)."""
        return round(0.8 * self.size)

    @property
    def tiny(self) -> int:
        """px of the footer's characters."""
        return max(20, round(0.3 * self.size))


MARGIN = 64  # paper edge to the inner frame line
PUNCT = 0.55  # height of a punctuation cell, in characters


@lru_cache(maxsize=64)
def layout(n_lines: int, line_len: int) -> Layout:
    """The geometry of a card for `n_lines` lines of `line_len` characters (plus punctuation)."""
    if not 1 <= n_lines <= 12 or not 1 <= line_len <= 12:
        raise ValueError("a card holds 1-12 lines of 1-12 characters / 诗卡最多十二行、每行十二字")
    strips = n_lines + 2  # the title's column, the lines', the seal's
    inner_h = HEIGHT - 2 * MARGIN
    size = min(112, inner_h / (line_len * 1.1 + PUNCT + 1.2))  # by height: 1.1 em a character
    pitch = min(1.6 * size, (MAX_WIDTH - 2 * MARGIN) / strips)  # by width
    size = math.floor(min(size, pitch / 1.35))  # characters fill at most 3/4 of a column
    pitch = min(1.6 * size, pitch)
    # characters spread out to fill the column (at most 1.3 em)
    advance = min(1.3 * size, (inner_h - (1.2 + PUNCT) * size) / line_len)
    width = max(MIN_WIDTH, round(strips * pitch + 2 * MARGIN))
    left = (width - strips * pitch) / 2
    frame = (round(left), MARGIN, round(left + strips * pitch), HEIGHT - MARGIN)
    used = line_len * advance + PUNCT * size
    top = frame[1] + (frame[3] - frame[1] - used) / 2 + advance / 2
    columns = tuple(frame[2] - (i + 0.5) * pitch for i in range(strips))
    side = round(min(0.75 * pitch, 0.9 * size))
    seal = (round(columns[-1] - side / 2), round(top + used - advance / 2 - side), side)
    return Layout(width, size, advance, pitch, frame, top, columns, seal)


def render_card(lines: list[str], title: str, footer: str, *, seal: str = "吟诗") -> bytes:
    """The PNG of a card: `lines` (each with its punctuation, 春眠不觉晓，) in columns from right to
    left, `title` (the keyword, or the 藏头 heads) in red in the column right of them, `footer` (form ·
    model version) small and grey over `seal` (1-4 characters, cut white in a red square) at the left."""
    if not lines or not all(lines):
        raise ValueError("a card needs at least one non-empty line / 诗卡至少要有一行诗")
    if not 1 <= len(seal) <= 4:
        raise ValueError("a seal holds 1-4 characters / 印章须一至四字")
    cols = [line.translate(VERTICAL) for line in lines]
    geo = layout(len(cols), max(sum(ch not in PUNCTUATION for ch in c) for c in cols))
    ink = Image.new("L", (geo.width, HEIGHT))
    for x, col in zip(geo.columns[1:], cols, strict=False):
        _column(ink, col, geo.size, geo.advance, x, geo.top)
    if footer.strip():
        bottom = round(geo.seal[1] - 0.4 * geo.tiny)
        strip = _footer(footer.strip(), geo.tiny, bottom - geo.frame[1] - geo.size)
        ink.paste(
            round(255 * FOOTER_INK), (round(geo.columns[-1] - strip.width / 2), bottom - strip.height), strip
        )
    card = ImageChops.lighter(_background(geo, seal), ink.point(_INK))  # ink falls on paper only
    if title := title.translate(VERTICAL)[:12]:
        red = _title(title, geo)
        card.paste(red.point(_TITLE), (round(geo.columns[0] - geo.pitch / 2), 0), red.point(_ANY))
    card.putpalette(PALETTE)
    out = io.BytesIO()
    card.save(out, format="PNG", compress_type=zlib.Z_RLE)  # runs of paper: 5x faster than the default
    return out.getvalue()


def _column(layer: Image.Image, text: str, size: int, advance: float, x: float, y: float) -> None:
    """`text` down a column centred on x, its first character centred on y."""
    for ch in text:
        if ch in PUNCTUATION:  # the vertical form sits in the top right of an em: keep its top half
            _paste(layer, ch, size, x, y - advance / 2 + size / 2)
            y += PUNCT * size
        else:
            _paste(layer, ch, size, x, y)
            y += advance


def _paste(layer: Image.Image, ch: str, size: int, x: float, y: float) -> None:
    """Add `ch` to a coverage layer, centred on (x, y)."""
    g = glyph(ch, size)
    if g is not None:
        layer.paste(255, (round(x) + g.dx, round(y) + g.dy), g.mask)


def _title(title: str, geo: Layout) -> Image.Image:
    """Coverage of the title's column (full height): one cell lower than the lines, or level with
    them when that is too long (the 藏头 heads of a 律诗), in smaller characters if need be."""
    red = Image.new("L", (round(geo.pitch), HEIGHT))
    bottom = geo.frame[3] - 0.4 * geo.size  # the lowest a character may reach
    n = len(title)
    start = geo.top + geo.advance
    if start + 1.1 * geo.small * (n - 1) + geo.small / 2 > bottom:
        start = geo.top
    size = min(geo.small, math.floor((bottom - start) / (1.1 * (n - 1) + 0.5)))
    _column(red, title, size, 1.1 * size, geo.pitch / 2, start)
    return red


_UPRIGHT = re.compile(r"[\u2e80-\U0003ffff·]|[^\u2e80-\U0003ffff·]+")


@lru_cache(maxsize=64)
def _footer(text: str, size: int, max_height: int) -> Image.Image:
    """Coverage of the footer set down a column (落款): Chinese upright, runs of Latin letters and
    digits turned a quarter clockwise, as vertical typesetting does; shrunk to `max_height` px."""
    parts = []  # coverage of each upright character or turned run, top to bottom
    for run in _UPRIGHT.findall(text):
        if len(run) == 1 and (ord(run) >= 0x2E80 or run == "·"):
            im = Image.new("L", (2 * size, size))
            _paste(im, run, size, size, size / 2)
            parts.append(im)
        elif run := run.strip():
            parts.append(text_line(run, size).transpose(Image.Transpose.ROTATE_270))
    gap = round(0.15 * size)
    strip = Image.new("L", (2 * size, sum(p.height + gap for p in parts)))
    y = 0
    for p in parts:
        strip.paste(p, ((strip.width - p.width) // 2, y))
        y += p.height + gap
    if strip.height > max_height:
        scale = max_height / strip.height
        strip = strip.resize((max(1, round(strip.width * scale)), max_height), Image.Resampling.LANCZOS)
    return strip


def _ramp(at: int) -> list[int]:
    """Coverage 0-255 → palette index on the ramp at `at` (0: none, left for what lies beneath)."""
    return [0] + [at + max(1, round(v * 63 / 255)) for v in range(1, 256)]


_SEAL, _INK, _TITLE = _ramp(SEAL_AT), _ramp(INK_AT), _ramp(TITLE_AT)
_ANY = [0] + [255] * 255


@lru_cache(maxsize=64)
def _background(geo: Layout, seal: str) -> Image.Image:
    """Paper, the double frame, the column rules and the seal, as palette indices ('L', so that
    pasting and taking the maximum work on indices)."""
    im = Image.new("L", (geo.width, HEIGHT), 0)
    d = ImageDraw.Draw(im)
    rule = RULE_AT + 63
    left, top, right, bottom = geo.frame
    d.rectangle((left - 9, top - 9, right + 9, bottom + 9), outline=rule, width=4)  # 文武边: thick outside
    d.rectangle((left, top, right, bottom), outline=rule, width=2)
    for i in range(1, len(geo.columns)):
        x = round(right - i * geo.pitch)
        d.line((x, top, x, bottom), fill=rule, width=2)
    x, y, side = geo.seal
    mask = _seal_mask(seal, side)
    im.paste(mask.point(_SEAL), (x, y), mask.point(_ANY))
    return im


@lru_cache(maxsize=16)
def _seal_mask(text: str, side: int) -> Image.Image:
    """A square seal: 'L' coverage of the red, with the characters cut out (right column first)."""
    mask = Image.new("L", (side, side))
    ImageDraw.Draw(mask).rounded_rectangle((0, 0, side - 1, side - 1), radius=max(2, side // 14), fill=255)
    rows = 1 if len(text) <= 2 else 2
    cols = math.ceil(len(text) / rows)
    pad = side * 0.1
    cw, ch = (side - 2 * pad) / cols, (side - 2 * pad) / rows
    big = round(max(cw, ch) * 1.05)
    for i, c in enumerate(text):
        g = glyph(c, big)
        if g is None:
            continue
        cell = Image.new("L", (big, big))
        cell.paste(255, (big // 2 + g.dx, big // 2 + g.dy), g.mask)
        cell = cell.filter(ImageFilter.MaxFilter(3)).resize((round(cw), round(ch)), Image.Resampling.LANCZOS)
        col, row = divmod(i, rows)
        x = round(side - pad - (col + 1) * cw)
        y = round(pad + row * ch)
        mask.paste(0, (x, y), cell)
    return mask
