"""A keyword- and form-conditioned text CVAE.

Encoder: a bidirectional GRU over the poem gives mu and log sigma^2 of q(z | poem).
Decoder: the conditional GRU (engine/models/poem_lm.py) with z joined to the form and keyword condition.
Against posterior collapse: KL annealing (the caller passes kl_weight), free bits per latent
dimension, and word dropout on the decoder's inputs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
import torch.nn as nn

from engine.corpus.vocab import COMMA, PERIOD, UNK
from engine.models.poem_lm import PoemLM, PoemLMConfig


@dataclass
class VAEConfig:
    lm: PoemLMConfig = field(default_factory=lambda: PoemLMConfig(z_dim=32))
    enc_hidden: int = 256  # per direction
    word_dropout: float = 0.3  # share of decoder inputs replaced by <unk>
    free_bits: float = 0.25  # nats per latent dimension not penalised

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> VAEConfig:
        return cls(**{**d, "lm": PoemLMConfig(**d["lm"])})


class PoemVAE(nn.Module):
    def __init__(self, cfg: VAEConfig):
        super().__init__()
        self.cfg = cfg
        self.decoder = PoemLM(cfg.lm)
        E, Z = cfg.lm.n_embd, cfg.lm.z_dim
        self.encoder = nn.GRU(E, cfg.enc_hidden, batch_first=True, bidirectional=True)
        self.to_stats = nn.Linear(2 * cfg.enc_hidden, 2 * Z)

    def encode(self, tokens: torch.Tensor):
        """tokens (B, T) -> mu, logvar (B, Z). Shares the decoder's character embeddings."""
        _, h = self.encoder(self.decoder.tok_emb(tokens))  # h: (2, B, He)
        mu, logvar = self.to_stats(torch.cat([h[0], h[1]], dim=-1)).chunk(2, dim=-1)
        return mu, logvar.clamp(-8, 8)

    def forward(self, tokens, prev, slot, tone, form, keyword, kl_weight: float = 1.0):
        """Returns None (the loss never forms the whole logits), the loss to minimise, and a dict of
        per-token stats."""
        mu, logvar = self.encode(tokens)
        mu, logvar = mu.float(), logvar.float()  # the KL in fp32 under bf16 autocast
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if self.training else mu
        if self.training and self.cfg.word_dropout > 0:
            drop = torch.rand(prev.shape, device=prev.device) < self.cfg.word_dropout
            keep = (prev == COMMA) | (prev == PERIOD) | (torch.arange(prev.shape[1], device=prev.device) == 0)
            prev = prev.masked_fill(drop & ~keep, UNK)
        _, nll = self.decoder(prev, slot, tone, form, keyword, z=z, targets=tokens)  # mean per token
        T = tokens.shape[1]
        rec = nll * T  # per poem: every token is a target
        kl_dim = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).mean(0)  # (Z,) per dimension
        kl = kl_dim.sum()
        kl_fb = torch.clamp(kl_dim, min=self.cfg.free_bits).sum()
        loss = (rec + kl_weight * kl_fb) / T
        return None, loss, {"rec": rec.item() / T, "kl": kl.item(), "elbo": -(rec.item() + kl.item())}


@torch.no_grad()
def active_units(model: PoemVAE, tokens: torch.Tensor, threshold: float = 0.01) -> int:
    """Latent dimensions whose posterior mean varies across poems (Burda et al., 2016)."""
    mu, _ = model.encode(tokens)
    return int((mu.var(0) > threshold).sum())
