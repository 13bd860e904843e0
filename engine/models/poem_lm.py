"""The conditional character GRU both generators decode with.

It is the GAN's generator and the VAE's decoder. Conditioning: the form, the keyword (mean of its
character embeddings) and, for the VAE, a latent z. The condition sets the initial hidden state and
is added to every input, together with the slot (where in the poem) and the tone asked of the next
character. Output embeddings are tied to the input embeddings.

Training computes the full softmax over the vocabulary chunk by chunk (`tied_softmax_loss`): the
same loss and gradients as `F.cross_entropy` on the whole (B, T, V) logits, without holding them
(docs/training.md: 8-20 % less time in the output layer, ~10 % per step on CPU). Decoding is
untouched.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.models.encoding import N_SLOTS

LOSS_CHUNK = 2048  # rows of logits formed at once by tied_softmax_loss (2048 x 7824 fp32: 64 MB)


class _TiedSoftmaxLoss(torch.autograd.Function):
    """Mean cross-entropy of logits = e @ weight.T + bias against targets (-1: ignored). The forward
    pass forms each chunk's softmax once and turns it straight into that chunk's gradients; the
    backward pass only scales them. Exactly F.cross_entropy's loss and gradients (up to float
    rounding), with a few passes over each chunk instead of many over all (N, V) logits."""

    @staticmethod
    def forward(ctx, e, weight, bias, targets, chunk):  # e (N, E), weight (V, E), bias (V,), targets (N,)
        # bf16 hidden states (autocast) -> bf16 matmuls, softmax and loss in fp32, gradients of each input's dtype
        cd = torch.bfloat16 if e.dtype == torch.bfloat16 else weight.dtype
        w, b = weight.to(cd), bias.to(cd)
        valid = targets >= 0
        n = valid.sum().clamp(min=1)
        g_e, g_w, g_b = torch.empty_like(e), torch.zeros_like(weight), torch.zeros_like(bias)
        total = weight.new_zeros(())
        with torch.autocast(e.device.type, enabled=False):
            for s in range(0, e.shape[0], chunk):
                x, t, ok = e[s : s + chunk], targets[s : s + chunk].clamp(min=0), valid[s : s + chunk]
                z = torch.addmm(b, x, w.t()).float()  # (c, V) logits
                z_t = z.gather(1, t[:, None])[:, 0]  # (c,) the targets' logits
                m = z.amax(1, keepdim=True)
                z.sub_(m).exp_()
                norm = z.sum(1, keepdim=True)  # (c, 1)
                total += ((m + norm.log())[:, 0] - z_t)[ok].sum()  # log-sum-exp minus the target's logit
                z.div_(norm)  # softmax
                z[torch.arange(len(t)), t] -= 1  # d loss_row / d logits = softmax - one-hot
                z.mul_((ok / n)[:, None].to(z.dtype))
                g_b += z.sum(0)
                zc = z.to(cd)
                g_e[s : s + chunk] = zc @ w
                if cd == weight.dtype:
                    g_w.addmm_(zc.t(), x)
                else:
                    g_w += (zc.t() @ x).to(g_w.dtype)
        ctx.save_for_backward(g_e, g_w, g_b)
        return total / n

    @staticmethod
    def backward(ctx, grad):
        g_e, g_w, g_b = ctx.saved_tensors
        return g_e * grad, g_w * grad, g_b * grad, None, None


def tied_softmax_loss(e: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, targets: torch.Tensor,
                      chunk: int = LOSS_CHUNK) -> torch.Tensor:
    """F.cross_entropy(e @ weight.T + bias, targets, ignore_index=-1) over the full vocabulary.
    e (N, E), weight (V, E), bias (V,), targets (N,). Chunked where gradients are wanted."""
    if torch.is_grad_enabled() and (e.requires_grad or weight.requires_grad or bias.requires_grad):
        return _TiedSoftmaxLoss.apply(e, weight, bias, targets, chunk)
    return F.cross_entropy(torch.addmm(bias, e, weight.t()), targets, ignore_index=-1)


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

    def loss(self, h: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """h (B, T, H), targets (B, T) -> mean NLL per target token (-1: ignored), full softmax."""
        e = self.out(self.drop(h)).flatten(0, 1)  # (B*T, E)
        return tied_softmax_loss(e, self.tok_emb.weight, self.out_bias, targets.flatten())

    def forward(self, prev, slot, tone, form, keyword, z=None, targets=None):
        """Teacher-forced pass. prev: (B, T) previous tokens (BOS first); targets (B, T).
        Returns (logits (B, T, V), None) without targets, (None, mean NLL) with them: the loss
        never forms the whole logits tensor."""
        c, h0 = self.condition(form, keyword, z)
        out, _ = self.rnn(self.inputs(prev, slot, tone, c), h0)  # (B, T, H)
        if targets is not None:
            return None, self.loss(out, targets)
        return self.logits(out), None

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

