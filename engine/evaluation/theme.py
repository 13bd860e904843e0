"""Theme score: how much a poem is about its keyword, beyond containing it.

From the training poems, a keyword k selects the poems that contain it (in title or text). Every
character c gets a pointwise mutual information with k, from character counts:

    PMI(c; k) = log p(c | k) - log p(c),    p(c) = n(c) / N  over all training characters,
    p(c | k) = (n_k(c) + mu * p(c)) / (N_k + mu)   over the characters of the poems with k,

smoothed towards p(c) (Dirichlet, `mu` characters), so a keyword found in few poems has PMIs
near 0 instead of noisy extremes. A poem's theme score is the mean PMI of its characters (every
occurrence), leaving out the keyword's own characters and characters never seen in training.
Positive: the poem uses the vocabulary of the poems on k; about 0 or below: it does not.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from scipy import sparse

from engine.evaluation.novelty import codepoints, line_lengths, sorted_unique

DEFAULT_MU = 1000.0  # smoothing strength, in characters (about 20 poems)
MIN_KEYWORD_POEMS = 20  # a real poem's keyword is drawn among characters in this many poems


def _count_matrix(docs: Sequence[str], char_ids: np.ndarray, n_chars: int) -> sparse.csr_matrix:
    """Documents x characters count matrix (characters without an id are dropped)."""
    cols = char_ids[codepoints("".join(docs))].astype(np.int64) - 1
    rows = np.repeat(np.arange(len(docs)), line_lengths(docs))
    keep = cols >= 0
    return sparse.csr_matrix(
        (np.ones(int(keep.sum()), dtype=np.float32), (rows[keep], cols[keep])),
        shape=(len(docs), n_chars),
    )  # duplicate (row, col) entries are summed into counts


class ThemeModel:
    """Keyword-conditioned character PMIs over a set of training poems."""

    def __init__(self, texts: Sequence[str], titles: Sequence[str], mu: float = DEFAULT_MU):
        self.mu = mu
        self.texts, self.titles = list(texts), list(titles)
        alphabet = sorted_unique(codepoints("".join(self.texts)))
        self.char_ids = np.zeros(0x110000, dtype=np.uint32)  # code point -> 1..V, 0: unseen
        self.char_ids[alphabet] = np.arange(1, len(alphabet) + 1, dtype=np.uint32)
        self.text_counts = _count_matrix(self.texts, self.char_ids, len(alphabet))  # (docs, V)
        self.text_columns = self.text_counts.tocsc()
        self.title_columns = _count_matrix(self.titles, self.char_ids, len(alphabet)).tocsc()
        self.counts = np.asarray(self.text_counts.sum(axis=0), dtype=np.float64).ravel()  # (V,)
        self.log_p = np.log(np.maximum(self.counts, 1e-12) / self.counts.sum())
        self.pmi = lru_cache(maxsize=4096)(self._pmi)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        del state["pmi"]  # a per-process cache
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.pmi = lru_cache(maxsize=4096)(self._pmi)

    def _col(self, ch: str) -> int:
        return int(self.char_ids[ord(ch)]) - 1 if len(ch) == 1 else -1

    def doc_freq(self, ch: str) -> int:
        """Number of training poems whose text uses `ch`."""
        c = self._col(ch)
        return int(self.text_columns.indptr[c + 1] - self.text_columns.indptr[c]) if c >= 0 else 0

    @staticmethod
    def _rows(columns: sparse.csc_matrix, c: int) -> np.ndarray:
        return columns.indices[columns.indptr[c] : columns.indptr[c + 1]]

    def keyword_docs(self, keyword: str) -> np.ndarray:
        """Indices of the training poems whose title or text contains `keyword`."""
        cols = [self._col(ch) for ch in keyword]
        if not keyword or min(cols) < 0:
            return np.zeros(0, dtype=np.int64)
        sets = [
            sorted_unique(
                np.concatenate((self._rows(self.text_columns, c), self._rows(self.title_columns, c)))
            )
            for c in cols
        ]
        rows = sets[0]
        for s in sets[1:]:
            rows = np.intersect1d(rows, s, assume_unique=True)
        if len(keyword) == 1:
            return rows
        return np.array(
            [r for r in rows if keyword in self.texts[r] or keyword in self.titles[r]], dtype=np.int64
        )

    def _pmi(self, keyword: str) -> np.ndarray | None:
        """PMI(c; keyword) for every character id; None if no training poem has the keyword."""
        rows = self.keyword_docs(keyword)
        if len(rows) == 0:
            return None
        if len(rows) < 20_000:  # slicing costs O(rows), the product O(all poems)
            n_k = np.asarray(self.text_counts[rows].sum(axis=0), dtype=np.float64).ravel()  # (V,)
        else:
            chosen = np.zeros(self.text_counts.shape[0], dtype=np.float32)
            chosen[rows] = 1.0
            n_k = np.asarray(self.text_counts.T @ chosen, dtype=np.float64).ravel()
        p = np.exp(self.log_p)
        return np.log((n_k + self.mu * p) / (n_k.sum() + self.mu)) - self.log_p

    def score(self, lines: Sequence[str], keyword: str) -> float | None:
        """Mean PMI of the poem's characters (keyword characters left out); None if undefined."""
        pmi = self.pmi(keyword)
        if pmi is None:
            return None
        cols = [self._col(ch) for line in lines for ch in line if ch not in keyword]
        vals = [pmi[c] for c in cols if c >= 0]
        return float(np.mean(vals)) if vals else None

    def real_keyword(self, title: str, lines: Sequence[str], rng: random.Random) -> str | None:
        """A keyword a reader might have asked for: a character of the title that the poem also
        uses, else any of its characters, among those found in at least MIN_KEYWORD_POEMS poems."""
        text = "".join(lines)
        for pool in ([ch for ch in dict.fromkeys(title) if ch in text], list(dict.fromkeys(text))):
            cands = [ch for ch in pool if self.doc_freq(ch) >= MIN_KEYWORD_POEMS]
            if cands:
                return rng.choice(cands)
        return None
