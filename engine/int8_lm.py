"""An int8 inference copy of the decoder, for CPUs with AVX-512 VNNI.

On the project's 2-core Xeon an int8 matmul (`torch._int_mm`) runs about 4x the fp32 rate, and
this CPU has no bf16 units, so int8 is its fast path. Weights are int8 with one scale per output
row; activations are quantized per row, so every integer product is exact and a request's poem
never depends on what it is batched with.
"""

from __future__ import annotations

import torch
import torch.nn as nn


def quantize_rows(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """x (M, K) float -> int8 (M, K) and scale (M, 1): symmetric, one scale per row."""
    scale = x.abs().amax(dim=1, keepdim=True).clamp_(min=1e-8).div_(127.0)
    return (x / scale).round_().to(torch.int8), scale


class Int8Linear:
    """y = x @ W.T + b with W (N, K) stored as int8 and a per-row scale."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None = None):
        w, self.scale = quantize_rows(weight.detach().float())
        self.wt = w.t()  # (K, N) view of the (N, K) int8 rows: the layout _int_mm reads fastest
        self.scale = self.scale[:, 0]  # (N,)
        self.bias = None if bias is None else bias.detach().float()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        q, sx = quantize_rows(x)
        y = torch._int_mm(q, self.wt).float().mul_(sx).mul_(self.scale)  # (M, N)
        return y if self.bias is None else y.add_(self.bias)


class Int8GRU:
    """A stacked GRU for one step at a time, gates in PyTorch's order (r, z, n)."""

    def __init__(self, gru: nn.GRU):
        self.layers = [
            (
                Int8Linear(getattr(gru, f"weight_ih_l{i}"), getattr(gru, f"bias_ih_l{i}")),
                Int8Linear(getattr(gru, f"weight_hh_l{i}"), getattr(gru, f"bias_hh_l{i}")),
            )
            for i in range(gru.num_layers)
        ]
        self.H = gru.hidden_size

    def step(self, x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, E), h (L, B, H) -> top layer's output (B, H), new h (L, B, H)."""
        H, out = self.H, []
        for (ih, hh), hl in zip(self.layers, h, strict=True):
            gi, gh = ih(x), hh(hl)  # (B, 3H) each
            rz = torch.sigmoid(gi[:, : 2 * H].add_(gh[:, : 2 * H]))
            n = torch.tanh(gi[:, 2 * H :].addcmul_(rz[:, :H], gh[:, 2 * H :]))
            x = torch.lerp(n, hl, rz[:, H:])  # (1 - z) * n + z * h
            out.append(x)
        return x, torch.stack(out)


class Int8Decoder:
    """Decoding interface of PoemLM (condition, cond_inputs, step, project) on int8 weights.
    Conditioning runs once per poem and stays in fp32 on the wrapped model."""

    def __init__(self, lm):
        self.lm = lm.eval()
        self.cfg = lm.cfg
        self.rnn = Int8GRU(lm.rnn)
        self.out = Int8Linear(lm.out.weight, lm.out.bias)
        self.int8 = True

    def condition(self, form, keyword, z=None):
        return self.lm.condition(form, keyword, z)

    def cond_inputs(self, c):
        return self.lm.cond_inputs(c)

    def step(self, prev, slot, tone, cin, h):
        x = self.lm.tok_emb(prev) + self.lm.slot_emb(slot) + self.lm.tone_emb(tone) + cin
        return self.rnn.step(x, h)

    def project(self, hidden):
        return self.out(hidden)
