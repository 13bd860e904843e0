"""Corpus associations that steer decoding towards what poets write: a keyword's theme characters
and the characters that stand opposite each other in parallel couplets (对仗).

theme: for a character k, the characters c that share a couplet with k more often than chance,
    PMI(c; k) = log p(c | k) - log p(c), p over couplets (two lines) of the training poems,
    p(c | k) smoothed towards p(c) by `MU` couplets. (engine/evaluation/theme.py scores whole poems; this is
    the more local couplet window.)
pairs: for a character a, the characters b found at the same position of the next line in the
    颔联 and 颈联 of regulated verse more often than chance: PMI(a, b) over those aligned pairs.
For each character the best `K` of each, positive PMIs only; stored with the checkpoint as int16
ids and fp16 values (about 0.6 MB per table).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import torch
from scipy import sparse

from engine.corpus.vocab import SPECIALS, Vocab
from engine.prosody.forms import LVSHI

K = 20  # neighbours kept per character
MU = 50.0  # theme smoothing, in couplets
MIN_PAIRS = 3  # a neighbour must be seen together at least this often
PARALLEL_COUPLETS = (2, 4)  # 0-based first lines of the 颔联 and 颈联


def _top_k(pmi: np.ndarray, count: np.ndarray, k: int, min_pairs: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row's k best columns with a positive PMI, seen together min_pairs times or more, ranked
    by count x PMI (the pair's share of the mutual information: raw PMI favours rare characters).
    -> ids (V, k) int16, 0 for an empty slot, and their PMIs (V, k) fp16."""
    pmi = np.where((count >= min_pairs) & (pmi > 0), pmi, 0.0).astype(np.float32)
    pmi[:, : len(SPECIALS)] = 0.0
    np.fill_diagonal(pmi, 0.0)
    rank = pmi * count
    idx = np.argpartition(-rank, k, axis=1)[:, :k]  # (V, k) unordered
    order = np.argsort(-np.take_along_axis(rank, idx, axis=1), axis=1)
    idx = np.take_along_axis(idx, order, axis=1)
    vals = np.take_along_axis(pmi, idx, axis=1)
    idx[vals <= 0] = 0
    return torch.from_numpy(idx.astype(np.int16)), torch.from_numpy(vals).half()


def build(poems_lines: Iterable[tuple[Sequence[str], str | None]], vocab: Vocab, k: int = K,
          min_pairs: int = MIN_PAIRS) -> dict:
    """(lines, form) of the training poems -> {theme_ids, theme_vals, pair_ids, pair_vals}, each (V, k),
    and char_counts (V,): how often each character occurs."""
    V, stoi = len(vocab), vocab.stoi
    rows, cols, n_units = [], [], 0
    pa, pb, every_id = [], [], []
    for lines, form in poems_lines:
        ids = [[stoi[ch] for ch in ln if ch in stoi] for ln in lines]
        for ln in ids:
            every_id += ln
        for i in range(0, len(ids) - 1, 2):
            chars = set(ids[i]) | set(ids[i + 1])
            rows += [n_units] * len(chars)
            cols += chars
            n_units += 1
        if form in LVSHI:
            for i in PARALLEL_COUPLETS:
                a, b = lines[i], lines[i + 1]
                for x, y in zip(a, b, strict=False):
                    if x in stoi and y in stoi:
                        pa.append(stoi[x])
                        pb.append(stoi[y])
    char_counts = np.bincount(np.array(every_id, dtype=np.int64), minlength=V)
    # presence, not counts: each couplet lists a character once
    x = sparse.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(max(n_units, 1), V))
    together = (x.T @ x).toarray()  # (V, V) couplets holding both
    df = np.asarray(x.sum(axis=0)).ravel()  # couplets holding each
    p = np.maximum(df, 1e-9) / max(n_units, 1)
    with np.errstate(divide="ignore"):
        theme = np.log((together + MU * p[None]) / (df[:, None] + MU)) - np.log(p[None])
    theme_ids, theme_vals = _top_k(theme, together, k, min_pairs)

    pairs = np.zeros((V, V), np.float32)
    np.add.at(pairs, (np.array(pa, dtype=np.int64), np.array(pb, dtype=np.int64)), 1.0)
    n = max(pairs.sum(), 1.0)
    pa_n, pb_n = pairs.sum(1, keepdims=True), pairs.sum(0, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        pmi = np.log(pairs * n / np.maximum(pa_n * pb_n, 1e-9))
    pair_ids, pair_vals = _top_k(np.nan_to_num(pmi, neginf=0.0), pairs, k, min_pairs)
    return {"theme_ids": theme_ids, "theme_vals": theme_vals, "pair_ids": pair_ids, "pair_vals": pair_vals,
            "char_counts": torch.from_numpy(char_counts.astype(np.int32))}


def theme_bias(assoc: dict, keyword_ids: Sequence[int]) -> tuple[list[int], list[float]]:
    """The keyword characters' theme neighbours with their mean PMI (absent counts 0)."""
    if "theme_lists" not in assoc:  # rows as Python lists, once: indexing tensors per request is slow
        assoc["theme_lists"] = list(zip(assoc["theme_ids"].tolist(), assoc["theme_vals"].tolist(), strict=True))
    acc: dict[int, float] = {}
    for kid in keyword_ids:
        for i, v in zip(*assoc["theme_lists"][kid], strict=True):
            if i > 0 and i not in keyword_ids:
                acc[i] = acc.get(i, 0.0) + v / len(keyword_ids)
    best = sorted(acc.items(), key=lambda kv: -kv[1])[:K]
    return [i for i, _ in best], [v for _, v in best]


def lexicon_codes(words: Iterable[str], vocab: Vocab) -> torch.Tensor:
    """Two-character words -> sorted int32 codes a * V + b (words with unknown characters dropped)."""
    V, stoi = len(vocab), vocab.stoi
    codes = sorted({stoi[w[0]] * V + stoi[w[1]] for w in words if w[0] in stoi and w[1] in stoi})
    return torch.tensor(codes, dtype=torch.int32)


def lexicon_words(codes: torch.Tensor, vocab: Vocab) -> frozenset[str]:
    V, itos = len(vocab), vocab.itos
    return frozenset(itos[c // V] + itos[c % V] for c in codes.tolist())
