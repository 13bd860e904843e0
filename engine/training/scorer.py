"""The reranking scorer: the SeqGAN discriminator's CNN (engine/models/gan_discriminator.py) trained to
tell real poems of the training split from poems the model itself writes at its default settings.

Decoding draws k candidates per request and keeps the one the scorer finds most real
(engine/decoding/rerank.py). The generated poems are drawn on the keywords and forms of training
poems (the forms in the corpus's proportions), one candidate each, seeds from `SEED` on; the real
ones are as many training poems of each form, among those the decoder could have written (every
character one it may write), so that the scorer learns what differs in poems it will rank, not
characters no candidate has. A share of both (`heldout`) is kept aside to measure the scorer's
accuracy, stored with it. `yinshi models scorer` writes it into the checkpoint (`save_scorer`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F

from engine.corpus.loader import CorpusPoem
from engine.decoding import calibration
from engine.decoding.poet import LoadedModel, Poet
from engine.errors import YinshiError
from engine.models import checkpoint
from engine.models.encoding import FORM_IDS, poem_tokens
from engine.models.gan_discriminator import DiscConfig, Discriminator
from engine.prosody.forms import FORMS

SEED = 2_000_000  # seeds of the generated poems (evaluation uses 0, 1, …; calibration 1,000,000 on)


@dataclass
class ScorerConfig:
    poems: int = 3000  # generated poems
    real_per_generated: int = 3  # real poems are cheap: this many per generated one, the loss balanced
    minutes: float = 6.0  # the whole run; generation stops early to leave training `train_share` of it
    train_share: float = 0.25
    epochs: int = 8
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.01
    embedding: str = "generator"  # generator: the generator's character embedding, frozen | learned: its own
    heldout: float = 0.15  # share of the generated poems (and as many real ones) kept aside
    gen_batch: int = 128  # poems decoded together
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Example:
    form: str
    tokens: list[int]  # the poem as the decoder writes it: characters with ，。 (engine/models/encoding.py)
    real: bool


def generated_poems(poet: Poet, kind: str, requests: Sequence, deadline: float, batch: int,
                    progress: Callable[[str], None] | None = None) -> list[Example]:
    """The poems `requests` ask for, one candidate each, until `deadline` (time.monotonic())."""
    m = poet.models[kind]
    out: list[Example] = []
    for i in range(0, len(requests), batch):
        if time.monotonic() > deadline:
            break
        for res in poet.generate_batch([replace(r, candidates=1) for r in requests[i : i + batch]]):
            if not isinstance(res, YinshiError):
                out.append(Example(res.form, m.vocab.encode("".join(res.simplified_lines or res.lines)), False))
        if progress:
            progress(f"  generated {len(out):,} of {len(requests):,} poems")
    return out


def real_poems(poems: Sequence[CorpusPoem], m: LoadedModel, counts: dict[str, int], rng: random.Random) -> list[Example]:
    """`counts[form]` training poems of each form whose every character the decoder may write."""
    writable = m.masks_for("pingshui", "cpu").is_char.tolist()
    stoi = m.vocab.stoi
    by_form: dict[str, list[CorpusPoem]] = {f: [] for f in counts}
    for p in poems:
        if p.form in by_form:
            by_form[p.form].append(p)
    out = []
    for form, n in counts.items():
        pool = by_form[form]
        rng.shuffle(pool)
        ok = (p for p in pool if all(ch in stoi and writable[stoi[ch]] for ch in "".join(p.lines)))
        out += [Example(form, poem_tokens(p.lines, m.vocab), True) for _, p in zip(range(n), ok, strict=False)]
    return out


def batches(examples: Sequence[Example], size: int, rng: random.Random | None = None):
    """(tokens (B, T), forms (B,), labels (B,)) batches of one form each, shuffled if `rng`."""
    by_form: dict[str, list[Example]] = {}
    for e in examples:
        by_form.setdefault(e.form, []).append(e)
    plan = []
    for items in by_form.values():
        if rng:
            rng.shuffle(items)
        plan += [items[i : i + size] for i in range(0, len(items), size)]
    if rng:
        rng.shuffle(plan)
    for part in plan:
        yield (torch.tensor([e.tokens for e in part]), torch.full((len(part),), FORM_IDS[part[0].form]),
               torch.tensor([float(e.real) for e in part]))


@torch.no_grad()
def accuracy(scorer: Discriminator, examples: Sequence[Example]) -> float:
    """Balanced accuracy: the mean over real and generated poems of the share the scorer labels right
    (real-logit > 0 for real poems)."""
    scorer.eval()
    right, total = [0, 0], [0, 0]
    for x, f, y in batches(examples, 256):
        hit = ((scorer(x, f) > 0).float() == y).long()
        for label in (0, 1):
            right[label] += int(hit[y == label].sum())
            total[label] += int((y == label).sum())
    return sum(r / t for r, t in zip(right, total, strict=True) if t) / max(1, sum(t > 0 for t in total))


def new_scorer(m: LoadedModel, embedding: str) -> Discriminator:
    """A fresh CNN for `m`'s vocabulary; `embedding` "generator": its characters embedded as the
    generator embeds them (frozen: a few thousand poems could not learn 8,000 characters' meaning),
    "learned": a small embedding of its own."""
    lm = m.net.decoder if m.kind == "vae" else m.net
    if embedding == "learned":
        return Discriminator(DiscConfig(vocab_size=len(m.vocab)))
    if embedding != "generator":
        raise ValueError(f"unknown scorer embedding {embedding!r}: generator | learned")
    scorer = Discriminator(DiscConfig(vocab_size=len(m.vocab), n_embd=lm.tok_emb.embedding_dim))
    with torch.no_grad():
        scorer.emb.weight.copy_(lm.tok_emb.weight.float())
    scorer.emb.weight.requires_grad_(False)
    return scorer


def fit(scorer: Discriminator, examples: Sequence[Example], cfg: ScorerConfig, deadline: float,
        rng: random.Random, progress: Callable[[str], None] | None = None) -> list[dict]:
    """Binary cross-entropy over `examples`, each class weighing as much in total, for cfg.epochs
    passes or until `deadline` (time.monotonic())."""
    n_real = sum(e.real for e in examples)
    w_real = (len(examples) - n_real) / max(1, n_real)  # real poems outnumber generated ones
    params = [p for p in scorer.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    history = []
    for epoch in range(cfg.epochs):
        scorer.train()
        total, n = 0.0, 0
        for x, f, y in batches(examples, cfg.batch_size, rng):
            weight = torch.where(y > 0, w_real, 1.0)
            loss = F.binary_cross_entropy_with_logits(scorer(x, f), y, weight=weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total, n = total + loss.item() * len(y), n + len(y)
        history.append({"epoch": epoch + 1, "loss": round(total / max(1, n), 4),
                        "minutes_left": round((deadline - time.monotonic()) / 60, 2)})
        if progress:
            progress(f"  epoch {epoch + 1}: loss {history[-1]['loss']:.4f}")
        if time.monotonic() > deadline:
            break
    return history


def split(fake: list[Example], real: list[Example], heldout: float, rng: random.Random):
    """(training examples, held-out examples): `heldout` of the generated poems and as many real ones
    kept aside."""
    rng.shuffle(fake)
    rng.shuffle(real)
    n = max(1, int(len(fake) * heldout))
    return fake[n:] + real[n:], fake[:n] + real[:n]


def train_scorer(m: LoadedModel, poems: Sequence[CorpusPoem], cfg: ScorerConfig,
                 progress: Callable[[str], None] | None = None) -> tuple[dict, dict]:
    """Train a scorer for `m` (on CPU) on its own poems and real `poems` of the training split.
    Returns its weights (stored in fp16; the accuracy is measured on exactly those) and its
    meta: config, held-out accuracy, poems, minutes."""
    started = time.monotonic()
    end = started + cfg.minutes * 60
    rng = random.Random(cfg.seed)
    torch.manual_seed(cfg.seed)
    train = [p for p in poems if p.split == "train" and p.form in FORMS]
    if not train:
        raise ValueError("no training-split poems of the four forms to train a scorer on")
    requests = calibration.training_requests([(p.lines, p.form, p.title) for p in train], cfg.poems, m.kind,
                                             known=lambda ch: ch in m.vocab)
    requests = [replace(r, seed=SEED + cfg.seed * cfg.poems + i) for i, r in enumerate(requests)]
    fake = generated_poems(Poet({m.kind: m}, torch.device("cpu")), m.kind, requests,
                           end - cfg.train_share * cfg.minutes * 60, cfg.gen_batch, progress)
    gen_minutes = (time.monotonic() - started) / 60
    counts: dict[str, int] = {}
    for e in fake:
        counts[e.form] = counts.get(e.form, 0) + 1
    real = real_poems(train, m, {f: n * cfg.real_per_generated for f, n in counts.items()}, rng)
    fit_on, held = split(fake, real, cfg.heldout, rng)
    scorer = new_scorer(m, cfg.embedding)
    history = fit(scorer, fit_on, cfg, end, rng, progress)
    state = {k: v.half() for k, v in scorer.state_dict().items()}
    checkpoint.load_state(scorer, state)  # measured as stored
    meta = {
        "config": {**scorer.cfg.to_dict(), "widths": list(scorer.cfg.widths)},  # as meta.json reads back
        "train_config": cfg.to_dict(),
        "heldout_accuracy": round(accuracy(scorer, held), 4),
        "train_accuracy": round(accuracy(scorer, fit_on), 4),
        "generated_poems": len(fake),
        "real_poems": len(real),
        "heldout_poems": len(held),
        "per_form": counts,
        "history": history,
        "trained_on": m.version,
        "minutes_generating": round(gen_minutes, 2),
        "minutes": round((time.monotonic() - started) / 60, 2),
    }
    return state, meta


def save_scorer(path: Path, blob: dict, state: dict, meta: dict) -> None:
    """Write the scorer into the checkpoint dict `blob` of model directory `path`, in place: model.pt
    atomically, then meta.json with the checkpoint's meta (engine/models/checkpoint.py)."""
    blob["scorer"] = state
    blob["meta"]["scorer"] = meta
    checkpoint.save_blob(path, blob)
