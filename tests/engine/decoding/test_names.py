"""The one set of request rules every front end shares: model names, keywords, acrostic heads."""

from __future__ import annotations

import pytest

from engine.decoding.names import parse_model, resolve_keyword, validate_heads, validate_keyword
from engine.errors import InvalidInput, YinshiError
from engine.prosody.forms import FORMS


@pytest.mark.parametrize(
    ("name", "model"),
    [(None, "gan"), ("", "gan"), (" VAE ", "vae"), ("对抗", "gan"), ("生成对抗网络", "gan"), ("变分自编码器", "vae")],
)
def test_model_names_in_either_language(name, model):
    assert parse_model(name) == model


def test_an_unknown_model_is_refused_with_its_name_shortened():
    with pytest.raises(InvalidInput) as err:
        parse_model("transformer-xl-large-2024")
    assert "gan" in err.value.zh and "transformer" in err.value.en and "…" in err.value.en


def test_a_keyword_is_stripped_and_at_most_four_chinese_characters():
    assert validate_keyword("  明月 ") == "明月"
    with pytest.raises(InvalidInput, match="太长.*too long"):
        validate_keyword("春夏秋冬雨")
    with pytest.raises(InvalidInput, match="关键词.*keyword"):
        validate_keyword("   ")


def test_other_text_passes_to_the_poet_in_every_front_end():
    assert validate_keyword("spring") == "spring"  # the Poet writes on 春, with a note
    assert validate_keyword("hello, my old friend") == "hello, my old friend"
    with pytest.raises(InvalidInput) as err:
        validate_keyword("床前明月光，疑是地上霜。")  # a poem sent as a keyword
    assert "/check" in err.value.en and "太长" in err.value.zh
    with pytest.raises(InvalidInput):
        validate_keyword("x" * 65)


VOCAB = {"春": 900, "月": 800, "机": 300, "手": 500, "山": 700, "长城": 40, "长": 400, "城": 300}


def _usable(word: str) -> bool:
    return word in VOCAB


def _count(word: str) -> int:
    return VOCAB.get(word, 0)


@pytest.mark.parametrize(
    ("raw", "keyword", "note"),
    [
        ("月", "月", None),
        ("長城", "长城", None),  # traditional and variant forms are the same keyword
        ("spring", "春", "译作「春」"),
        ("The Moon", "月", "Wrote about 「月」 for 'The Moon'"),
        ("手机", "机", "取其「机」"),  # the head of the compound
        ("长城万", "长城", "取其「长城」"),
        ("qwzx", "山", "改以「山」"),
        ("🌸", "山", "instead"),
    ],
)
def test_a_keyword_the_model_cannot_write_becomes_a_related_one_with_a_note(raw, keyword, note):
    got, said = resolve_keyword(raw, _usable, _count, "山")
    assert got == keyword
    if note is None:
        assert said is None
    else:
        assert note in said and " / " in said  # both languages


def test_heads_drop_separators_and_become_simplified():
    assert validate_heads("春、夏 秋，冬") == "春夏秋冬"
    assert validate_heads("風花雪月") == "风花雪月"
    assert validate_heads("春夏秋冬", FORMS["qijue"]) == "春夏秋冬"


@pytest.mark.parametrize(
    ("heads", "form"),
    [("", None), ("春夏秋", None), ("ab春夏", None), ("春夏秋冬", FORMS["wulv"]), ("春" * 100, None)],
)
def test_bad_heads_get_bilingual_errors(heads, form):
    with pytest.raises(YinshiError) as err:
        validate_heads(heads, form)
    assert err.value.zh != err.value.en and "藏头" in err.value.zh
