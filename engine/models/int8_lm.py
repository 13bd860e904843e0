"""An int8 inference copy of the decoder, for CPUs with AVX-512 VNNI.

On the project's 2-core Xeon an int8 matmul (`torch._int_mm`) runs about 4x the fp32 rate, and
this CPU has no bf16 units, so int8 is its fast path. Weights are int8 with one scale per output
row; activations are quantized per row, so every integer product is exact and a request's poem
never depends on what it is batched with.
"""

from __future__ import annotations

import time
from functools import cache

import torch


@cache
def int8_is_faster(m: int = 64, k: int = 512, n: int = 1536) -> bool:
    """Whether `torch._int_mm` beats an fp32 matmul of the decoder's shape on this CPU, measured once.
    Hosts differ: about 4x faster with AVX-512 VNNI, 16x *slower* on an AVX2-only EPYC (measured)."""
    a, b = torch.ones(m, k, dtype=torch.int8), torch.ones(k, n, dtype=torch.int8)
    af, bf = a.float(), b.float()

    def best(fn) -> float:
        fn()
        times = []
        for _ in range(3):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return min(times)

    return best(lambda: torch._int_mm(a, b)) < best(lambda: af @ bf)


def quantize_rows(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """x (M, K) float -> int8 (M, K) and scale (M, 1): symmetric, one scale per row."""
    inv = x.abs().amax(dim=1, keepdim=True).clamp_(min=1e-8).reciprocal_().mul_(127.0)
    return (x * inv).round_().to(torch.int8), inv.reciprocal_()


class Int8Linear:
    """y = x @ W.T + b with W (N, K) stored as int8 and a per-row scale; x comes quantized."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None = None):
        w, scale = quantize_rows(weight.detach().float())
        self.wt = w.t()  # (K, N) view of the (N, K) int8 rows: the layout _int_mm reads fastest
        self.scale = scale[:, 0]  # (N,)
        self.bias = None if bias is None else bias.detach().float()

    def __call__(self, xq: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """xq: quantize_rows(x) -> (M, N) float."""
        q, sx = xq
        y = torch._int_mm(q, self.wt).float().mul_(self.scale)  # (M, N)
        return y.mul_(sx) if self.bias is None else torch.addcmul(self.bias, y, sx)


class Int8Decoder:
    """PoemLM's decoding interface (start, step) on int8 weights. Conditioning runs once per poem
    in fp32 on the wrapped model. The state keeps every layer's h with its quantized copy, which
    serves both the next layer now and the same layer at the next step."""

    def __init__(self, lm):
        self.lm = lm.eval()
        self.cfg = lm.cfg
        gru = lm.rnn
        self.layers = [
            (
                Int8Linear(getattr(gru, f"weight_ih_l{i}"), getattr(gru, f"bias_ih_l{i}")),
                Int8Linear(getattr(gru, f"weight_hh_l{i}"), getattr(gru, f"bias_hh_l{i}")),
            )
            for i in range(gru.num_layers)
        ]
        self.H = gru.hidden_size
        self.out = Int8Linear(lm.out.weight, lm.out.bias)
        self.int8 = True

    def start(self, form, keyword, slot, tone, z=None):
        pos, h0 = self.lm.start(form, keyword, slot, tone, z)
        return pos, [(h, quantize_rows(h)) for h in h0]

    def step(self, prev, pos, state):
        """prev (B,), pos (B, E), state -> output (B, E), new state. Gates in PyTorch's order (r, z, n)."""
        H, new = self.H, []
        xq = quantize_rows(self.lm.tok_emb(prev) + pos)
        for (ih, hh), (h, hq) in zip(self.layers, state, strict=True):
            gi, gh = ih(xq), hh(hq)  # (B, 3H) each
            rz = torch.sigmoid(gi[:, : 2 * H].add_(gh[:, : 2 * H]))
            n = torch.tanh(gi[:, 2 * H :].addcmul_(rz[:, :H], gh[:, 2 * H :]))
            h = torch.lerp(n, h, rz[:, H:])  # (1 - z) * n + z * h
            xq = quantize_rows(h)
            new.append((h, xq))
        return self.out(xq), new
