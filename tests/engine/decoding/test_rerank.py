"""Best of k candidates: the poem a request gets is the candidate its model's scorer rates most real;
it depends on the request alone (seed and settings), never on its batch-mates; k = 1, or a model
without a scorer, writes exactly the poem one candidate always wrote."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from engine.decoding import rerank
from engine.decoding.poet import Poet
from engine.models.gan_discriminator import DiscConfig, Discriminator
from engine.prosody.check import check_poem
from engine.request import MAX_SEED, PoemRequest


@pytest.fixture(scope="module")
def scored_poet(tiny_poet) -> Poet:
    """The tiny generators, each with a scorer (untrained: any scorer must be obeyed)."""
    models = {}
    for i, (name, m) in enumerate(tiny_poet.models.items()):
        torch.manual_seed(i)
        scorer = Discriminator(DiscConfig(vocab_size=len(m.vocab))).eval()
        models[name] = dataclasses.replace(m, scorer=scorer, masks={}, heads={})
    return Poet(models, torch.device("cpu"))


def text(poet: Poet, **request) -> str:
    [res] = poet.generate_batch([PoemRequest(**request)])
    return res.text


def test_candidate_seeds_start_with_the_request_seed_and_are_distinct():
    seeds = rerank.candidate_seeds(41, 8)
    assert seeds[0] == 41 and len(set(seeds)) == 8
    assert all(0 <= s < MAX_SEED for s in seeds)
    assert seeds == rerank.candidate_seeds(41, 8) and seeds[:3] == rerank.candidate_seeds(41, 3)
    assert not set(seeds) & set(rerank.candidate_seeds(42, 8))  # the next poem's candidates are others
    assert rerank.candidate_seeds(MAX_SEED - 1, 4)[0] == MAX_SEED - 1


def test_best_is_the_first_highest_score_and_never_nan():
    assert rerank.best([0.1, 0.7, 0.7, -2.0]) == 1
    assert rerank.best([math.nan, -5.0, math.nan]) == 1
    assert rerank.best([math.nan, math.nan]) == 0
    assert rerank.best([3.0]) == 0


@pytest.mark.parametrize(("model", "form"), [("gan", "wujue"), ("gan", "qilv"), ("vae", "qijue")])
def test_the_poem_kept_is_the_candidate_the_scorer_rates_highest(scored_poet, model, form):
    m = scored_poet.models[model]
    chosen = []
    for seed in range(6):
        [res] = scored_poet.generate_batch([PoemRequest("春", form=form, model=model, seed=seed, candidates=4)])
        seeds = rerank.candidate_seeds(seed, 4)
        # candidate j is the poem a one-candidate request with seed j writes
        alone = scored_poet.generate_batch([PoemRequest("春", form=form, model=model, seed=s, candidates=1)
                                            for s in seeds])
        tokens = torch.tensor([m.vocab.encode("".join(a.lines)) for a in alone])
        scores = m.score(tokens, form)
        j = max(range(4), key=lambda i: scores[i])
        assert res.text == alone[j].text and res.latent == alone[j].latent
        assert res.seed == seed  # the request's: the same seed writes this poem again
        info = res.extra["rerank"]
        assert info["candidates"] == 4 and info["chosen"] == j and info["candidate_seed"] == seeds[j]
        assert info["scores"] == pytest.approx(scores, abs=1e-3)
        assert len({a.text for a in alone}) > 1
        assert check_poem(res.text, form=form).ok
        chosen.append(j)
    assert set(chosen) != {0}  # the scorer does move the choice


def test_a_seed_writes_the_same_poem_whatever_its_batch_mates(scored_poet):
    req = PoemRequest("秋", form="wulv", seed=12, candidates=5)
    alone = scored_poet.generate_batch([req])[0]
    again = scored_poet.generate_batch([req])[0]
    mates = [PoemRequest("月", form="wulv", seed=12, candidates=3), PoemRequest("山", form="wujue", seed=3),
             PoemRequest("春花秋月", acrostic=True, seed=13, candidates=2), PoemRequest("江", model="vae", seed=1)]
    batched = scored_poet.generate_batch([mates[0], req, *mates[1:]])
    assert alone.text == again.text == batched[1].text
    assert alone.extra == batched[1].extra
    assert [r.text for r in batched[2:]] == [r.text for r in scored_poet.generate_batch(mates[1:])]


@pytest.mark.parametrize("model", ["gan", "vae"])
def test_one_candidate_writes_the_poem_of_a_model_without_a_scorer(tiny_poet, scored_poet, model):
    for seed in (0, 7, 2**40):
        today = tiny_poet.generate_batch([PoemRequest("雪", form="qijue", model=model, seed=seed, candidates=1)])[0]
        one = scored_poet.generate_batch([PoemRequest("雪", form="qijue", model=model, seed=seed, candidates=1)])[0]
        unscored = tiny_poet.generate_batch([PoemRequest("雪", form="qijue", model=model, seed=seed, candidates=8)])[0]
        assert one.text == today.text == unscored.text and one.latent == today.latent
        assert "rerank" not in one.extra and "rerank" not in unscored.extra  # no scorer: one candidate drawn


def test_an_acrostic_without_a_form_keeps_its_heads_across_candidates(scored_poet):
    for seed in range(4):
        [res] = scored_poet.generate_batch([PoemRequest("春花秋月", acrostic=True, form=None, seed=seed, candidates=4)])
        assert [line[0] for line in res.lines] == list("春花秋月")
        assert res.form in ("wujue", "qijue") and check_poem(res.text, form=res.form).ok
