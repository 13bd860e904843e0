"""The per-line plan: each line gets a sub-topic from the keyword's associations, and steering by it
puts that sub-topic's images into that line, not the others."""

from __future__ import annotations

import random

from engine.corpus.associations import theme_bias
from engine.decoding.plan import line_bonuses, sub_topics
from engine.request import PoemRequest


def _keyword(m) -> str:
    return max("春秋月山风花江雨夜", key=lambda ch: len(theme_bias(m.associations, m.vocab.encode(ch))[0]))


def test_sub_topics_are_distinct_theme_neighbours_one_per_line(tiny_poet):
    m = tiny_poet.models["gan"]
    kw = m.vocab.encode(_keyword(m))
    neighbours = set(theme_bias(m.associations, kw)[0])
    topics = sub_topics(m.associations, kw, 8, random.Random(1))
    assert len(topics) == 8 and set(topics) <= neighbours
    assert len(set(topics)) == min(8, len(neighbours))
    assert topics == sub_topics(m.associations, kw, 8, random.Random(1))  # reproducible from the seed
    assert sub_topics(m.associations, [0], 4, random.Random(1)) == []  # nothing known: no plan


def test_a_lines_bonus_is_its_sub_topic_first_never_the_keyword(tiny_poet):
    m = tiny_poet.models["gan"]
    kw = m.vocab.encode(_keyword(m))
    topics = sub_topics(m.associations, kw, 4, random.Random(0))
    for t, (ids, vals) in zip(topics, line_bonuses(m.associations, topics, 2.0, kw), strict=True):
        assert ids[0] == t and vals[0] == max(vals) == 2.0
        assert not set(ids) & set(kw)


def test_a_planned_line_draws_on_its_own_sub_topic(tiny_poet):
    m = tiny_poet.models["gan"]
    kw = _keyword(m)
    reqs = [PoemRequest(keyword=kw, form="qijue", seed=i, plan=4.0, theme=0.0) for i in range(40)]
    own = other = 0
    for req, res in zip(reqs, tiny_poet.generate_batch(reqs), strict=True):
        spec, _, _ = tiny_poet.spec_for(req, m, m.masks_for("pingshui", "cpu"), req.seed)
        planned = [{m.vocab.itos[i] for i in ids} for ids, _ in spec.line_themes]
        for line, text in enumerate(res.lines):
            for j, chars in enumerate(planned):
                hits = sum(ch in chars for ch in text)
                own, other = (own + hits, other) if j == line else (own, other + hits / 3)
    assert own > 1.5 * other, (own, other)


def test_without_a_weight_there_is_no_plan(tiny_poet):
    m = tiny_poet.models["gan"]
    req = PoemRequest(keyword="山", form="wulv", seed=3, plan=0.0)
    assert tiny_poet.spec_for(req, m, m.masks_for("pingshui", "cpu"), 3)[0].line_themes == []
