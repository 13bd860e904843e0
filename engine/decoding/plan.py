"""A plan before the poem: one sub-topic per line, drawn from the keyword's corpus associations.

After planning-based generation (Wang et al., 2016, "Chinese Poetry Generation with Planning based
Neural Network"): the keyword is expanded into one sub-topic character per line, and each line is
steered towards its sub-topic, so that the poem moves through related images (春 → 风, 花, 柳, 归)
instead of drawing on the whole theme in every line. Here the generators were not trained with
plans, so a line is steered at decoding time: its sub-topic and the sub-topic's own theme
neighbours (engine/corpus/associations.py) get a logit bonus in that line only.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from engine.corpus.associations import theme_bias

NEIGHBOURS = 8  # of a sub-topic's theme neighbours, steered towards in its line


def sub_topics(assoc: dict, keyword_ids: Sequence[int], n_lines: int, rng: random.Random) -> list[int]:
    """One sub-topic id per line: the keyword's theme neighbours drawn without replacement, with
    probability proportional to their PMI (fewer neighbours than lines: they repeat in turn)."""
    ids, vals = theme_bias(assoc, keyword_ids)
    if not ids:
        return []
    pool, weights, out = list(ids), list(vals), []
    while len(out) < n_lines and pool:
        i = rng.choices(range(len(pool)), weights=weights)[0]
        out.append(pool.pop(i))
        weights.pop(i)
    return [out[i % len(out)] for i in range(n_lines)]


def line_bonuses(assoc: dict, topics: Sequence[int], weight: float,
                 keyword_ids: Sequence[int] = ()) -> list[tuple[list[int], list[float]]]:
    """Per line: ids and logit bonuses of its sub-topic (the largest bonus) and its neighbours, the
    keyword's own characters left out (the keyword is placed by its own rule)."""
    out = []
    for t in topics:
        pairs = [(i, v) for i, v in zip(*theme_bias(assoc, [t]), strict=True) if i not in keyword_ids]
        ids, vals = [i for i, _ in pairs[:NEIGHBOURS]], [v for _, v in pairs[:NEIGHBOURS]]
        top = max(vals, default=1.0)
        out.append(([t, *ids], [weight, *(weight * v / top for v in vals)]))
    return out
