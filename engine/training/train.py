"""Training both generators: MLE pretraining, the VAE objective and SeqGAN's adversarial phase.

The loops are flat: schedule -> periodic eval and checkpoint -> forward/backward/clip/step -> log.
Checkpoints go to `out_dir` (weights + config + vocabulary + data hash + metrics) and can resume.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from engine.corpus import associations
from engine.corpus.loader import Poem
from engine.corpus.vocab import Vocab
from engine.decoding.decode import DecodeSpec, ProsodyMasks, decode
from engine.decoding.output_head import OutputHead
from engine.device import resolve_device
from engine.models import checkpoint
from engine.models.encoding import FORM_IDS, KeywordSampler, keyword_ids
from engine.models.poem_lm import PoemLM, PoemLMConfig
from engine.models.vae import PoemVAE, VAEConfig, active_units
from engine.prosody.forms import FORMS, templates
from engine.prosody.tables import get_prosody
from engine.training.dataset import PoemData
from engine.training.seqgan import AdvConfig, DiscConfig, Discriminator, line_rewards, policy_loss


@dataclass
class TrainConfig:
    model: str = "gan"  # gan | vae
    out_dir: Path = Path("runs/gan")
    device: str = "auto"
    seed: int = 1337
    batch_size: int = 64  # poems per batch (one form per batch)
    lr: float = 2e-3
    min_lr: float = 2e-4
    warmup_steps: int = 200
    epochs: float = 1.0  # MLE / VAE passes over the training split
    max_minutes: float | None = None  # stop the MLE/VAE phase after this long
    grad_clip: float = 1.0
    eval_every: int = 500
    n_embd: int = 256
    n_hidden: int = 512
    n_layer: int = 2
    dropout: float = 0.2
    min_char_count: int = 3
    limit_poems: int | None = None  # use only the first N training poems (tests, quick runs)
    resume: bool = False  # continue from out_dir/last if it exists
    threads: int | None = None  # torch CPU threads (None: torch's default)
    adv_minutes: float | None = None  # stop the adversarial phase after this long
    scheme: str = "pingshui"
    # VAE
    z_dim: int = 32
    kl_anneal_steps: int = 3000
    free_bits: float = 0.25
    word_dropout: float = 0.3
    # GAN
    d_pretrain_steps: int = 300
    adv_steps: int = 200
    adv_batch: int = 32
    adv_lr: float = 2e-4
    adv: AdvConfig = field(default_factory=AdvConfig)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["out_dir"] = str(self.out_dir)
        return d


def lr_at(progress: float, step: int, cfg: TrainConfig) -> float:
    """Linear warm-up over the first steps, then cosine decay to min_lr as progress goes 0 -> 1."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * min(1.0, progress)))


def data_hash(poems: list[Poem]) -> str:
    h = hashlib.sha1()
    for p in poems:
        h.update(p.text.encode())
    return h.hexdigest()[:16]


def corpus_lexicon(poems: list[Poem], min_count: int = 3) -> list[str]:
    """Two-character words seen at least `min_count` times: a multi-character keyword must use them."""
    from collections import Counter

    c = Counter(ln[i : i + 2] for p in poems for ln in p.lines for i in range(len(ln) - 1))
    return sorted(w for w, n in c.items() if n >= min_count)


def corpus_statistics(poems: list[Poem], vocab: Vocab) -> dict:
    """What decoding needs from the training poems besides the weights: the keyword lexicon and
    the theme / couplet-partner associations."""
    return {
        "lexicon": associations.lexicon_codes(corpus_lexicon(poems), vocab),
        "associations": associations.build(((p.lines, p.form) for p in poems), vocab),
    }


def prepare(poems: list[Poem], cfg: TrainConfig):
    """Vocabulary, keyword sampler and encoded train/valid data."""
    train = [p for p in poems if p.split == "train" and p.form in FORMS]
    valid = [p for p in poems if p.split == "valid" and p.form in FORMS]
    if cfg.limit_poems:
        train = train[: cfg.limit_poems]
        valid = valid[: max(32, cfg.limit_poems // 10)] or train[:32]
    if not valid:
        valid = train[: max(1, len(train) // 10)]
    vocab = Vocab.build(("".join(p.lines) for p in train), min_count=cfg.min_char_count)
    pros = get_prosody(cfg.scheme)
    sampler = KeywordSampler([p.lines for p in train], min_df=max(2, min(20, len(train) // 2000)))
    return (
        vocab,
        PoemData(train, vocab, pros.tones, sampler),
        PoemData(valid, vocab, pros.tones, sampler),
        train,
    )


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
        real = train.make_batch(
            form, rng.sample(range(len(train.forms[form])), min(cfg.adv_batch, len(train.forms[form]))), rng
        )
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
            real = train.make_batch(
                form,
                rng.sample(range(len(train.forms[form])), min(cfg.adv_batch, len(train.forms[form]))),
                rng,
            ).to(device)
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


class Logger:
    def __init__(self, path: Path | None, verbose: bool):
        self.path, self.verbose = path, verbose

    def __call__(self, line: str) -> None:
        if self.path:
            with self.path.open("a") as f:
                f.write(line + "\n")
        if self.verbose:
            tqdm.write(line)


def train(cfg: TrainConfig, poems: list[Poem], verbose: bool = True) -> Path:
    """Train `cfg.model` on `poems`; write the final checkpoint to cfg.out_dir. Returns that path."""
    random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    t_start = time.time()
    vocab, train_data, valid_data, train_poems = prepare(poems, cfg)
    cfg.out_dir.mkdir(parents=True, exist_ok=True)
    log = Logger(cfg.out_dir / "train_log.jsonl", verbose)
    log(
        json.dumps(
            {
                "event": "start",
                "device": str(device),
                "train_poems": len(train_data),
                "valid_poems": len(valid_data),
                "vocab": len(vocab),
            },
            ensure_ascii=False,
        )
    )
    lm_cfg = PoemLMConfig(
        vocab_size=len(vocab),
        n_embd=cfg.n_embd,
        n_hidden=cfg.n_hidden,
        n_layer=cfg.n_layer,
        dropout=cfg.dropout,
        z_dim=cfg.z_dim if cfg.model == "vae" else 0,
    )
    meta = {
        "train_config": cfg.to_dict(),
        "data_hash": data_hash(train_poems),
        "train_poems": len(train_data),
        "device": str(device),
        "torch": torch.__version__,
    }
    if cfg.model == "vae":
        vcfg = VAEConfig(lm=lm_cfg, free_bits=cfg.free_bits, word_dropout=cfg.word_dropout)
        model = PoemVAE(vcfg).to(device)
        config = vcfg.to_dict()
    else:
        model = PoemLM(lm_cfg).to(device)
        config = lm_cfg.to_dict()

    def save_fn(step, history, minutes, optimizer):
        checkpoint.save(cfg.out_dir / "last", kind=cfg.model, model=model, config=config, vocab=vocab,
                        meta={**meta, "step": step, "history": history, "minutes": minutes},
                        extra_state={"optimizer": optimizer})

    resume = None
    if cfg.resume and (cfg.out_dir / "last" / "model.pt").exists():
        resume = checkpoint.load_blob(cfg.out_dir / "last", map_location=device)
        if resume["vocab"] != vocab.to_json():
            raise ValueError("cannot resume: the vocabulary differs (different data or settings)")
        checkpoint.load_state(model, resume["model"])
    history = train_mle(model, train_data, valid_data, cfg, device, cfg.model == "vae", log, save_fn, resume)
    meta["minutes_mle"] = (time.time() - t_start) / 60
    lexicon = corpus_statistics(train_poems, vocab)
    if cfg.model == "gan":
        checkpoint.save(
            cfg.out_dir / "mle",
            kind="gan",
            model=model,
            config=config,
            vocab=vocab,
            meta={**meta, "history": history, "phase": "mle"},
            extra_state=lexicon,
        )
        masks = ProsodyMasks(vocab, get_prosody(cfg.scheme), device)
        disc, adv_hist = train_gan_adversarial(model, train_data, cfg, masks, device, log, vocab,
                                               lexicon["associations"]["char_counts"])
        history += adv_hist
        meta["disc_config"] = disc.cfg.to_dict()
        extra = {"disc": disc.state_dict(), **lexicon}
    else:
        extra = lexicon
    meta["minutes_total"] = (time.time() - t_start) / 60
    final = cfg.out_dir / "final"
    checkpoint.save(
        final,
        kind=cfg.model,
        model=model,
        config=config,
        vocab=vocab,
        meta={**meta, "history": history, "phase": "final"},
        extra_state=extra,
    )
    log(json.dumps({"event": "done", "minutes": meta["minutes_total"]}))
    return final
