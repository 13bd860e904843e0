"""SeqGAN's adversarial phase (Yu et al., 2017): discriminator pretraining, then policy-gradient steps.

The generator is the conditional GRU of engine/models/poem_lm.py, pretrained by maximum likelihood
(engine/training/mle.py); the discriminator is engine/models/gan_discriminator.py. Each step, the
generator samples poems with the same constrained decoder used in production; each line is scored
by Monte-Carlo rollouts (complete the poem from that line's end n times, ask the discriminator) and
every token of the line gets that reward; REINFORCE on the masked policy, with a running-mean
baseline, plus a teacher-forced MLE term.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import replace

import torch
from tqdm import tqdm

from engine.corpus.vocab import BOS, Vocab
from engine.decoding.decode import decode
from engine.decoding.output_head import OutputHead
from engine.decoding.spec import DecodeSpec, ProsodyMasks
from engine.models.encoding import FORM_IDS, keyword_ids, seq_len, slots
from engine.models.gan_discriminator import DiscConfig, Discriminator
from engine.models.poem_lm import PoemLM
from engine.prosody.forms import FORMS, templates
from engine.training.config import TrainConfig
from engine.training.dataset import PoemData


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


def random_specs(
    data: PoemData, form: str, n: int, rng: random.Random, temperature: float = 1.0
) -> list[DecodeSpec]:
    """Decode specs with keywords drawn from real poems of the form, for GAN training."""
    d = data.forms[form]
    out = []
    for _ in range(n):
        i = rng.randrange(len(d))
        kw = data.sample_keyword(form, i, rng)
        tpl = rng.choice(templates(form))
        out.append(
            DecodeSpec(
                form=form,
                line_tones=list(tpl.lines),
                rhyme_lines=tpl.rhyme_lines(),
                keyword=keyword_ids(kw, data.vocab),
                include=data.vocab.encode(kw),
                temperature=temperature,
                top_p=1.0,
                min_p=0.0,
                repetition_penalty=0.0,
                seed=rng.randrange(2**31),
            )
        )
    return out


def train_gan_adversarial(
    gen: PoemLM, train: PoemData, cfg: TrainConfig, masks: ProsodyMasks, device, log, vocab: Vocab,
    char_counts: torch.Tensor | None = None,
):
    """Discriminator pretraining, then SeqGAN policy-gradient steps, sampling as production does
    (`char_counts`: for the both-tone draw, engine/decoding/output_head.py). Returns (disc, history)."""
    rng = random.Random(cfg.seed + 1)
    torch.manual_seed(cfg.seed + 1)
    disc = Discriminator(DiscConfig(vocab_size=len(vocab))).to(device)
    d_opt = torch.optim.AdamW(disc.parameters(), lr=1e-3)
    g_opt = torch.optim.AdamW(gen.parameters(), lr=cfg.adv_lr)
    forms = list(train.forms)
    weights = [len(train.forms[f]) for f in forms]
    bce = torch.nn.functional.binary_cross_entropy_with_logits

    def d_step(form: str) -> float:
        real = train.sample_batch(form, cfg.adv_batch, rng)
        gen.eval()
        fake = decode(gen, random_specs(train, form, len(real.keywords), rng), masks,
                      head=OutputHead(gen, masks, char_counts))
        gen.train()
        x = torch.cat([real.tokens.to(device), fake])
        y = torch.cat([torch.ones(len(real.keywords)), torch.zeros(fake.shape[0])]).to(device)
        f = torch.full((x.shape[0],), FORM_IDS[form], device=device)
        disc.train()
        logit = disc(x, f)
        loss = bce(logit, y)
        d_opt.zero_grad(set_to_none=True)
        loss.backward()
        d_opt.step()
        return ((logit > 0).float() == y).float().mean().item()

    history = []
    acc = 0.0
    bar = tqdm(range(cfg.d_pretrain_steps), desc="disc pretrain", disable=not log.verbose)
    for i in bar:
        acc = 0.9 * acc + 0.1 * d_step(rng.choices(forms, weights)[0]) if i else d_step(forms[0])
        bar.set_postfix(acc=f"{acc:.3f}")
    history.append({"phase": "disc_pretrain", "steps": cfg.d_pretrain_steps, "disc_acc": acc})
    log(json.dumps(history[-1]))

    baseline = 0.5
    bar = tqdm(range(cfg.adv_steps), desc="adversarial", disable=not log.verbose)
    t0 = time.time()
    for step in bar:
        if cfg.adv_minutes and time.time() - t0 > cfg.adv_minutes * 60:
            history.append({"phase": "adversarial", "stopped_at_step": step, "reason": "adv_minutes"})
            break
        form = rng.choices(forms, weights)[0]
        specs = random_specs(train, form, cfg.adv_batch, rng, cfg.adv.temperature)
        gen.eval()
        head = OutputHead(gen, masks, char_counts)  # the production decoding, on this step's weights
        tokens, step_masks, tones = decode(gen, specs, masks, record_masks=True, head=head)
        rewards = line_rewards(gen, disc, specs, tokens, masks, cfg.adv.rollouts, tones, head)
        gen.train()
        adv = rewards - baseline
        baseline = cfg.adv.baseline_decay * baseline + (1 - cfg.adv.baseline_decay) * rewards.mean().item()
        loss = policy_loss(gen, specs, tokens, step_masks, adv, tones)
        if cfg.adv.mle_mix > 0:
            real = train.sample_batch(form, cfg.adv_batch, rng).to(device)
            _, mle = gen(real.prev, real.slot, real.tone, real.form_ids, real.keyword, targets=real.tokens)
            loss = loss + cfg.adv.mle_mix * mle
        g_opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(gen.parameters(), cfg.grad_clip)
        g_opt.step()
        for _ in range(cfg.adv.d_steps):
            acc = 0.9 * acc + 0.1 * d_step(form)
        bar.set_postfix(reward=f"{rewards.mean().item():.3f}", d_acc=f"{acc:.3f}")
        if (step + 1) % max(1, cfg.adv_steps // 10) == 0 or step + 1 == cfg.adv_steps:
            history.append(
                {"phase": "adversarial", "step": step + 1, "reward": rewards.mean().item(), "disc_acc": acc}
            )
            log(json.dumps(history[-1]))
    return disc, history
