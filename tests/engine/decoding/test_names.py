"""The one set of request rules every front end shares: model names, keywords, acrostic heads."""

from __future__ import annotations

import pytest

from engine.decoding.names import parse_model, validate_heads, validate_keyword
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


def test_other_text_falls_back_in_the_engine_but_not_in_a_chat():
    assert validate_keyword("phone") == "phone"  # the Poet writes about a theme instead, with a note
    with pytest.raises(InvalidInput) as err:
        validate_keyword("phone", fallback=False)
    assert "汉字" in err.value.zh and "Chinese characters" in err.value.en
    with pytest.raises(InvalidInput) as err:
        validate_keyword("床前明月光，疑是地上霜。", fallback=False)  # a poem sent as a keyword
    assert "/check" in err.value.en


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
