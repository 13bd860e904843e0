"""SeqGAN for poems (Yu et al., 2017): generator, discriminator and the policy-gradient step.

Generator: the conditional GRU of engine/models/poem_lm.py, pretrained by maximum likelihood.
Discriminator: a CNN over character embeddings (widths 2-7, max-over-time, highway), as in the paper.
Adversarial step: the generator samples poems with the same constrained decoder used in
production; each line is scored by Monte-Carlo rollouts (complete the poem from that line's end n
times, ask the discriminator) and every token of the line gets that reward; REINFORCE on the
masked policy, with a running-mean baseline.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.corpus.vocab import BOS
from engine.decoding.decode import DecodeSpec, ProsodyMasks, decode
from engine.models.encoding import FORM_IDS, seq_len, slots
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


@dataclass
class AdvConfig:
    rollouts: int = 4  # Monte-Carlo completions per line end
    mle_mix: float = 0.5  # weight of a teacher-forced MLE loss mixed into each generator step
    baseline_decay: float = 0.9
    d_steps: int = 1  # discriminator updates per generator update
    temperature: float = 1.0  # the policy's own distribution while training
    extra: dict = field(default_factory=dict)


@torch.no_grad()
def line_rewards(
    gen,
    disc: Discriminator,
    specs: list[DecodeSpec],
    tokens: torch.Tensor,
    masks: ProsodyMasks,
    n_rollouts: int,
    tones: torch.Tensor,
    head=None,
) -> torch.Tensor:
    """Reward of every token (B, T): D's mean probability of 'real' over rollouts that complete the
    poem from the end of the token's line; the last line is scored on the poem itself."""
    form = FORMS[specs[0].form]
    B, T, w = tokens.shape[0], seq_len(form), form.line_len + 1
    form_t = torch.full((B,), FORM_IDS[form.name], device=tokens.device)
    disc.eval()
    rewards = torch.zeros(B, T, device=tokens.device)
    for line in range(form.n_lines):
        end = (line + 1) * w
        if line == form.n_lines - 1:
            q = torch.sigmoid(disc(tokens, form_t))
        else:
            q = torch.zeros(B, device=tokens.device)
            for r in range(n_rollouts):
                ro = [
                    replace(s, prefix=tokens[i, :end].tolist(), prefix_tones=tones[i, :end].tolist(),
                            seed=s.seed * 7919 + line * 31 + r + 1)
                    for i, s in enumerate(specs)
                ]
                q += torch.sigmoid(disc(decode(gen, ro, masks, head=head), form_t))
            q /= n_rollouts
        rewards[:, line * w : end] = q[:, None]
    return rewards


def policy_loss(gen, specs: list[DecodeSpec], tokens: torch.Tensor, step_masks: torch.Tensor,
                advantages: torch.Tensor, tones: torch.Tensor) -> torch.Tensor:
    """REINFORCE on the masked policy: -mean(advantage * log pi(token | prefix, constraints)).
    The generator is fed what the decoder fed it (slots, the tone inputs `tones` (B, T) that
    decode returned, keyword), so the policy rebuilt here is the one that sampled."""
    B, T = tokens.shape
    dev = tokens.device
    form_t = torch.full((B,), FORM_IDS[specs[0].form], device=dev)
    slot = torch.tensor(slots(FORMS[specs[0].form]), device=dev).expand(B, T)
    tone = tones
    keyword = torch.tensor([s.keyword for s in specs], device=dev)
    prev = torch.cat([torch.full((B, 1), BOS, device=dev), tokens[:, :-1]], dim=1)
    logits, _ = gen(prev, slot, tone, form_t, keyword)  # (B, T, V)
    logp = torch.log_softmax(logits + step_masks, dim=-1).gather(2, tokens[..., None])[..., 0]  # (B, T)
    sampled = torch.isfinite(logp) & (step_masks.eq(0).sum(-1) > 1)  # positions with a real choice
    logp = torch.where(sampled, logp, torch.zeros_like(logp))
    return -(advantages * logp).sum() / sampled.sum().clamp(min=1)
