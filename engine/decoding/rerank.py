"""Best of k: which seeds a request's candidates draw from, and which candidate it keeps.

A request asking for k candidates decodes k poems in the same batch, candidate j with seed
`candidate_seeds(seed, k)[j]`: the request's own seed first, so that k = 1 writes exactly the poem it
always did, then k - 1 seeds derived from it alone (SplitMix64), so that the poems depend on nothing
but the request and never on its batch-mates. The model's scorer (the SeqGAN discriminator's CNN
trained by engine/training/scorer.py) gives each candidate a real-logit; `best` keeps the highest.
Candidate j is the poem a request with seed `candidate_seeds(seed, k)[j]` and k = 1 writes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from engine.request import MAX_SEED

_MASK = 2**64 - 1
_GOLDEN = 0x9E3779B97F4A7C15  # SplitMix64's increment


def splitmix64(x: int) -> int:
    """SplitMix64's output function: a 64-bit integer mixed so that nearby inputs give unrelated outputs."""
    z = x & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def candidate_seeds(seed: int, k: int) -> list[int]:
    """The seeds of a request's k candidates, each in [0, MAX_SEED): `seed` itself, then SplitMix64
    steps from it (never `seed + j`, which the next poem of an n-poem request already uses)."""
    return [seed] + [splitmix64(seed + j * _GOLDEN) % MAX_SEED for j in range(1, k)]


def best(scores: Sequence[float]) -> int:
    """The index of the highest score: the first of equal ones; a NaN never wins (all NaN: 0)."""
    top, out = -math.inf, 0
    for j, s in enumerate(scores):
        if s > top:  # False for NaN
            top, out = s, j
    return out
