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
scoring a poem costs O(its length). A reference identical to the poem is left out (the same
poem drawn from the test split is never its own reference), using the second-largest count.
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
        self.texts: Counter = Counter()
        # n-gram -> [largest count, second largest, number of references with the largest]
        self.stats: list[dict[str, list[int]]] = [{} for _ in range(max_n)]
        for ref in references:
            self.texts[ref] += 1
            for n in range(1, max_n + 1):
                table = self.stats[n - 1]
                for gram, count in _ngram_counts(ref, n).items():
                    s = table.get(gram)
                    if s is None:
                        table[gram] = [count, 0, 1]
                    elif count > s[0]:
                        table[gram] = [count, s[0], 1]
                    elif count == s[0]:
                        s[2] += 1
                    elif count > s[1]:
                        s[1] = count
        self.lengths = sorted({len(t) for t in self.texts})

    def __len__(self) -> int:
        return sum(self.texts.values())

    def _max_count(self, n: int, gram: str, own: int, leave_one_out: bool) -> int:
        s = self.stats[n - 1].get(gram)
        if s is None:
            return 0
        if leave_one_out and own == s[0] and s[2] == 1:
            return s[1]
        return s[0]

    def score(self, hypothesis: str, weights: tuple[float, ...] | None = None) -> float:
        """BLEU-max_n of one hypothesis (uniform weights by default); 0.0 for an empty one."""
        weights = weights or (1.0 / self.max_n,) * self.max_n
        c = len(hypothesis)
        if c == 0 or not self.lengths:
            return 0.0
        leave_one_out = self.texts.get(hypothesis, 0) == 1
        if leave_one_out and len(self) == 1:
            return 0.0
        log_sum = 0.0
        for n, w in enumerate(weights, start=1):
            counts = _ngram_counts(hypothesis, n)
            total = sum(counts.values())
            if total == 0:
                return 0.0
            clipped = sum(min(k, self._max_count(n, g, k, leave_one_out)) for g, k in counts.items())
            if clipped == 0:
                return 0.0
            log_sum += w * math.log(clipped / total)
        r = min(self.lengths, key=lambda length: (abs(length - c), length))
        bp = 1.0 if c > r else math.exp(1 - r / c)
        return bp * math.exp(log_sum)
