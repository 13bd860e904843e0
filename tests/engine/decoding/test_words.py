"""The corpus-word bonus: the bit table answers exactly the lexicon, the bonus lands only where a
line's two-character units end, with it more of a poem's units are words poets wrote, and a model's
grading brings its share of common words to real poems'."""

from __future__ import annotations

import dataclasses
import random

import torch

from engine.corpus import associations
from engine.decoding import calibration
from engine.decoding.poet import Poet
from engine.decoding.words import WordTable, completes_word
from engine.prosody.check import check_poem
from engine.prosody.forms import FORMS
from engine.request import PoemRequest
from engine.training.train import corpus_lexicon


def test_the_bit_table_holds_exactly_the_lexicon():
    V = 203  # not a multiple of 8: the last byte's spare bits must stay clear
    rng = random.Random(0)
    pairs = {(rng.randrange(V), rng.randrange(V)) for _ in range(2000)} | {(0, V - 1), (V - 1, 0), (V - 1, V - 1)}
    codes = torch.tensor(sorted(a * V + b for a, b in pairs), dtype=torch.int32)
    table = WordTable(codes, V)
    prev = torch.arange(V)
    got = table.follows_in(prev, torch.arange(V))
    assert got.shape == (V, V)
    want = torch.zeros(V, V, dtype=torch.bool)
    for a, b in pairs:
        want[a, b] = True
    assert torch.equal(got.bool(), want)
    cols = torch.tensor([0, 5, 8, 9, 100, V - 1])  # an output class's columns, in any order
    assert torch.equal(table.follows_in(prev, cols).bool(), want[:, cols])


def test_a_common_word_earns_the_graded_extra():
    V = 50
    codes = torch.tensor([1 * V + 2, 1 * V + 3, 4 * V + 2], dtype=torch.int32)
    common = torch.tensor([1 * V + 3], dtype=torch.int32)
    table = WordTable(codes, V, common=common, common_extra=0.5)
    got = table.follows_in(torch.tensor([1, 4, 5]), torch.tensor([2, 3, 9]))
    assert got.tolist() == [[1.0, 1.5, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    attested, is_common = table.levels(torch.tensor([1, 1, 4, 5]), torch.tensor([2, 3, 2, 2]))
    assert attested.tolist() == [True, True, True, False] and is_common.tolist() == [False, True, False, False]
    table.common_extra = 0.0  # ungraded: every corpus word alike
    assert table.follows_in(torch.tensor([1]), torch.tensor([2, 3])).tolist() == [[1.0, 1.0]]


def test_units_end_at_the_second_fourth_and_sixth_characters():
    assert [c for c in range(5) if completes_word(c, 5)] == [1, 3]
    assert [c for c in range(7) if completes_word(c, 7)] == [1, 3, 5]


def _unit_share(results, lexicon) -> float:
    hits = total = 0
    for res in results:
        for line in res.lines:
            line = line.rstrip("，。")
            for c in range(len(line)):
                if completes_word(c, len(line)):
                    total += 1
                    hits += line[c - 1 : c + 1] in lexicon
    return hits / total


def test_the_word_bonus_makes_more_units_corpus_words(tiny_poet, fixture_poems):
    """The fixture is small, so the lexicon is every bigram it holds (min_count=1)."""
    m = tiny_poet.models["gan"]
    assert m.words is not None  # the shipped lexicon is loaded as a table
    lexicon = frozenset(corpus_lexicon([p for p in fixture_poems if p.split == "train"], min_count=1))
    codes = associations.lexicon_codes(lexicon, m.vocab)
    poet = Poet({"gan": dataclasses.replace(m, words=WordTable(codes, len(m.vocab)))}, tiny_poet.device)

    def poems(words):
        reqs = [PoemRequest(keyword="山", form=f, words=words, seed=i) for i in range(30) for f in ("wujue", "qilv")]
        return poet.generate_batch(reqs)

    off, on = _unit_share(poems(0.0), lexicon), _unit_share(poems(4.0), lexicon)
    assert on > 3 * off + 0.05, (off, on)


def test_the_word_bonus_keeps_every_constraint(tiny_poet):
    reqs = [PoemRequest(keyword="月", form=f, words=10.0, seed=i) for i in range(10) for f in ("wujue", "qilv")]
    for req, res in zip(reqs, tiny_poet.generate_batch(reqs), strict=True):
        assert "月" in res.text, res.text
        assert check_poem(res.text, form=req.form).ok, res.text


def test_lexicon_codes_feed_the_table(tiny_poet):
    """The table a checkpoint's lexicon builds answers the same words as the lexicon itself."""
    m = tiny_poet.models["gan"]
    codes = associations.lexicon_codes(m.lexicon, m.vocab)
    table = WordTable(codes, len(m.vocab))
    word = next(iter(sorted(m.lexicon)))
    a, b = m.vocab.stoi[word[0]], m.vocab.stoi[word[1]]
    row = table.follows_in(torch.tensor([a]), torch.arange(len(m.vocab)))[0]
    assert row[b]
    assert int(row.sum()) == sum(w[0] == word[0] for w in m.lexicon)


def test_grading_brings_the_share_of_common_words_up_to_real_poems(tiny_poet, fixture_poems):
    """The tiny corpus is small: its words are its bigrams, the common ones those seen 3 times."""
    m = tiny_poet.models["gan"]
    train = [p for p in fixture_poems if p.split == "train"]
    table = WordTable(associations.lexicon_codes(corpus_lexicon(train, min_count=1), m.vocab), len(m.vocab),
                      common=associations.lexicon_codes(corpus_lexicon(train, min_count=3), m.vocab))
    poet = Poet({"gan": dataclasses.replace(m, words=table)}, tiny_poet.device)
    reqs = [PoemRequest(keyword="山", form=f, seed=i) for i in range(25) for f in FORMS]

    def share() -> float:
        return calibration.common_share(table, m.vocab.stoi, [r.lines for r in poet.generate_batch(reqs)])

    before = share()
    extra, figures = calibration.grade_words(poet, "gan", reqs, target=min(0.95, before + 0.25))
    assert extra > 0 and table.common_extra == extra and figures["shares"][0] == round(before, 4)
    assert share() > before + 0.1
    none, _ = calibration.grade_words(poet, "gan", reqs, target=before / 2)  # already above: no grading
    assert none == 0.0 and share() == before
