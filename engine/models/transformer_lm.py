"""A small causal Transformer decoder with PoemLM's inputs and loss: benchmarks/train_speed.py's
comparison only (GRU vs Transformer at equal CPU time). Nothing in decoding, serving or checkpoints
loads it; the shipped generators stay PoemLM, whose `step` the whole decoding stack relies on.

Same conditioning as PoemLM (form, keyword, slot, tone asked; the slot embedding is the position
embedding), same tied output layer and full-softmax loss, pre-norm blocks as in nanoGPT.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.models.encoding import N_SLOTS
from engine.models.poem_lm import tied_softmax_loss


@dataclass
class TransformerLMConfig:
    vocab_size: int = 8000
    n_forms: int = 4
    n_embd: int = 256  # width of the residual stream, tied with the output layer
    n_head: int = 4
    n_layer: int = 4
    dropout: float = 0.1

    def to_dict(self) -> dict:
        return asdict(self)


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: TransformerLMConfig):
        super().__init__()
        self.n_head, self.dropout = cfg.n_head, cfg.dropout
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
                   for t in self.qkv(x).split(C, dim=2))  # each (B, nh, T, hs)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.drop(self.proj(y.transpose(1, 2).reshape(B, T, C)))


class Block(nn.Module):
    def __init__(self, cfg: TransformerLMConfig):
        super().__init__()
        self.ln1, self.attn = nn.LayerNorm(cfg.n_embd), CausalSelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.n_embd)
        self.mlp = nn.Sequential(nn.Linear(cfg.n_embd, 4 * cfg.n_embd), nn.GELU(),
                                 nn.Linear(4 * cfg.n_embd, cfg.n_embd), nn.Dropout(cfg.dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class TransformerLM(nn.Module):
    def __init__(self, cfg: TransformerLMConfig):
        super().__init__()
        self.cfg = cfg
        E = cfg.n_embd
        self.tok_emb = nn.Embedding(cfg.vocab_size, E, padding_idx=0)
        self.slot_emb = nn.Embedding(N_SLOTS, E)  # where in the poem: the position embedding
        self.tone_emb = nn.Embedding(4, E)
        self.form_emb = nn.Embedding(cfg.n_forms, E)
        self.cond = nn.Linear(2 * E, E)  # [form; keyword] -> condition, added to every input
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(E)
        self.out_bias = nn.Parameter(torch.zeros(cfg.vocab_size))
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear | nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def forward(self, prev, slot, tone, form, keyword, z=None, targets=None):
        """PoemLM.forward's contract: prev/slot/tone (B, T), form (B,), keyword (B, K) ->
        (logits (B, T, V), None), or (None, mean NLL) given targets (B, T)."""
        kw = self.tok_emb(keyword)  # (B, K, E)
        kw = kw.sum(1) / (keyword > 0).sum(1, keepdim=True).clamp(min=1)  # (B, E)
        c = torch.tanh(self.cond(torch.cat([self.form_emb(form), kw], dim=-1)))  # (B, E)
        x = self.tok_emb(prev) + self.slot_emb(slot) + self.tone_emb(tone) + c[:, None]  # (B, T, E)
        x = self.drop(x)
        for block in self.blocks:
            x = block(x)
        x = self.ln_f(x)
        if targets is not None:
            return None, tied_softmax_loss(x.flatten(0, 1), self.tok_emb.weight, self.out_bias, targets.flatten())
        return x @ self.tok_emb.weight.t() + self.out_bias, None
