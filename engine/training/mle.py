"""Maximum-likelihood training: the GAN generator's pretraining and the VAE's ELBO, one flat loop.

schedule (`lr_at`, a pure function) -> periodic evaluation and checkpoint -> forward / backward /
clip / step -> log -> stop at the epoch count or the time budget. On CPU the thread count is
timed, not assumed (`ThreadPicker`).
"""

from __future__ import annotations

import json
import math
import os
import random
import statistics
import time

import torch
from tqdm import tqdm

from engine.models.vae import active_units
from engine.training import precision
from engine.training.config import TrainConfig
from engine.training.dataset import PoemData


def lr_at(progress: float, step: int, cfg: TrainConfig) -> float:
    """Linear warm-up over the first steps, then cosine decay to min_lr as progress goes 0 -> 1."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * min(1.0, progress)))


def thread_candidates(cores: int | None = None) -> list[int]:
    """Thread counts worth timing: 1, 2, 4, ... and all the cores this process may use."""
    cores = cores or len(os.sched_getaffinity(0))
    return sorted({2**i for i in range(cores.bit_length()) if 2**i <= cores} | {cores})


class ThreadPicker:
    """The torch thread count that trains fastest now, re-checked as other jobs on the host come
    and go: on a 2-core host shared with another job, two threads made a GRU step 3x slower than
    one; alone, more threads are faster (docs/training.md). It starts on one thread, the safe
    choice; after `trial` steps, and then every `every` steps, a trial runs `trial` steps at each
    candidate count, and the one with the least time per token (mean) is used until the next
    trial. Trial steps are ordinary training steps."""

    def __init__(self, candidates: list[int], every: int, trial: int = 2):
        self.candidates, self.every, self.trial = candidates, max(every, trial * len(candidates)), trial
        self.chosen = candidates[0]
        self._times: dict[int, list[float]] = {}

    def _trial_index(self, step: int) -> int | None:
        """Position of `step` in a trial window, None outside one."""
        if len(self.candidates) < 2 or step < self.trial:
            return None
        i = (step - self.trial) % self.every
        return i if i < self.trial * len(self.candidates) else None

    def threads_for(self, step: int) -> int:
        i = self._trial_index(step)
        return self.chosen if i is None else self.candidates[i // self.trial]

    def record(self, step: int, threads: int, seconds: float, tokens: int) -> dict[int, float] | None:
        """Note how long `step` took; at the end of a trial, choose and return the trial's
        milliseconds per 1,000 tokens by thread count."""
        i = self._trial_index(step)
        if i is None:
            return None
        self._times.setdefault(threads, []).append(seconds / tokens)
        if i < self.trial * len(self.candidates) - 1:
            return None
        trial = {t: round(1e6 * statistics.mean(v), 1) for t, v in self._times.items()}
        self.chosen, self._times = min(trial, key=trial.get), {}
        return trial


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


def train_step(model, opt, b, cfg: TrainConfig, vae: bool, step: int,
               amp: torch.dtype = torch.float32) -> tuple[float, dict]:
    """One forward / backward / clip / update on batch `b`, the forward under `amp` autocast when it
    is not fp32 (precision.choose). Returns the loss and the VAE's stats."""
    with torch.autocast(b.tokens.device.type, dtype=amp, enabled=amp != torch.float32):
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
    return loss.item(), st


def train_mle(model, train: PoemData, valid: PoemData, cfg: TrainConfig, device, vae: bool, log, save_fn,
              resume: dict | None = None):
    """MLE (GAN generator) or ELBO (VAE) training for `cfg.epochs` passes or `cfg.max_minutes`,
    whichever ends first; the learning rate follows whichever is further along. Returns the
    history of evaluations; each records the step, the wall-clock minutes of this phase (resumed
    runs included), the tokens and epochs seen, and the load average, so that runs on a shared
    host can be drawn and compared (scripts/plot_training.py). `resume` is a saved 'last' blob."""
    rng = random.Random(cfg.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    per_epoch = sum(math.ceil(len(d) / cfg.batch_size) for d in train.forms.values())  # batches
    plan = [b for _ in range(math.ceil(cfg.epochs)) for b in train.plan(cfg.batch_size, rng)]
    total = max(1, int(len(plan) * cfg.epochs / math.ceil(cfg.epochs)))
    step, history, spent, tokens = 0, [], 0.0, 0
    if resume:
        opt.load_state_dict(resume["optimizer"])
        step, history, spent = resume["meta"]["step"], resume["meta"]["history"], resume["meta"]["minutes"] * 60
        tokens = history[-1].get("tokens", 0) if history else 0
        log(json.dumps({"event": "resume", "step": step}))
    t0 = time.time() - spent
    budget = cfg.max_minutes * 60 if cfg.max_minutes else float("inf")
    amp, figures = precision.choose(cfg.precision, torch.device(device))
    log(json.dumps({"event": "precision", "step": step, **figures}))
    picker = None
    if cfg.threads is None and torch.device(device).type == "cpu":
        picker = ThreadPicker(thread_candidates(), cfg.eval_every)
    bar = tqdm(total=total, initial=step, desc=f"{cfg.model} train", disable=not log.verbose)
    model.train()
    while step < total:
        elapsed = time.time() - t0
        if elapsed > budget:
            break
        for g in opt.param_groups:
            g["lr"] = lr_at(max(step / total, elapsed / budget), step, cfg)
        if picker:
            torch.set_num_threads(picker.threads_for(step))
        t_step = time.perf_counter()
        b = train.make_batch(*plan[step], rng).to(device)
        loss, st = train_step(model, opt, b, cfg, vae, step, amp)
        if picker and (trial := picker.record(step, torch.get_num_threads(), time.perf_counter() - t_step,
                                               b.tokens.numel())):
            log(json.dumps({"event": "threads", "step": step, "chosen": picker.chosen, "ms_per_1k_tokens": trial}))
        step += 1
        tokens += b.tokens.numel()
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.3f}", **{k: f"{v:.2f}" for k, v in st.items() if k != "elbo"})
        if step % cfg.eval_every == 0 or step == total or time.time() - t0 > budget:
            ev = {"step": step, "train_loss": loss, "minutes": (time.time() - t0) / 60, "tokens": tokens,
                  "precision": figures["dtype"],
                  "epoch": step / per_epoch, "lr": opt.param_groups[0]["lr"],
                  "threads": torch.get_num_threads(), "load1": os.getloadavg()[0],
                  **evaluate_loss(model, valid, cfg, device, vae)}
            history.append(ev)
            log(json.dumps(ev, ensure_ascii=False))
            save_fn(step, history, minutes=ev["minutes"], optimizer=opt.state_dict())
    bar.close()
    return history
