"""Characters like real poets': a per-character logit offset learnt from the model's own poems.

A generator trained for under an epoch writes its favourite characters too often (暝 径 涯 …) and the
corpus's less common ones too rarely. `measure` writes `n` poems with the production decoding on
keywords and forms of training poems and compares each character's count g with the count e the
corpus's frequency predicts for as many characters:

    ratio = log((g + PSEUDO) / (e + PSEUDO))

`yinshi models associations` stores it with the checkpoint (associations["char_ratio"]); decoding
offsets each logit by `offsets(ratio)` = -ALPHA * ratio, clipped to [-CLIP_DOWN, CLIP_UP], folded
into the output bias (engine/decoding/output_head.py): it costs nothing per poem. On the first,
under-trained models raising the under-used characters (CLIP_UP 0.5, or ALPHA 1 with ±1.5) gave
more distinct characters but poems the eval classifier told apart more easily, so only over-used ones
were lowered. On the retrained models (2.5 / 2 epochs) it pays: with CLIP_UP 0.3 and a second,
`refine` round under the first round's offsets (which corrects what clipped, partial offsets miss:
one round left 夏 at 2.8× its corpus rate), 1,000 eval poems used 2,431 → 2,575 (GAN) and 2,526 →
2,639 (VAE) distinct characters, 10.0 → 12.0 % beyond the 1,000 commonest, classifier 67.6 → 66.2 %
(GAN) and 69.3 → 70.6 % (VAE); CLIP_UP 0.5 gave 2,633 / 2,698 characters but the VAE's classifier
71.2 % and 区 at 2.8×. Lowering them harder
(ALPHA 0.5 → 0.75, CLIP_DOWN 1 → 1.5; `yinshi eval --n 1000`, 2026-12-02) left no common character over
2.5× its corpus rate (GAN: 浪 矣 2.7× before), distinct characters 2,285 → 2,322 (GAN) and 2,372 →
2,403 (VAE), distinct-2 0.830 → 0.840 (real 0.837), classifier 79.0 → 78.9 % and 83.5 → 83.5 %,
repetition unchanged; ALPHA 1 with CLIP_DOWN 2 went no further (classifier 79.3 %, 父 at 2.5×).

`grade_words` calibrates the corpus-word bonus the same way (engine/decoding/words.py): how much more
a common word earns than a rare one, so that the share of common words among the model's attested
units matches held-out real poems'.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import torch

from engine.decoding.words import WordTable, unit_pairs
from engine.errors import YinshiError
from engine.request import WORDS, PoemRequest
from engine.text.han import is_han

ALPHA = 0.75  # share of the log ratio corrected
PSEUDO = 3.0  # counts added to both sides: a character seen or expected a few times moves little
CLIP_DOWN, CLIP_UP = 1.5, 0.3  # the largest offsets, in logits (see above for CLIP_UP)
SEED = 1_000_000  # calibration seeds start here (evaluation uses 0, 1, …)
ROUNDS = 2  # `measure` rounds: without offsets, then `refine` under the first round's
WORD_ROUNDS = 2  # rounds of `grade_words`: at no grading, then at the first estimate
MAX_COMMON_EXTRA = 2.0  # a common word earns at most 1 + this many times the word bonus


def offsets(ratio: torch.Tensor) -> torch.Tensor:
    """The logit offsets (V,) of a stored ratio."""
    return (-ALPHA * ratio.float()).clamp_(-CLIP_DOWN, CLIP_UP)


def training_requests(poems: Sequence[tuple[Sequence[str], str, str]], n: int, kind: str, seed: int = 0,
                      known=lambda ch: True) -> list[PoemRequest]:
    """n requests on the keywords and forms of training poems ((lines, form, title) each): a title
    character the poem also uses (a reader's keyword for it), else its first character."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        lines, form, title = poems[rng.randrange(len(poems))]
        text = "".join(lines)
        keys = [ch for ch in dict.fromkeys(title) if ch in text and known(ch)] or [text[0]]
        out.append(PoemRequest(keyword=rng.choice(keys), form=form, model=kind, seed=SEED + seed * n + i))
    return out


def written(poet, requests: Sequence[PoemRequest], batch: int = 256):
    """The poems `requests` write, `batch` at a time (requests the poet refuses left out)."""
    for i in range(0, len(requests), batch):
        yield from (res for res in poet.generate_batch(list(requests[i : i + batch])) if not isinstance(res, YinshiError))


def measure(poet, kind: str, requests: Sequence[PoemRequest], batch: int = 256,
            refine: bool = False) -> tuple[torch.Tensor, dict]:
    """The log ratio (V,) of the model `kind`'s character counts over the corpus's (written without
    any offsets; 0 for characters the corpus never uses), and figures of the poems it wrote. With
    `refine`, written under the stored ratio's offsets, and the stored ratio plus what is left over
    is returned: a second round corrects what the first one's clipped, partial offsets missed."""
    m = poet.models[kind]
    counts = m.associations["char_counts"].double()
    corpus = counts / counts.sum()
    saved = m.associations.get("char_ratio") if refine else m.associations.pop("char_ratio", None)
    m.heads.clear()  # rebuilt with or without offsets
    gen = torch.zeros(len(m.vocab), dtype=torch.float64)
    try:
        for res in written(poet, requests, batch):
            ids = [m.vocab.stoi[ch] for line in res.lines for ch in line if is_han(ch) and ch in m.vocab.stoi]
            gen += torch.bincount(torch.tensor(ids, dtype=torch.long), minlength=len(m.vocab)).double()
    finally:
        if saved is not None:
            m.associations["char_ratio"] = saved
        m.heads.clear()
    total = gen.sum()
    ratio = torch.log((gen + PSEUDO) / (corpus * total + PSEUDO))
    ratio[counts == 0] = 0.0  # specials, punctuation and characters the corpus never uses
    if refine and saved is not None:
        ratio += saved.double()
    top = torch.argsort(-corpus)[:1000]
    figures = {"poems": len(requests), "distinct_chars": int((gen > 0).sum()),
               "top_share": round(float(gen[top].sum() / total), 4) if total else None}
    return ratio.half(), figures


def common_share(words: WordTable, stoi: dict[str, int], poems: Sequence[Sequence[str]]) -> float | None:
    """Of the units (engine/decoding/words.py) of these poems that are corpus words, the share that are
    common ones; None if none is a corpus word."""
    a, b = [], []
    for lines in poems:
        x, y = unit_pairs(lines, stoi)
        a += x
        b += y
    if not a:
        return None
    attested, common = words.levels(torch.tensor(a), torch.tensor(b))
    return float(common[attested].float().mean()) if attested.any() else None


def grade_words(poet, kind: str, requests: Sequence[PoemRequest], target: float, batch: int = 256) -> tuple[float, dict]:
    """The model's `common_extra` (set on its WordTable and returned, with figures): each round writes
    the requests' poems and moves the log-odds of their common-word share by its gap to `target` (real
    poems' share), in units of the default word weight."""
    m = poet.models[kind]
    table = m.words
    if table is None or table.common is None:
        return 0.0, {}

    def logit(p: float) -> float:
        p = min(max(p, 0.01), 0.99)
        return math.log(p / (1 - p))

    extra, shares = 0.0, []
    for _ in range(WORD_ROUNDS):
        table.common_extra = extra
        share = common_share(table, m.vocab.stoi, [res.lines for res in written(poet, requests, batch)])
        if share is None:
            break
        shares.append(round(share, 4))
        extra = min(max(extra + (logit(target) - logit(share)) / WORDS, 0.0), MAX_COMMON_EXTRA)
    table.common_extra = extra
    return extra, {"target": round(target, 4), "shares": shares, "common_extra": round(extra, 3)}
