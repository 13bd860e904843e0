"""The character vocabulary."""

from __future__ import annotations

import pytest

from engine.corpus.loader import load_corpus, regular_poems
from engine.corpus.vocab import BOS, COMMA, EOS, PAD, PERIOD, SPECIALS, UNK, Vocab
from tests.conftest import FIXTURE_CORPUS

FIXTURE = FIXTURE_CORPUS


def test_specials_come_first_in_a_fixed_order():
    assert SPECIALS == ("<pad>", "<bos>", "<eos>", "<unk>", "，", "。")
    assert (PAD, BOS, EOS, UNK, COMMA, PERIOD) == (0, 1, 2, 3, 4, 5)
    v = Vocab.build(["春眠不觉晓，处处闻啼鸟。"])
    assert v.itos[:6] == list(SPECIALS) and v.stoi["，"] == COMMA and v.stoi["。"] == PERIOD


def test_characters_by_frequency_then_code_point_with_a_cut_off():
    v = Vocab.build(["山山山水水月", "月花，。。"], min_count=2)
    # 山 3, 水 2, 月 2 (月 U+6708 < 水 U+6C34), 花 1 is cut; punctuation is not counted twice
    assert v.itos[6:] == ["山", "月", "水"]
    assert len(v) == 9 and "花" not in v and "山" in v and "，" in v


def test_encode_maps_unknown_characters_to_unk_and_decode_drops_specials():
    v = Vocab.build(["白日依山尽，黄河入海流。"])
    ids = v.encode("白日依山尽，黄龙入海流。")
    assert ids[7] == UNK and ids[5] == COMMA and ids[-1] == PERIOD
    assert v.decode([BOS, *ids, EOS, PAD, PAD]) == "白日依山尽，黄入海流。"


def test_round_trip_on_fixture_poems_and_through_json():
    poems = load_corpus(FIXTURE)
    train = [p.text for p in regular_poems(poems, split="train")]
    v = Vocab.build(train, min_count=1)
    assert all(v.decode(v.encode(t)) == t for t in train)
    restored = Vocab.from_json(v.to_json())
    assert restored == v and restored.stoi == v.stoi and len(restored) == len(v)
    assert Vocab.from_json(v.itos) == v
    assert len(Vocab.build(train, min_count=3)) < len(v)


@pytest.mark.parametrize(
    "bad", ['{"a": 1}', '["<pad>", "山"]', "[1, 2]", '["<pad>","<bos>","<eos>","<unk>","，","。","山","山"]']
)
def test_from_json_rejects_a_broken_token_list(bad):
    with pytest.raises(ValueError):
        Vocab.from_json(bad)
