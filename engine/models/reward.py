"""A small reward model: P(liked) of a poem from its characters, its keyword and its form.

Ratings are few (hundreds to thousands) and noisy, so the model is a logistic regression: one
weight per character the poem contains (each counted once: "poems with 月 are liked"), one per
keyword character ("poems on 秋 are liked") and one per form. A hidden layer for interactions
("月 is liked in autumn poems") measured no better on simulated ratings and cost fitting time.
With ~1,000 ratings over ~8,000 characters it must be strongly regularised: an L2 penalty, its
strength chosen on the newest training ratings (`fit_select`). Trained on
liked (1) and disliked (0) ratings with per-example weights (learning/data.py); judged by AUC on
ratings it never saw.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.corpus.vocab import Vocab
from engine.models.encoding import FORM_IDS, MAX_KEYWORD

MAX_CHARS = 56  # a 七律's characters


@dataclass
class RewardConfig:
    vocab_size: int = 8000
    c: float = 0.01  # inverse L2 strength, as in logistic regression: the penalty is |w|^2 / (2 c n)
    c_grid: tuple[float, ...] = (0.003, 0.01, 0.03, 0.1)  # tried by `fit_select` on the newest ratings
    max_iter: int = 100  # L-BFGS iterations (full batch)
    valid_share: float = 0.2  # newest share of the training ratings that chooses c

    def to_dict(self) -> dict:
        return asdict(self)


class RewardModel(nn.Module):
    def __init__(self, cfg: RewardConfig):
        super().__init__()
        self.cfg = cfg
        self.chars = nn.EmbeddingBag(cfg.vocab_size, 1, mode="sum", padding_idx=0)
        self.keyword = nn.EmbeddingBag(cfg.vocab_size, 1, mode="sum", padding_idx=0)
        self.form = nn.Embedding(len(FORM_IDS), 1)
        self.bias = nn.Parameter(torch.zeros(1))
        for w in (self.chars.weight, self.keyword.weight, self.form.weight):
            nn.init.zeros_(w)

    def forward(self, chars, keyword, form, targets=None, weights=None):
        """chars (B, MAX_CHARS) distinct character ids padded with 0, keyword (B, K), form (B,)
        -> logit of P(liked) (B,), and the weighted, penalised BCE loss if targets (B,) are given."""
        logit = (self.chars(chars) + self.keyword(keyword) + self.form(form))[:, 0] + self.bias
        loss = None
        if targets is not None:
            w = torch.ones_like(targets) if weights is None else weights
            loss = (F.binary_cross_entropy_with_logits(logit, targets, reduction="none") * w).sum() / w.sum()
            l2 = sum(p.pow(2).sum() for p in (self.chars.weight, self.keyword.weight, self.form.weight))
            loss = loss + l2 / (2 * self.cfg.c * float(w.sum()))
        return logit, loss


def encode(texts, keywords, forms, vocab: Vocab) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Poem texts, keywords and form names -> the three input tensors of RewardModel."""
    rows, kws = [], []
    for text, kw in zip(texts, keywords, strict=True):
        ids = sorted({i for i in vocab.encode(text) if i > 5})[:MAX_CHARS]  # ids 0-5: specials and ，。
        rows.append(ids + [0] * (MAX_CHARS - len(ids)))
        k = [i for i in vocab.encode(kw[:MAX_KEYWORD]) if i > 5]
        kws.append(k + [0] * (MAX_KEYWORD - len(k)))
    form = torch.tensor([FORM_IDS.get(f, 0) for f in forms], dtype=torch.long)
    return torch.tensor(rows, dtype=torch.long), torch.tensor(kws, dtype=torch.long), form


def fit(model: RewardModel, inputs, targets: torch.Tensor, weights: torch.Tensor) -> float:
    """Full-batch L-BFGS on the penalised loss (convex: the optimum, whatever the start)."""
    opt = torch.optim.LBFGS(model.parameters(), max_iter=model.cfg.max_iter, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad(set_to_none=True)
        _, loss = model(*inputs, targets, weights)
        loss.backward()
        return loss

    model.train()
    loss = opt.step(closure)
    model.eval()
    return loss.item()


def fit_select(cfg: RewardConfig, inputs, targets: torch.Tensor, weights: torch.Tensor):
    """Choose the L2 strength on the newest `valid_share` of the examples (given oldest first) by
    AUC, then fit on all of them. Returns the model and the validation AUC of each c."""
    n = len(targets)
    cut = n - max(1, int(n * cfg.valid_share))
    tr, va = slice(0, cut), slice(cut, n)
    scores = {}
    if 0 < cut < n and 0 < targets[va].sum() < n - cut:
        for c in cfg.c_grid:
            m = RewardModel(replace(cfg, c=c))
            fit(m, [x[tr] for x in inputs], targets[tr], weights[tr])
            scores[c] = auc(predict(m, [x[va] for x in inputs]).tolist(), targets[va].tolist())
    best = max(scores, key=lambda c: (scores[c], -c)) if scores else cfg.c
    model = RewardModel(replace(cfg, c=best))
    fit(model, inputs, targets, weights)
    return model, {"c": best, "valid_auc": {str(c): round(a, 4) for c, a in scores.items()}}


@torch.no_grad()
def predict(model: RewardModel, inputs, batch: int = 4096) -> torch.Tensor:
    """P(liked) (N,) of encoded poems."""
    model.eval()
    out = [torch.sigmoid(model(*(x[i : i + batch] for x in inputs))[0]) for i in range(0, len(inputs[0]), batch)]
    return torch.cat(out) if out else torch.zeros(0)


def auc(scores, labels) -> float | None:
    """Area under the ROC curve (Mann-Whitney U, ties counted half); None without both classes."""
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    if not pos or not neg:
        return None
    ranked = sorted([(s, 1) for s in pos] + [(s, 0) for s in neg])
    rank_sum, i = 0.0, 0
    while i < len(ranked):  # average ranks over ties
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        rank_sum += (i + j + 1) / 2 * sum(y for _, y in ranked[i:j])
        i = j
    n1, n0 = len(pos), len(neg)
    return (rank_sum - n1 * (n1 + 1) / 2) / (n1 * n0)


def auc_null_sd(n_pos: int, n_neg: int) -> float:
    """Standard deviation of the AUC of a scorer that knows nothing (Mann-Whitney, no ties)."""
    return math.sqrt((n_pos + n_neg + 1) / (12 * n_pos * n_neg)) if n_pos and n_neg else math.inf

