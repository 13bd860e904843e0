"""Reference sets of poems that show what the evaluation metrics say about real and fake text.

- real: poems of the valid split, as they are;
- shuffled: the same poems with their lines shuffled among the poems of the same form;
- random: poems of the same shapes whose characters are drawn from the training unigram
  distribution of regular 诗.

The poems come from the valid split, not the test split: test poems are the BLEU references, so
a test poem (or its lines, shuffled) would be scored against itself.

Each poem gets the keyword a reader might have asked for the real poem it comes from
(`ThemeModel.real_keyword`: a character of its title that it also uses), so keyword figures show
how often that keyword survives the shuffle or the random draw.
"""

from __future__ import annotations

import random
from collections import defaultdict

import numpy as np

from engine.corpus.loader import CorpusPoem
from engine.errors import InvalidInput
from engine.evaluation.evaluate import GeneratedPoem, ReferenceData
from engine.prosody.forms import FORMS

BASELINES = ("real", "shuffled", "random")


def _sample(ref: ReferenceData, n: int, rng: random.Random) -> list[CorpusPoem]:
    pool = [p for f in FORMS for p in ref.valid[f]]
    return rng.sample(pool, min(n, len(pool)))


def _poem(lines: tuple[str, ...] | list[str], form: str, keyword: str | None) -> GeneratedPoem:
    return GeneratedPoem("\n".join(lines), keyword or "", form, False)


def baseline_poems(name: str, ref: ReferenceData, n: int = 1000, seed: int = 0) -> list[GeneratedPoem]:
    """n poems (fewer if the valid split is smaller) of baseline `name`: real | shuffled | random."""
    if name not in BASELINES:
        raise InvalidInput(
            f"未知基线「{name}」，可选：{'、'.join(BASELINES)}。",
            f"Unknown baseline {name!r}; choose one of {', '.join(BASELINES)}.",
        )
    if n < 1:
        raise InvalidInput("诗的数量至少为 1。", "The number of poems must be at least 1.")
    rng = random.Random(seed)
    sample = _sample(ref, n, rng)
    keywords = [ref.theme.real_keyword(p.title, p.lines, rng) for p in sample]
    if name == "real":
        return [_poem(p.lines, p.form, k) for p, k in zip(sample, keywords, strict=True)]
    if name == "shuffled":
        by_form: dict[str, list[str]] = defaultdict(list)
        for p in sample:
            by_form[p.form].extend(p.lines)
        for lines in by_form.values():
            rng.shuffle(lines)
        out = []
        for p, k in zip(sample, keywords, strict=True):
            pool = by_form[p.form]
            out.append(_poem([pool.pop() for _ in p.lines], p.form, k))
        return out
    np_rng = np.random.default_rng(seed)
    chars = np.array(list(ref.unigram_chars))
    out = []
    for p, k in zip(sample, keywords, strict=True):
        form = FORMS[p.form]
        drawn = np_rng.choice(chars, size=form.n_chars, p=ref.unigram_probs)
        lines = ["".join(drawn[i : i + form.line_len]) for i in range(0, form.n_chars, form.line_len)]
        out.append(_poem(lines, p.form, k))
    return out
