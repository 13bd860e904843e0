"""The conditional character GRU both generators decode with.

It is the GAN's generator and the VAE's decoder. Conditioning: the form, the keyword (mean of its
character embeddings) and, for the VAE, a latent z. The condition sets the initial hidden state and
is added to every input, together with the slot (where in the poem) and the tone asked of the next
character. Output embeddings are tied to the input embeddings.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.models.encoding import N_SLOTS


@dataclass
class PoemLMConfig:
    vocab_size: int = 8000
    n_forms: int = 4
    n_embd: int = 256  # character embedding size (tied with the output layer)
    n_hidden: int = 512  # GRU hidden size
    n_layer: int = 2
    z_dim: int = 0  # latent size; 0 for the GAN generator
    dropout: float = 0.2

    def to_dict(self) -> dict:
        return asdict(self)


class PoemLM(nn.Module):
    def __init__(self, cfg: PoemLMConfig):
        super().__init__()
        self.cfg = cfg
        E, H = cfg.n_embd, cfg.n_hidden
        self.tok_emb = nn.Embedding(cfg.vocab_size, E, padding_idx=0)
        self.slot_emb = nn.Embedding(N_SLOTS, E)
        self.tone_emb = nn.Embedding(4, E)
        self.form_emb = nn.Embedding(cfg.n_forms, E)
        self.cond = nn.Linear(2 * E + cfg.z_dim, H)  # [form; keyword; z] -> condition c
        self.init_h = nn.Linear(H, cfg.n_layer * H)
        self.cond_in = nn.Linear(H, E, bias=False)
        self.drop = nn.Dropout(cfg.dropout)
        self.rnn = nn.GRU(E, H, cfg.n_layer, batch_first=True, dropout=cfg.dropout if cfg.n_layer > 1 else 0)
        self.out = nn.Linear(H, E)
        self.out_bias = nn.Parameter(torch.zeros(cfg.vocab_size))

    def condition(self, form: torch.Tensor, keyword: torch.Tensor, z: torch.Tensor | None = None):
        """form (B,), keyword (B, K) ids padded with 0, z (B, Z) -> c (B, H), h0 (L, B, H)."""
        kw = self.tok_emb(keyword)  # (B, K, E)
        n = (keyword > 0).sum(1, keepdim=True).clamp(min=1)
        kw = kw.sum(1) / n  # (B, E); padding rows are zero
        parts = [self.form_emb(form), kw] + ([z] if self.cfg.z_dim else [])
        c = torch.tanh(self.cond(torch.cat(parts, dim=-1)))  # (B, H)
        h0 = torch.tanh(self.init_h(c)).view(-1, self.cfg.n_layer, self.cfg.n_hidden).transpose(0, 1)
        return c, h0.contiguous()

    def inputs(self, prev: torch.Tensor, slot: torch.Tensor, tone: torch.Tensor, c: torch.Tensor):
        """prev/slot/tone (B, T) -> GRU inputs (B, T, E)."""
        x = self.tok_emb(prev) + self.slot_emb(slot) + self.tone_emb(tone) + self.cond_in(c).unsqueeze(1)
        return self.drop(x)

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        """h (..., H) -> logits (..., V) through the tied embedding."""
        return self.out(self.drop(h)) @ self.tok_emb.weight.t() + self.out_bias

    def forward(self, prev, slot, tone, form, keyword, z=None, targets=None):
        """Teacher-forced pass. prev: (B, T) previous tokens (BOS first); targets (B, T)."""
        c, h0 = self.condition(form, keyword, z)
        out, _ = self.rnn(self.inputs(prev, slot, tone, c), h0)  # (B, T, H)
        logits = self.logits(out)  # (B, T, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-1)
        return logits, loss

    # -- decoding, one step at a time (engine/decoding/decode.py; engine/models/int8_lm.py mirrors these) --

    def start(self, form, keyword, slot, tone, z=None):
        """Set up a decode. slot/tone (B, T) -> every position's input but the previous token's
        (B, T, E), and the initial state h (L, B, H)."""
        c, h0 = self.condition(form, keyword, z)
        return self.slot_emb(slot) + self.tone_emb(tone) + self.cond_in(c)[:, None], h0

    def step(self, prev, pos, h):
        """prev (B,), pos (B, E) this position's input, h -> output (B, E) to be scored against the
        tied embedding (engine/decoding/output_head.py), new h."""
        out, h = self.rnn((self.tok_emb(prev) + pos)[:, None], h)
        return self.out(out[:, 0]), h

