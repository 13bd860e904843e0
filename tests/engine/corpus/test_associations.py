"""Corpus associations: theme neighbours and couplet partners come from the corpus, and steering by
them changes the poems the way a reader would expect (more of the theme, more parallel couplets)."""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest

from engine.corpus import associations
from engine.corpus.vocab import Vocab
from engine.decoding.poet import Poet
from engine.prosody.forms import FORMS
from engine.request import PoemRequest


@pytest.fixture(scope="module")
def train_poems(fixture_poems):
    return [p for p in fixture_poems if p.form in FORMS]


@pytest.fixture(scope="module")
def vocab(train_poems):
    return Vocab.build("".join(p.lines) for p in train_poems)


@pytest.fixture(scope="module")
def tables(train_poems, vocab):
    return associations.build(((p.lines, p.form) for p in train_poems), vocab)


def test_theme_neighbours_share_couplets_with_the_character(train_poems, vocab, tables):
    together = Counter()
    for p in train_poems:
        for i in range(0, len(p.lines) - 1, 2):
            chars = set(p.lines[i] + p.lines[i + 1])
            together.update((a, b) for a in chars for b in chars if a != b)
    checked = 0
    for k in range(6, len(vocab)):
        for i, v in zip(tables["theme_ids"][k].tolist(), tables["theme_vals"][k].tolist(), strict=True):
            if i:
                assert v > 0
                assert together[vocab.itos[k], vocab.itos[i]] >= associations.MIN_PAIRS
                checked += 1
    assert checked > 100


def test_couplet_partners_stand_opposite_in_parallel_couplets(train_poems, vocab, tables):
    opposite = Counter()
    for p in train_poems:
        if p.form in ("wulv", "qilv"):
            for i in associations.PARALLEL_COUPLETS:
                opposite.update(zip(p.lines[i], p.lines[i + 1], strict=True))
    found = [(a, b) for a in range(6, len(vocab)) for b in tables["pair_ids"][a].tolist() if b]
    assert found
    assert all(opposite[vocab.itos[a], vocab.itos[b]] >= associations.MIN_PAIRS for a, b in found)


def test_lexicon_codes_round_trip(vocab):
    words = {"明月", "故乡", "春风"}
    assert associations.lexicon_words(associations.lexicon_codes(words, vocab), vocab) == words


def _count(poems, wanted_by_poem):
    return sum(sum(ch in wanted for ch in "".join(p.lines)) for p, wanted in zip(poems, wanted_by_poem, strict=True))


def test_theme_weight_brings_in_the_keywords_theme_characters(tiny_poet):
    m = tiny_poet.models["gan"]
    kw = max("春秋月山风花江雨夜", key=lambda ch: len(associations.theme_bias(m.associations, m.vocab.encode(ch))[0]))
    neighbours = {m.vocab.itos[i] for i in associations.theme_bias(m.associations, m.vocab.encode(kw))[0]}
    assert len(neighbours) >= 5

    def poems(theme):
        reqs = [PoemRequest(keyword=kw, form="qijue", theme=theme, seed=i) for i in range(40)]
        return tiny_poet.generate_batch(reqs)

    off, on = poems(0.0), poems(4.0)
    assert _count(on, [neighbours] * 40) > 1.3 * _count(off, [neighbours] * 40)


def test_parallel_weight_puts_partners_opposite_each_other(tiny_poet, train_poems):
    """The fixture has few 律诗, so the table is built from every pair seen (min_pairs=1)."""
    m = tiny_poet.models["gan"]
    table = associations.build(((p.lines, p.form) for p in train_poems), m.vocab, min_pairs=1)
    m = dataclasses.replace(m, associations=table, pairs=(table["pair_ids"].long(), table["pair_vals"].float()))
    poet = Poet({"gan": m}, tiny_poet.device)
    partners = {m.vocab.itos[a]: {m.vocab.itos[b] for b in m.associations["pair_ids"][a].tolist() if b}
                for a in range(6, len(m.vocab))}

    def hits(parallel):
        reqs = [PoemRequest(keyword="山", form="wulv", parallel=parallel, theme=0.0, seed=i) for i in range(40)]
        n = 0
        for res in poet.generate_batch(reqs):
            for i in associations.PARALLEL_COUPLETS:
                n += sum(b in partners.get(a, ()) for a, b in zip(res.lines[i], res.lines[i + 1], strict=True))
        return n

    assert hits(4.0) > 1.5 * hits(0.0) + 5
