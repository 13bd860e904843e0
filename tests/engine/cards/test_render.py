"""Poem cards: what a reader sees (columns right to left, punctuation, title, size) and that every
character a shipped model can write, in either script, has a glyph in the shipped fonts."""

from __future__ import annotations

import io
import random
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from fontTools.ttLib import TTFont
from PIL import Image

from engine.cards import render_card
from engine.cards.render import layout
from engine.cards.typeface import CHARS_FILE, FONT_FILES, font_index, glyph
from engine.corpus.vocab import Vocab
from engine.models.checkpoint import load_blob
from engine.text.script import to_traditional

MODELS = Path(__file__).parents[3] / "models"
WUJUE = ["春眠不觉晓，", "处处闻啼鸟。", "夜来风雨声，", "花落知多少。"]
QILV = [
    "风急天高猿啸哀，",
    "渚清沙白鸟飞回。",
    "无边落木萧萧下，",
    "不尽长江滚滚来。",
    "万里悲秋常作客，",
    "百年多病独登台。",
    "艰难苦恨繁霜鬓，",
    "潦倒新停浊酒杯。",
]
POEMS = {  # form: (a poem, the card's size)
    "wujue": (WUJUE, (1203, 1080)),
    "qijue": (["朝辞白帝彩云间，", "千里江陵一日还。", "两岸猿声啼不住，", "轻舟已过万重山。"], (1088, 1080)),
    "wulv": (
        ["国破山河在，", "城春草木深。", "感时花溅泪，", "恨别鸟惊心。"]
        + ["烽火连三月，", "家书抵万金。", "白头搔更短，", "浑欲不胜簪。"],
        (1440, 1080),
    ),
    "qilv": (QILV, (1440, 1080)),
}


def card(lines, title="春", footer="五绝 · gan-2026.11.23", **kw) -> np.ndarray:
    """The card as an (H, W, 3) array of RGB values."""
    return np.asarray(Image.open(io.BytesIO(render_card(lines, title, footer, **kw))).convert("RGB")).astype(
        int
    )


def ink(rgb: np.ndarray) -> np.ndarray:
    """Where the poem's ink is (near-black; the title and seal are red, the footer grey)."""
    return (rgb < 110).all(axis=2)


def red(rgb: np.ndarray) -> np.ndarray:
    return (rgb[..., 0] > 140) & (rgb[..., 1] < 100) & (rgb[..., 2] < 100)


def runs(columns: np.ndarray) -> list[tuple[int, int]]:
    """The [start, end) x ranges where `columns` (a bool per x) is set."""
    edges = np.flatnonzero(np.diff(np.r_[0, columns.astype(int), 0]))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


@pytest.mark.parametrize("form", POEMS)
def test_a_card_is_a_png_of_the_forms_size_with_one_inked_column_per_line(form):
    lines, size = POEMS[form]
    png = render_card(lines, "春", "五绝 · gan-2026.11.23")
    im = Image.open(io.BytesIO(png))
    assert im.format == "PNG" and im.size == size
    assert 3 / 4 <= im.width / im.height <= 4 / 3  # shown whole by Telegram and Discord
    assert len(png) < 400_000
    columns = runs(ink(np.asarray(im.convert("RGB")).astype(int)).any(axis=0))
    assert len(columns) == len(lines)


def test_the_first_line_is_the_rightmost_column_and_the_title_right_of_it():
    base = card(WUJUE)
    columns = runs(ink(base).any(axis=0))
    for i in range(len(WUJUE)):
        changed = [*WUJUE]
        changed[i] = "秋" * 5 + "，"
        xs = np.flatnonzero((card(changed) != base).any(axis=(0, 2)))
        left, right = columns[len(WUJUE) - 1 - i]  # line i: the i-th column from the right
        assert left - 40 <= xs.min() and xs.max() < right + 40
    title_xs = np.flatnonzero(red(base)[:, base.shape[1] // 2 :].any(axis=0)) + base.shape[1] // 2
    assert title_xs.min() > columns[-1][1]


def test_punctuation_sits_at_the_right_of_its_column_below_the_line():
    base = card(["山" * 5, *WUJUE[1:]])
    diff = (card(["山" * 5 + "，", *WUJUE[1:]]) != base).any(axis=2)
    ys, xs = np.nonzero(diff)
    column = ink(base).any(axis=0)
    left, right = runs(column)[-1]
    last_char_bottom = np.flatnonzero(ink(base)[:, left:right].any(axis=1)).max()
    assert xs.min() > (left + right) / 2  # the right half of the column
    assert ys.min() > last_char_bottom  # under the last character


def test_different_poems_make_different_cards_and_the_same_poem_the_same_card():
    assert render_card(WUJUE, "春", "x") == render_card(WUJUE, "春", "x")
    assert (card(WUJUE) != card(["床前明月光，", "疑是地上霜。", "举头望明月，", "低头思故乡。"])).any()


def test_cards_rendered_in_threads_at_once_are_the_cards_rendered_one_by_one():
    poems = [[line.replace(line[0], ch) for line in QILV] for ch in "春夏秋冬风花雪月"]
    glyph.cache_clear()  # the threads draw their glyphs at the same time
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda lines: render_card(lines, "题", "七律 · gan"), poems))
    assert together == [render_card(lines, "题", "七律 · gan") for lines in poems]


def test_the_seal_is_red_at_the_lower_left():
    rgb = card(QILV, seal="吟詩")
    ys, xs = np.nonzero(red(rgb))
    seal = xs < rgb.shape[1] * 0.15  # the title is red too, at the right
    assert seal.sum() > 2000
    assert ys[seal].min() > rgb.shape[0] * 0.6


def test_a_long_title_and_footer_stay_inside_the_frame():
    rgb = card(WUJUE, title="春眠不觉晓处处闻啼鸟夜来", footer="五绝 · gan-" + "0123456789" * 8)
    frame = layout(4, 5).frame
    paper = rgb[0, 0]
    outside = np.r_[rgb[: frame[1] - 14].reshape(-1, 3), rgb[frame[3] + 14 :].reshape(-1, 3)]
    assert (outside == paper).all()
    ys = np.nonzero(red(rgb)[:, rgb.shape[1] // 2 :])[0]
    assert frame[1] < ys.min() and ys.max() < frame[3]


def test_traditional_and_rare_characters_are_drawn_from_the_shipped_fonts():
    lines = [to_traditional(line) for line in WUJUE]
    assert lines[0] == "春眠不覺曉，"
    assert (card(lines, seal="吟詩") != card(WUJUE)).any()
    for ch in "𰬸䆗𫗦":  # Extension G, A and B: in the fallback fonts
        assert font_index(ch) > 0
        g = glyph(ch, 100)
        assert g is not None and 60 < g.mask.width < 110 and np.asarray(g.mask).mean() > 20


def test_bad_input_gets_a_bilingual_error():
    with pytest.raises(ValueError, match="诗卡"):
        render_card([], "春", "")
    with pytest.raises(ValueError, match="印章"):
        render_card(WUJUE, "春", "", seal="吟诗作赋写")
    with pytest.raises(ValueError, match="十二"):
        layout(13, 5)


@cache
def covered() -> str:
    return CHARS_FILE.read_text(encoding="utf-8").rstrip("\n")


def model_characters() -> set[str]:
    """The characters of the shipped models' vocabularies, as scripts/build_card_font.py reads them."""
    chars = set()
    for path in sorted(p.parent for p in MODELS.glob("*/model.pt")):
        chars.update(t for t in Vocab.from_json(load_blob(path)["vocab"]).itos if len(t) == 1)
    assert len(chars) > 7000
    return chars


def test_every_covered_character_has_a_glyph_in_the_font_the_renderer_picks():
    fonts = [TTFont(path, lazy=True) for path in FONT_FILES]
    for ch in covered():
        font = fonts[font_index(ch)]
        name = font.getBestCmap().get(ord(ch))
        assert name not in (None, ".notdef"), f"no glyph for {ch!r} U+{ord(ch):04X}"
        if ord(ch) >= 0x2E80:  # CJK: an outline is drawn (an empty glyph's data has no length)
            gid = font.getGlyphID(name)
            assert font["loca"][gid + 1] > font["loca"][gid], ch


def test_every_character_a_model_can_write_is_covered_in_both_scripts():
    vocab = model_characters()
    assert vocab <= set(covered())
    assert set(to_traditional("".join(sorted(vocab)))) <= set(covered())
    # phrase conversions pick among several traditional forms (发 → 發/髮, 干 → 乾/幹): pairs
    changing = sorted(c for c in vocab if to_traditional(c) != c)
    rng, everything = random.Random(0), sorted(vocab)
    pairs = [a + b for a in changing for b in rng.sample(everything, 50)]
    pairs += [b + a for a in changing for b in rng.sample(everything, 50)]
    pairs += ["头发", "干净", "树干", "发现", "面条", "里面", "一只", "只有"]
    assert set(to_traditional("。".join(pairs))) <= set(covered())
