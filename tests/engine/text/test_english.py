"""English theme words find their Chinese words in CC-CEDICT."""

from __future__ import annotations

from engine.text.english import english_glosses


def test_an_english_word_finds_its_characters_first_senses_first():
    moon = dict(english_glosses("moon"))
    assert moon["月"] == 0 and moon["阴"] > 0
    assert "春" in dict(english_glosses("Spring"))
    assert english_glosses("the moon") == english_glosses("moon")


def test_plurals_fall_back_to_the_singular():
    assert "花" in dict(english_glosses("flowers"))
    assert "叶" in dict(english_glosses("leaves"))


def test_no_entry_or_not_english_gives_nothing():
    assert english_glosses("qwzx") == ()
    assert english_glosses("月") == ()
    assert english_glosses("a" * 100) == ()
