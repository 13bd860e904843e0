"""Maximum-likelihood training: the GAN generator's pretraining and the VAE's ELBO, one flat loop.

schedule (`lr_at`, a pure function) -> periodic evaluation and checkpoint -> forward / backward /
clip / step -> log -> stop at the epoch count or the time budget.
"""

from __future__ import annotations

import json
import math
import random
import time

import torch
from tqdm import tqdm

from engine.models.vae import active_units
from engine.training.config import TrainConfig
from engine.training.dataset import PoemData


def lr_at(progress: float, step: int, cfg: TrainConfig) -> float:
    """Linear warm-up over the first steps, then cosine decay to min_lr as progress goes 0 -> 1."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * min(1.0, progress)))


@torch.no_grad()
def evaluate_loss(model, data: PoemData, cfg: TrainConfig, device, vae: bool, max_batches: int = 40) -> dict:
    model.eval()
    rng = random.Random(0)
    tot, n, stats = 0.0, 0, {"rec": 0.0, "kl": 0.0}
    for i, b in enumerate(data.epoch(cfg.batch_size, rng)):
        if i >= max_batches:
            break
        b = b.to(device)
        if vae:
            _, loss, st = model(b.tokens, b.prev, b.slot, b.tone, b.form_ids, b.keyword, kl_weight=1.0)
            stats["rec"] += st["rec"]
            stats["kl"] += st["kl"]
        else:
            _, loss = model(b.prev, b.slot, b.tone, b.form_ids, b.keyword, targets=b.tokens)
        tot += loss.item()
        n += 1
    model.train()
    out = {"valid_loss": tot / max(n, 1)}
    if vae:
        out.update(valid_rec=stats["rec"] / max(n, 1), valid_kl=stats["kl"] / max(n, 1))
        toks = torch.cat(
            [d.tokens[:256] for d in data.forms.values() if d.form == "wujue"]
            or [next(iter(data.forms.values())).tokens[:256]]
        ).to(device)
        out["active_units"] = active_units(model, toks)
    return out


def train_mle(model, train: PoemData, valid: PoemData, cfg: TrainConfig, device, vae: bool, log, save_fn,
              resume: dict | None = None):
    """MLE (GAN generator) or ELBO (VAE) training for `cfg.epochs` passes or `cfg.max_minutes`,
    whichever ends first; the learning rate follows whichever is further along. Returns the
    history of evaluations. `resume` is a saved 'last' checkpoint blob."""
    rng = random.Random(cfg.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)
    plan = [b for _ in range(math.ceil(cfg.epochs)) for b in train.plan(cfg.batch_size, rng)]
    total = max(1, int(len(plan) * cfg.epochs / math.ceil(cfg.epochs)))
    step, history, spent = 0, [], 0.0
    if resume:
        opt.load_state_dict(resume["optimizer"])
        step, history, spent = resume["meta"]["step"], resume["meta"]["history"], resume["meta"]["minutes"] * 60
        log(json.dumps({"event": "resume", "step": step}))
    t0 = time.time() - spent
    budget = cfg.max_minutes * 60 if cfg.max_minutes else float("inf")
    bar = tqdm(total=total, initial=step, desc=f"{cfg.model} train", disable=not log.verbose)
    model.train()
    while step < total:
        elapsed = time.time() - t0
        if elapsed > budget:
            break
        for g in opt.param_groups:
            g["lr"] = lr_at(max(step / total, elapsed / budget), step, cfg)
        b = train.make_batch(*plan[step], rng).to(device)
        if vae:
            kl_w = min(1.0, step / max(1, cfg.kl_anneal_steps))
            _, loss, st = model(b.tokens, b.prev, b.slot, b.tone, b.form_ids, b.keyword, kl_weight=kl_w)
        else:
            _, loss = model(b.prev, b.slot, b.tone, b.form_ids, b.keyword, targets=b.tokens)
            st = {}
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        step += 1
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.3f}", **{k: f"{v:.2f}" for k, v in st.items() if k != "elbo"})
        if step % cfg.eval_every == 0 or step == total or time.time() - t0 > budget:
            ev = {"step": step, "train_loss": loss.item(), "minutes": (time.time() - t0) / 60,
                  **evaluate_loss(model, valid, cfg, device, vae)}
            history.append(ev)
            log(json.dumps(ev, ensure_ascii=False))
            save_fn(step, history, minutes=ev["minutes"], optimizer=opt.state_dict())
    bar.close()
    return history
