"""Corpus-reference BLEU of generated poems, following the poem protocol of SeqGAN.

Yu, Zhang, Wang and Yu (2017), "SeqGAN: Sequence Generative Adversarial Nets with Policy
Gradient", AAAI: each generated poem is scored by BLEU-2 with the *whole* test set as its
references. Here the poem is its characters in order (punctuation and line breaks dropped),
and the references are the test poems of the same form.

BLEU (Papineni et al., 2002) is the modified n-gram precision p_n (each n-gram's count clipped by
its largest count in any one reference) combined as BP * exp(sum_n w_n log p_n), with the
brevity penalty BP = exp(1 - r/c) when the poem (length c) is shorter than the reference
length r closest to c, else 1. No smoothing: a poem with no matching bigram scores 0.

With thousands of references, the largest count of every n-gram is precomputed once, so
scoring a poem costs O(its length).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable


def _ngram_counts(seq: str, n: int) -> Counter:
    return Counter(seq[i : i + n] for i in range(len(seq) - n + 1))


class BleuReference:
    """The n-gram statistics of one set of references (e.g. the test poems of one form)."""

    def __init__(self, references: Iterable[str], max_n: int = 2):
        self.max_n = max_n
        self.size = 0
        self.max_counts: list[dict[str, int]] = [{} for _ in range(max_n)]  # per n: n-gram -> max
        lengths: set[int] = set()
        for ref in references:
            self.size += 1
            lengths.add(len(ref))
            for n in range(1, max_n + 1):
                table = self.max_counts[n - 1]
                for gram, count in _ngram_counts(ref, n).items():
                    if count > table.get(gram, 0):
                        table[gram] = count
        self.lengths = sorted(lengths)

    def __len__(self) -> int:
        return self.size

    def score(self, hypothesis: str, weights: tuple[float, ...] | None = None) -> float:
        """BLEU-max_n of one hypothesis (uniform weights by default); 0.0 for an empty one."""
        weights = weights or (1.0 / self.max_n,) * self.max_n
        c = len(hypothesis)
        if c == 0 or not self.lengths:
            return 0.0
        log_sum = 0.0
        for n, w in enumerate(weights, start=1):
            counts = _ngram_counts(hypothesis, n)
            total = sum(counts.values())
            table = self.max_counts[n - 1]
            clipped = sum(min(k, table.get(g, 0)) for g, k in counts.items())
            if clipped == 0:
                return 0.0
            log_sum += w * math.log(clipped / total)
        r = min(self.lengths, key=lambda length: (abs(length - c), length))
        bp = 1.0 if c > r else math.exp(1 - r / c)
        return bp * math.exp(log_sum)
