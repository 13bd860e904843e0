"""The reward model learns what raters like from a few hundred noisy ratings, and shows nothing
(AUC near 0.5) when the ratings carry nothing."""

from __future__ import annotations

import random

import torch

from engine.corpus.vocab import Vocab
from engine.models import reward as R

CHARS = "春秋月山风雪花江雨云夜柳水天人日长白青红"
VOCAB = Vocab.build([CHARS])


def poems(n: int, rng: random.Random) -> list[str]:
    return ["".join(rng.choice(CHARS.replace("月", "")) for _ in range(19)) + ("月" if rng.random() < 0.3 else "春")
            for _ in range(n)]


def labels(texts, rng, informative=True) -> list[float]:
    out = []
    for t in texts:
        liked = "月" in t if informative else rng.random() < 0.5
        out.append(float(liked != (rng.random() < 0.25)) if informative else float(liked))  # a quarter flipped
    return out


def fit_and_score(informative: bool, seed: int) -> float:
    rng = random.Random(seed)
    texts = poems(600, rng)
    y = labels(texts, rng, informative)
    enc = R.encode(texts, ["春"] * len(texts), ["wujue"] * len(texts), VOCAB)
    tr, te = slice(0, 450), slice(450, 600)
    model, info = R.fit_select(R.RewardConfig(vocab_size=len(VOCAB)), [x[tr] for x in enc],
                               torch.tensor(y[tr]), torch.ones(450))
    return R.auc(R.predict(model, [x[te] for x in enc]).tolist(), y[te])


def test_a_planted_taste_is_learnt_from_noisy_ratings():
    assert fit_and_score(True, 0) > 0.65  # the best possible here is about 0.72 (a quarter of labels flipped)


def test_ratings_that_carry_nothing_give_chance_auc():
    aucs = [fit_and_score(False, s) for s in range(3)]
    sd = R.auc_null_sd(75, 75)
    assert all(abs(a - 0.5) < 3 * sd for a in aucs), aucs


def test_auc_counts_ties_half():
    assert R.auc([1, 1, 0, 0], [1, 0, 1, 0]) == 0.5
    assert R.auc([0.9, 0.8, 0.1], [1, 1, 0]) == 1.0
    assert R.auc([0.5], [1]) is None
