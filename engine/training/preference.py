"""Fine-tuning a generator toward what raters like: RAFT and REINFORCE against a reward model.

Both start from the champion and keep close to it:
- raft (reward-ranked fine-tuning, Dong et al. 2023; filtered behaviour cloning): each step draws
  k poems per prompt with the production decoder, keeps the one the reward model likes best, and
  trains on it and on a few poems raters liked;
- reinforce: every drawn poem is weighted by its reward minus its group's mean (a group baseline,
  as in GRPO), so poems the reward model dislikes are pushed down as well;
- dense: REINFORCE with per-character credit. The reward model is additive in its logit (one
  weight per character a poem contains, engine/models/reward.py), so each drawn character is
  credited with its own weight (first occurrence only), less the weight the policy expected at
  that position (an exact baseline): the update moves the characters that matter, where they
  were chosen, and little else. Strong: at the default learning rate it overshoots (measured:
  KL 0.88, distinct-2 0.90 -> 0.64) and the gate refuses it; use a much smaller lr.
Guards, both methods: log-probabilities are those of the masked policy the decoder sampled from
(the constraint masks and tone inputs decode recorded, as in engine/training/adversarial.py), a KL
penalty to the champion on the same positions, replay of corpus poems (maximum likelihood), a
small constant learning rate, dropout off (so the KL is exactly 0 at the start).
For the VAE only its decoder is trained, conditioned on the latent each poem was drawn with.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace

import torch
from tqdm import tqdm

from engine.corpus.vocab import BOS
from engine.decoding.decode import decode
from engine.decoding.output_head import OutputHead
from engine.decoding.poet import LoadedModel, Poet
from engine.decoding.spec import DecodeSpec
from engine.models.encoding import FORM_IDS, slots
from engine.prosody.forms import FORMS
from engine.request import PoemRequest
from engine.training.dataset import PoemData

METHODS = ("raft", "reinforce", "dense")
# per generator, measured on the simulation (docs/finetune.md): the VAE needs twice the GAN's step
# to move as far (its poems also depend on the latent drawn per poem); both stay inside the KL budget
LEARNING_RATES = {"gan": 1e-4, "vae": 2e-4}
Reward = Callable[[list[str], list[str], list[str]], torch.Tensor]  # texts, keywords, forms -> P(liked)


@dataclass
class PreferenceConfig:
    method: str = "reinforce"  # reinforce | raft | dense (measured on the simulation: docs/finetune.md)
    steps: int = 60
    prompts: int = 8  # prompts per step (one form per step)
    k: int = 8  # poems drawn per prompt
    liked: int = 4  # raft: rated liked poems added to each step
    lr: float | None = None  # constant; None: the generator's own (LEARNING_RATES)
    kl_coef: float = 0.05  # weight of KL(candidate || champion) per sampled position
    replay_coef: float = 0.5  # weight of the corpus maximum-likelihood loss
    replay_batch: int = 16
    grad_clip: float = 1.0
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Drawn:
    """Poems of one form drawn by the decoder, with what is needed to rebuild its policy."""

    specs: list[DecodeSpec]
    z: torch.Tensor | None  # (B, Z) VAE latents
    tokens: torch.Tensor  # (B, T)
    masks: torch.Tensor | None = None  # (B, T, V) additive constraint masks, if recorded
    tones: torch.Tensor | None = None  # (B, T) tone inputs fed

    def texts(self, m: LoadedModel) -> list[str]:
        return [m.vocab.decode(row) for row in self.tokens.tolist()]


def lm_of(m: LoadedModel):
    """The fp32 decoder network of a loaded generator (the VAE's decoder)."""
    return m.net.decoder if m.kind == "vae" else m.net


def draw(m: LoadedModel, poet: Poet, requests: Sequence[PoemRequest], seeds: Sequence[int], lm=None,
         record: bool = False) -> Drawn:
    """Decode requests of one form exactly as production does, with `lm` (default: the model's own
    decoder). `record`: also keep the constraint masks and tone inputs."""
    lm = lm or lm_of(m)
    masks = m.masks_for(requests[0].scheme, poet.device)
    specs = [poet.spec_for(r, m, masks, s)[0] for r, s in zip(requests, seeds, strict=True)]
    z = poet._latents(m, list(requests), specs)
    head = OutputHead(lm, masks, (m.associations or {}).get("char_counts"))  # on the current weights
    out = decode(lm, specs, masks, z=z, head=head, pairs=m.pairs, record_masks=record)
    if record:
        tokens, rec, tones = out
        return Drawn(specs, z, tokens, rec, tones)
    return Drawn(specs, z, out)


def policy_logprobs(lm, d: Drawn) -> torch.Tensor:
    """Log-probabilities (B, T, V) of the masked policy that drew `d` (-inf where ruled out), with
    the inputs the decoder fed: slots, tone inputs, keyword, latent."""
    B, T = d.tokens.shape
    dev = d.tokens.device
    form = FORMS[d.specs[0].form]
    form_t = torch.full((B,), FORM_IDS[form.name], device=dev)
    slot = torch.tensor(slots(form), device=dev).expand(B, T)
    keyword = torch.tensor([s.keyword for s in d.specs], device=dev)
    prev = torch.cat([torch.full((B, 1), BOS, device=dev), d.tokens[:, :-1]], dim=1)
    logits, _ = lm(prev, slot, d.tones, form_t, keyword, z=d.z)  # (B, T, V)
    return torch.log_softmax(logits.float() + d.masks, dim=-1)


def chosen(logp: torch.Tensor, d: Drawn) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-position log-probability of the drawn token (B, T) and where there was a choice (B, T)."""
    lp = logp.gather(2, d.tokens[..., None])[..., 0]
    free = (d.masks == 0).sum(-1) > 1
    return torch.where(free, lp, torch.zeros_like(lp)), free


def kl_per_position(logp: torch.Tensor, logq: torch.Tensor) -> torch.Tensor:
    """KL(p || q) (B, T) of two masked distributions given as log-probabilities (B, T, V)."""
    allowed = torch.isfinite(logp)
    diff = torch.where(allowed, logp - logq, torch.zeros_like(logp))
    return (logp.exp() * diff).sum(-1)


def character_advantages(logp: torch.Tensor, tokens: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Per-position advantage (B, T) under an additive reward: the weight of the drawn character if
    the poem has not used it yet, less the expected such weight under the policy there, scaled to
    unit spread. logp (B, T, V) masked log-probabilities, tokens (B, T), weights (V,)."""
    used = torch.zeros(logp.shape, dtype=torch.uint8, device=logp.device).scatter_(2, tokens[..., None], 1)
    fresh = (used.cumsum(1, dtype=torch.uint8) - used) == 0  # (B, T, V): not used before t
    w = weights.to(logp.dtype)
    credit = w[tokens] * fresh.gather(2, tokens[..., None])[..., 0]  # (B, T)
    expected = (logp.exp() * w * fresh).sum(-1)  # (B, T)
    adv = credit - expected
    return adv / adv.std().clamp(min=1e-6)


class PreferenceTuner:
    """One fine-tuning run: `m` (loaded without int8) is changed in place; the champion's decoder is
    kept frozen as the KL reference. `state()` / `load_state()` make it resumable."""

    def __init__(self, m: LoadedModel, poet: Poet, cfg: PreferenceConfig, reward: Reward,
                 prompts: Sequence[PoemRequest], liked: Sequence[tuple[PoemRequest, int]] = (),
                 replay: PoemData | None = None, char_weights: torch.Tensor | None = None):
        """`char_weights` (V,): the reward model's logit weight of each character (method dense)."""
        if cfg.method not in METHODS:
            raise ValueError(f"unknown method {cfg.method!r}; choose one of {METHODS}")
        if cfg.method == "dense" and char_weights is None:
            raise ValueError("method dense needs the reward model's character weights")
        if cfg.lr is None:
            cfg = replace(cfg, lr=LEARNING_RATES[m.kind])
        self.m, self.poet, self.cfg, self.reward, self.char_weights = m, poet, cfg, reward, char_weights
        self.lm = lm_of(m)
        self.ref = copy.deepcopy(self.lm).eval().requires_grad_(False)
        self.lm.eval()  # dropout off; gradients still flow
        self.prompts = {f: [p for p in prompts if p.form == f] for f in FORMS}
        self.liked = {f: [x for x in liked if x[0].form == f] for f in FORMS}
        self.forms = [f for f in FORMS if self.prompts[f]]
        if not self.forms:
            raise ValueError("no prompts to fine-tune on")
        self.replay = replay
        self.opt = torch.optim.AdamW(self.lm.parameters(), lr=cfg.lr, weight_decay=0.0)
        self.step = 0
        self.history: list[dict] = []

    def state(self) -> dict:
        return {"step": self.step, "model": self.m.net.state_dict(), "optimizer": self.opt.state_dict(),
                "history": self.history}

    def load_state(self, st: dict) -> None:
        self.m.net.load_state_dict(st["model"])
        self.opt.load_state_dict(st["optimizer"])
        self.step, self.history = st["step"], list(st["history"])

    def run(self, save: Callable[[int], None] | None = None, save_every: int = 20, progress: bool = True) -> list[dict]:
        bar = tqdm(total=self.cfg.steps, initial=self.step, desc=f"{self.m.kind} {self.cfg.method}",
                   disable=not progress)
        while self.step < self.cfg.steps:
            stats = self.train_step(random.Random(self.cfg.seed * 1_000_003 + self.step))
            self.step += 1
            self.history.append(stats)
            bar.update(1)
            bar.set_postfix(reward=f"{stats['reward']:.3f}", kl=f"{stats['kl']:.4f}")
            if save is not None and (self.step % save_every == 0 or self.step == self.cfg.steps):
                save(self.step)
        bar.close()
        return self.history

    # -- one step ---------------------------------------------------------------------------------

    def train_step(self, rng: random.Random) -> dict:
        cfg = self.cfg
        form = rng.choices(self.forms, [len(self.prompts[f]) for f in self.forms])[0]
        reqs = [rng.choice(self.prompts[form]) for _ in range(cfg.prompts)]
        group = [r for r in reqs for _ in range(cfg.k)]
        seeds = [rng.randrange(2**31) for _ in group]
        reinforce = cfg.method in ("reinforce", "dense")
        with torch.no_grad():  # these train on every poem drawn: record the masks at once
            cand = draw(self.m, self.poet, group, seeds, record=reinforce)
            r = self.reward(cand.texts(self.m), [q.keyword for q in group], [form] * len(group))
        r = r.view(cfg.prompts, cfg.k).float()
        if reinforce:
            d, weights = cand, ((r - r.mean(1, keepdim=True)) / (r.std(1, keepdim=True) + 0.05)).flatten()
        else:  # raft: the best of each prompt's k, drawn again (the same seeds give the same poems) with masks
            pick = [i * cfg.k + int(b) for i, b in enumerate(r.argmax(1))]
            d = draw(self.m, self.poet, [group[i] for i in pick], [seeds[i] for i in pick], record=True)
            weights = torch.ones(len(pick))
        batches = [(d, weights)]
        if cfg.method == "raft" and cfg.liked and self.liked[form]:
            liked = [rng.choice(self.liked[form]) for _ in range(cfg.liked)]
            dl = draw(self.m, self.poet, [q for q, _ in liked], [s for _, s in liked], lm=self.ref, record=True)
            batches.append((dl, torch.ones(len(liked))))
        loss, kl_sum, n_pos = 0.0, 0.0, 0
        for b, w in batches:
            logp = policy_logprobs(self.lm, b)
            with torch.no_grad():
                logq = policy_logprobs(self.ref, b)
            lp, free = chosen(logp, b)
            kl = kl_per_position(logp, logq) * free
            if cfg.method == "dense":
                adv = character_advantages(logp.detach(), b.tokens, self.char_weights) * free
                pg = -(adv * lp).sum() / free.sum().clamp(min=1)
            else:
                seq = lp.sum(1) / free.sum(1).clamp(min=1)  # mean log-probability per poem (B,)
                pg = -(w * seq).sum() / len(batches[0][1])
            loss = loss + pg + cfg.kl_coef * kl.sum() / free.sum().clamp(min=1)
            kl_sum += kl.sum().item()
            n_pos += int(free.sum())
        replay = 0.0
        if cfg.replay_coef and self.replay is not None and form in self.replay.forms:
            data = self.replay.forms[form]
            rb = self.replay.make_batch(form, rng.sample(range(len(data)), min(cfg.replay_batch, len(data))), rng)
            z = None
            if self.m.kind == "vae":
                with torch.no_grad():
                    z, _ = self.m.net.encode(rb.tokens)
            _, mle = self.lm(rb.prev, rb.slot, rb.tone, rb.form_ids, rb.keyword, z=z, targets=rb.tokens)
            loss = loss + cfg.replay_coef * mle
            replay = mle.item()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.lm.parameters(), cfg.grad_clip)
        self.opt.step()
        return {"step": self.step + 1, "form": form, "reward": r.mean().item(), "best": r.max(1).values.mean().item(),
                "kl": kl_sum / max(n_pos, 1), "replay_nll": replay, "loss": loss.item()}

