"""Drawing one character per row from masked logits: min-p by inverse CDF (linear time), or top-k /
top-p over the `TOPK_CAP` likeliest. `u` gives each row's uniform draw, so a request draws the same
character whether batched or alone."""

from __future__ import annotations

import torch
import torch.nn.functional as F

TOPK_CAP = 64  # sampling considers at most this many candidates (topk over the vocabulary is costly)


def sample(
    logits: torch.Tensor, u: torch.Tensor, top_k: torch.Tensor, top_p: torch.Tensor, min_p: torch.Tensor,
    mx: torch.Tensor | None = None,
) -> torch.Tensor:
    """One draw per row by inverse CDF (cumsum + searchsorted: far cheaper than torch.multinomial
    on CPU). logits (n, m), u (n,), top_k/top_p/min_p (n, 1), mx: the rows' maxima (n, 1) if known
    -> column ids (n,).
    min-p keeps the characters at least min_p times as likely as the likeliest: linear time. Rows
    asking for top-k or top-p first take the `TOPK_CAP` best (torch.topk: several times dearer)."""
    narrow = ((top_k > 0) | (top_p < 1))[:, 0]
    if mx is None:
        mx = logits.amax(1, keepdim=True)
    if not narrow.any():
        return sample_min_p(logits, u, min_p, mx)
    if narrow.all():
        return _sample_top(logits, u, top_k, top_p, min_p)
    out = torch.empty(logits.shape[0], dtype=torch.long, device=logits.device)
    wide = ~narrow
    out[wide] = sample_min_p(logits[wide], u[wide], min_p[wide], mx[wide])
    out[narrow] = _sample_top(logits[narrow], u[narrow], top_k[narrow], top_p[narrow], min_p[narrow])
    return out


def sample_min_p(logits, u, min_p, mx):
    """The min-p draw alone: no top-k or top-p, linear time. Each row is shifted by its maximum and
    log(min_p), so one scalar threshold at 1 keeps exactly the characters at least min_p times as
    likely as the likeliest (masked_fill is several times slower on CPU); the rows' constant
    factor does not change the draw. The clamp keeps exp off its slow underflow path."""
    shift = mx + torch.log(min_p.clamp(min=1e-30))  # (n, 1)
    p = F.threshold_((logits - shift).clamp_(min=-30.0).exp_(), 1.0, 0.0)  # (n, m), proportional to p
    cum = p.cumsum_(1)
    pick = torch.searchsorted(cum, (u[:, None] * cum[:, -1:]), right=True)
    return pick[:, 0].clamp_(max=logits.shape[1] - 1)


def _sample_top(logits, u, top_k, top_p, min_p):
    k = min(TOPK_CAP, logits.shape[1])
    vals, idx = torch.topk(logits, k, dim=1)  # (n, k), sorted
    probs = torch.softmax(vals, dim=1)
    cum = torch.cumsum(probs, dim=1)
    rank = torch.arange(k, device=logits.device)[None]
    keep = ((cum - probs) < top_p) & (rank < torch.where(top_k > 0, top_k, TOPK_CAP))
    keep &= probs >= min_p * probs[:, :1]
    keep[:, 0] = True
    probs = probs * keep
    cum = torch.cumsum(probs, dim=1)
    pick = torch.searchsorted(cum, (u * cum[:, -1])[:, None]).clamp(max=k - 1)
    return idx.gather(1, pick)[:, 0]
