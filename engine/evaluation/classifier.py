"""Can a fresh classifier tell generated poems from real ones?

A TF-IDF model of character 1–2-grams with logistic regression (scikit-learn) is trained to
separate the generated poems from as many real held-out poems; its 5-fold cross-validated
accuracy is reported. 0.5 means the classifier cannot tell them apart; 1.0 means it always can.
Lines are joined with a newline on both sides, so punctuation style cannot give a poem away.

A bag of character n-grams sees which characters and pairs occur, not how well they fit, so
when a `PairCounts` of the training lines is given the classifier also gets four fluency figures
per poem: the mean and minimum log training count of its in-line character pairs, the share of
pairs never seen in training, and the share of repeated characters. Those catch text that has
the corpus's character frequencies but not its word pairs (docs/eval-baselines.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from scipy.sparse import csr_matrix, hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler

FOLDS = 5


class PairCounts:
    """Training counts of in-line character pairs, hashed into a fixed array (compact to cache)."""

    SIZE = 1 << 22

    def __init__(self, lines: Iterable[str]):
        counts = np.zeros(self.SIZE, dtype=np.int32)
        keys = [self._key(ln[i : i + 2]) for ln in lines for i in range(len(ln) - 1)]
        np.add.at(counts, np.array(keys, dtype=np.int64), 1)
        self.counts = counts

    @classmethod
    def _key(cls, pair: str) -> int:
        return (ord(pair[0]) * 1_000_003 + ord(pair[1])) % cls.SIZE

    def features(self, lines: Sequence[str]) -> list[float]:
        pairs = [ln[i : i + 2] for ln in lines for i in range(len(ln) - 1)]
        if not pairs:
            return [0.0, 0.0, 1.0, 0.0]
        logc = np.log1p(self.counts[[self._key(p) for p in pairs]].astype(np.float64))
        chars = "".join(lines)
        return [float(logc.mean()), float(logc.min()), float((logc == 0).mean()), 1 - len(set(chars)) / len(chars)]


def discriminator_accuracy(
    generated: Sequence[Sequence[str]],
    real: Sequence[Sequence[str]],
    *,
    folds: int = FOLDS,
    seed: int = 0,
    pairs: PairCounts | None = None,
) -> float | None:
    """Mean cross-validated accuracy on generated (label 1) vs real (label 0) poems, given as lines.

    None when either side has fewer than `folds` poems. Every fold fits its own vectoriser and
    scaler on its training part only.
    """
    if min(len(generated), len(real)) < folds:
        return None
    poems = list(generated) + list(real)
    docs = np.array(["\n".join(lines) for lines in poems], dtype=object)
    dense = np.array([pairs.features(lines) for lines in poems]) if pairs is not None else None
    labels = np.array([1] * len(generated) + [0] * len(real))
    splits = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    scores = []
    for tr, te in splits.split(docs, labels):
        vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 2), sublinear_tf=True)
        x_tr, x_te = vec.fit_transform(docs[tr]), vec.transform(docs[te])
        if dense is not None:
            scale = StandardScaler().fit(dense[tr])
            x_tr = hstack([x_tr, csr_matrix(scale.transform(dense[tr]))]).tocsr()
            x_te = hstack([x_te, csr_matrix(scale.transform(dense[te]))]).tocsr()
        clf = LogisticRegression(solver="liblinear", dual=True).fit(x_tr, labels[tr])  # dual: few poems, many n-grams
        scores.append(float((clf.predict(x_te) == labels[te]).mean()))
    return float(np.mean(scores))
