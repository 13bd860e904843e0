"""Fine-tuning toward a reward model: the policy rebuilt for training is the masked one the decoder
drew from, and a few steps toward "poems with either of two characters are liked" raise their share
while every poem still has its form, rhyme and tones."""

from __future__ import annotations

import random

import pytest
import torch

from engine.decoding.poet import Poet, load_model
from engine.models import reward as R
from engine.prosody.check import check_poem
from engine.request import PoemRequest
from engine.training.preference import (
    PreferenceConfig,
    PreferenceTuner,
    chosen,
    draw,
    kl_per_position,
    policy_logprobs,
)
from tests.learning.helpers import liked_characters


@pytest.fixture
def gan(tiny_model_dir):
    m = load_model(tiny_model_dir / "gan", torch.device("cpu"))
    return m, Poet({"gan": m}, torch.device("cpu"))


def prompts(n: int, seed: int) -> list[PoemRequest]:
    rng = random.Random(seed)
    return [PoemRequest(keyword=rng.choice("春秋月山风"), form=rng.choice(["wujue", "qijue", "wulv", "qilv"]),
                        model="gan", seed=rng.randrange(2**31)) for _ in range(n)]


def share(poet: Poet, reqs, liked: str) -> float:
    return sum(any(c in r.text for c in liked) for r in poet.generate_batch(reqs)) / len(reqs)


def test_the_rebuilt_policy_is_the_one_the_decoder_drew_from(gan):
    m, poet = gan
    reqs = [r for r in prompts(40, 0) if r.form == "qilv"][:6]
    d = draw(m, poet, reqs, [r.seed for r in reqs], record=True)
    logp = policy_logprobs(m.net, d)
    lp, free = chosen(logp, d)
    assert torch.isfinite(logp.gather(2, d.tokens[..., None])).all()  # every drawn token was allowed
    assert free.any() and not free.all()  # punctuation and forced characters are no choice
    assert kl_per_position(logp, logp).abs().max() < 1e-6
    again = draw(m, poet, reqs, [r.seed for r in reqs])
    assert torch.equal(again.tokens, d.tokens)  # drawing is reproducible, so chosen poems can be redrawn


@pytest.mark.parametrize("method", ["raft", "reinforce", "dense"])
def test_a_few_steps_toward_the_reward_raise_the_liked_share(gan, tiny_model_dir, method):
    m, poet = gan
    liked = liked_characters(tiny_model_dir)
    texts = [r.text for r in poet.generate_batch(prompts(300, 1))]
    y = torch.tensor([float(any(c in t for c in liked)) for t in texts])
    rm, _ = R.fit_select(R.RewardConfig(vocab_size=len(m.vocab)), R.encode(texts, ["春"] * 300, ["wujue"] * 300, m.vocab),
                         y, torch.ones(300))

    def reward(t, k, f):
        return R.predict(rm, R.encode(t, k, f, m.vocab))

    evals = prompts(120, 2)
    before = share(poet, evals, liked)
    cfg = PreferenceConfig(method=method, steps=12, prompts=8, k=4, lr=3e-3, kl_coef=0.05, seed=0)
    tuner = PreferenceTuner(m, poet, cfg, reward, prompts(200, 3), char_weights=rm.chars.weight[:, 0].detach())
    tuner.run(progress=False)
    after = share(poet, evals, liked)
    assert after > before + 0.1, (before, after)
    assert all(check_poem(r.text, form=q.form).ok for q, r in zip(evals, poet.generate_batch(evals), strict=True))
