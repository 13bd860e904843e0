"""Traditional script as an output option (PoemRequest.script, applied by the Poet after decoding),
and the card of a generated poem (engine/cards/poem.py) in its script."""

from __future__ import annotations

import asyncio
import io

import pytest
from PIL import Image

from engine.cards.poem import card_text, poem_card, poem_card_async
from engine.errors import InvalidInput
from engine.request import PoemRequest, PoemResult
from engine.text.script import to_traditional

# One-to-many characters, told apart by the phrase around them (OpenCC s2t's phrase tables)
ONE_TO_MANY = [
    ("白发三千丈，", "白髮三千丈，"),  # 发 hair
    ("春风又发新枝。", "春風又發新枝。"),  # 发 to put forth
    ("干戈满地干净，", "干戈滿地乾淨，"),  # 干 shield stays; 干 dry
    ("树干若干年。", "樹幹若干年。"),  # 干 trunk; 干 in 若干 stays
]


def test_one_to_many_characters_take_the_form_their_phrase_needs():
    poem = PoemResult([s for s, _ in ONE_TO_MANY], "wujue", "gan", "gan-test", "发", 1)
    shown = poem.in_script("traditional")
    assert shown.lines == [t for _, t in ONE_TO_MANY]
    assert shown.script == "traditional"
    assert shown.simplified_lines == poem.lines and shown.simplified_text == poem.text  # what is stored
    assert shown.keyword == "发"  # the key /more writes from stays as the model used it
    assert shown.in_script("traditional") is shown
    with pytest.raises(ValueError):
        shown.in_script("simplified")


def test_the_poet_writes_the_same_poem_in_traditional_script(tiny_poet):
    plain, traditional = tiny_poet.generate_batch(
        [PoemRequest("春", form="qijue", seed=11), PoemRequest("春", form="qijue", seed=11, script="traditional")]
    )
    assert traditional.simplified_lines == plain.lines  # the same poem: conversion comes after decoding
    assert traditional.lines == [to_traditional(line) for line in plain.lines]
    assert traditional.script == "traditional" and plain.script == "simplified" and plain.simplified_lines is None


def test_a_keyword_in_traditional_characters_still_works_in_both_scripts(tiny_poet):
    simplified, traditional = tiny_poet.generate_batch(
        [PoemRequest("風", seed=3), PoemRequest("風", seed=3, script="traditional")]
    )
    assert isinstance(simplified, PoemResult) and isinstance(traditional, PoemResult)
    assert traditional.simplified_lines == simplified.lines


def test_an_unknown_script_is_refused_bilingually(tiny_poet):
    [refused] = tiny_poet.generate_batch([PoemRequest("春", script="繁")])  # type: ignore[arg-type]
    assert isinstance(refused, InvalidInput)
    assert "script" in refused.zh and "script" in refused.en


def card_size(png: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(png)) as image:
        image.load()
        return image.size


def test_a_poems_card_is_titled_and_signed_in_its_script(tiny_poet):
    [poem] = tiny_poet.generate_batch([PoemRequest("春夏秋冬", form="qijue", acrostic=True, seed=2)])
    title, footer, seal = card_text(poem)
    assert (title, seal) == ("春夏秋冬", "吟诗")
    assert footer == f"七绝 · 藏头 · {poem.model_version}"
    shown = poem.in_script("traditional")
    assert card_text(shown) == ("春夏秋冬", f"七絕 · 藏頭 · {poem.model_version}", "吟詩")
    plain_card, traditional_card = poem_card(poem), poem_card(shown)
    assert card_size(plain_card) == card_size(traditional_card) == (1088, 1080)  # 七绝: 4 lines + title + seal
    assert plain_card != traditional_card


async def test_cards_render_off_the_event_loop_and_match_those_rendered_in_place(tiny_poet):
    poems = tiny_poet.generate_batch([PoemRequest("月", form=f, seed=1) for f in ("wujue", "qijue", "wulv", "qilv")])
    ticks = 0

    async def tick() -> None:  # runs while the cards render, if the loop is free
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    ticker = asyncio.create_task(tick())
    cards = await asyncio.gather(*(poem_card_async(p) for p in poems))
    ticker.cancel()
    assert ticks > len(poems)
    assert cards == [poem_card(p) for p in poems]
    assert [card_size(c)[1] for c in cards] == [1080] * 4
