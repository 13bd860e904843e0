"""Do the poems use characters as real poets do? Figures of a set of poems against the training
corpus's character frequencies (regular 诗):

- distinct_chars: distinct characters in the set (real held-out poems: about 3,400 per 1,000);
- beyond_top_share: share of characters outside the corpus's `TOP` most frequent;
- overused: the corpus's `TOP` most frequent characters that the set uses over `OVERUSE` times their
  corpus rate, with the ratio, worst first (a model's tics: 暝 径 涯 …);
- variant_poems: poems holding a variant or Japanese form (疎 隠 …: engine.text.script.to_standard);
- rare_rhyme_rate: share of rhyme characters rhymed by a rare reading (书 in 支: engine/prosody/usage.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from engine.prosody import usage as rhyme_usage
from engine.text.script import to_standard

TOP = 1000
OVERUSE = 2.5
SHOWN = 12  # over-used characters listed


def char_figures(
    poems: Sequence[Sequence[str]], chars: str, probs: np.ndarray, prosody=None, usage=None
) -> dict[str, Any]:
    """The figures above for poems given as lines; `chars` and `probs` the corpus characters and their
    frequencies (ReferenceData.unigram_chars / unigram_probs); the rhyme figure needs the 平水韵
    `prosody` and the corpus `usage` (a RhymeUsage)."""
    counts = Counter(ch for lines in poems for line in lines for ch in line)
    total = sum(counts.values())
    top = np.argsort(-probs)[:TOP]
    top_rate = {chars[i]: float(probs[i]) for i in top}
    over = sorted(
        ((ch, counts[ch] / total / rate) for ch, rate in top_rate.items() if total and counts[ch] / total > OVERUSE * rate),
        key=lambda kv: -kv[1],
    )
    out: dict[str, Any] = {
        "distinct_chars": len(counts),
        "beyond_top_share": sum(n for ch, n in counts.items() if ch not in top_rate) / total if total else None,
        "overused_chars": len(over),
        "overused": " ".join(f"{ch}{ratio:.1f}" for ch, ratio in over[:SHOWN]),
        "variant_poems": sum(any(to_standard(line) != line for line in lines) for lines in poems),
    }
    if prosody is not None and usage is not None:
        out["rare_rhyme_rate"], out["rhyme_chars"] = rhyme_usage.rare_rate(poems, prosody, usage)
    return out
