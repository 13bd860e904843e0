"""The SeqGAN discriminator (Yu et al., 2017): a CNN over character embeddings (widths 2-7,
max-over-time, highway) that scores how real a poem of a given form looks. Trained in
engine/training/adversarial.py; its weights ship in the GAN checkpoint under "disc"."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.prosody.forms import FORMS


@dataclass
class DiscConfig:
    vocab_size: int = 8000
    n_embd: int = 64
    widths: tuple[int, ...] = (2, 3, 4, 5, 7)
    n_filters: int = 64  # per width
    dropout: float = 0.25

    def to_dict(self) -> dict:
        return asdict(self)


class Discriminator(nn.Module):
    def __init__(self, cfg: DiscConfig):
        super().__init__()
        self.cfg = cfg
        self.emb = nn.Embedding(cfg.vocab_size, cfg.n_embd, padding_idx=0)
        self.form_emb = nn.Embedding(len(FORMS), cfg.n_embd)
        self.convs = nn.ModuleList(
            nn.Conv1d(cfg.n_embd, cfg.n_filters, w, padding=w // 2) for w in cfg.widths
        )
        F_ = cfg.n_filters * len(cfg.widths)
        self.highway = nn.Linear(F_, 2 * F_)
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(F_, 1)

    def forward(self, tokens: torch.Tensor, form: torch.Tensor) -> torch.Tensor:
        """tokens (B, T), form (B,) -> logit that the poem is real (B,)."""
        x = (self.emb(tokens) + self.form_emb(form)[:, None]).transpose(1, 2)  # (B, E, T)
        feats = torch.cat([F.relu(conv(x)).amax(dim=2) for conv in self.convs], dim=1)  # (B, F)
        h, gate = self.highway(feats).chunk(2, dim=1)
        feats = torch.sigmoid(gate) * F.relu(h) + (1 - torch.sigmoid(gate)) * feats
        return self.head(self.drop(feats))[:, 0]
