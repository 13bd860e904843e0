"""The online check: a challenger serves a share of requests until its ratings decide its fate.

Per version, P(a poem gets 4 or 5 ★) has a Beta posterior from the ratings of its poems (a
uniform Beta(1, 1) prior). Once the challenger has `min_ratings` ratings:
- P(challenger better than champion) >= `promote_at`: the challenger becomes the champion;
- P(challenger better) <= 1 - `promote_at`: it is dropped (rejected), the champion stays;
- otherwise keep collecting. A challenger that cannot be told apart after `max_ratings` is
  dropped too: a candidate must show it is better, not merely not worse.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from learning.registry import Registry

CHALLENGER_SHARE = 0.2  # share of requests the challenger writes while on trial


@dataclass(frozen=True)
class Posterior:
    good: int  # ratings of 4-5 ★
    total: int  # all ratings

    @property
    def alpha(self) -> float:
        return 1 + self.good

    @property
    def beta(self) -> float:
        return 1 + self.total - self.good

    @property
    def mean(self) -> float:
        return self.alpha / (self.alpha + self.beta)

    def interval(self, level: float = 0.9, draws: int = 20_000, seed: int = 0) -> tuple[float, float]:
        x = np.random.default_rng(seed).beta(self.alpha, self.beta, draws)
        return float(np.quantile(x, (1 - level) / 2)), float(np.quantile(x, (1 + level) / 2))


def prob_better(a: Posterior, b: Posterior, draws: int = 100_000, seed: int = 0) -> float:
    """P(p_a > p_b) under the two independent posteriors (Monte Carlo, seeded)."""
    rng = np.random.default_rng(seed)
    return float((rng.beta(a.alpha, a.beta, draws) > rng.beta(b.alpha, b.beta, draws)).mean())


@dataclass(frozen=True)
class Decision:
    action: str  # promote | drop | wait
    p_better: float
    champion: Posterior
    challenger: Posterior

    def to_dict(self) -> dict:
        return {"action": self.action, "p_better": round(self.p_better, 4),
                "champion": {"good": self.champion.good, "total": self.champion.total, "mean": round(self.champion.mean, 4)},
                "challenger": {"good": self.challenger.good, "total": self.challenger.total,
                               "mean": round(self.challenger.mean, 4)}}


def decide(champion: Posterior, challenger: Posterior, *, min_ratings: int = 100, max_ratings: int = 2000,
           promote_at: float = 0.95) -> Decision:
    p = prob_better(challenger, champion)
    if challenger.total < min_ratings:
        action = "wait"
    elif p >= promote_at:
        action = "promote"
    elif p <= 1 - promote_at or challenger.total >= max_ratings:
        action = "drop"
    else:
        action = "wait"
    return Decision(action, p, champion, challenger)


def serves_challenger(key: str, share: float = CHALLENGER_SHARE) -> bool:
    """Whether a request (keyed by e.g. user hash and poem count) goes to the challenger: a stable
    hash, so the same key always gets the same answer."""
    h = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")
    return h / 2**64 < share


def posteriors(stats, model: str) -> dict[str, Posterior]:
    """Per version of `model`, from storage.queries.ratings_by_model_version rows."""
    return {s.model_version: Posterior(s.distribution.get(4, 0) + s.distribution.get(5, 0), s.count)
            for s in stats if s.model == model}


def check(registry: Registry, stats, name: str, **kwargs) -> Decision | None:
    """Apply the online decision for generator `name` to the registry (None: no challenger)."""
    champ, chall = registry.champion(name), registry.challenger(name)
    if champ is None or chall is None:
        return None
    post = posteriors(stats, name)
    d = decide(post.get(champ.version, Posterior(0, 0)), post.get(chall.version, Posterior(0, 0)), **kwargs)
    if d.action == "promote":
        registry.promote(name, chall.version, "champion", reason=f"online: P(better) {d.p_better:.3f}")
    elif d.action == "drop":
        registry.drop_challenger(name, reason=f"online: P(better) {d.p_better:.3f}")
    return d
