"""Training a generator end to end: data, model, the MLE / VAE phase (engine/training/mle.py), for
the GAN the adversarial phase (engine/training/adversarial.py), and the checkpoints.

Checkpoints go to `out_dir` (weights + config + vocabulary + data hash + metrics) and can resume.
A run given `total_minutes` shortens its MLE / VAE phase so that everything ends within it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import time
from pathlib import Path

import torch
from tqdm import tqdm

from engine.corpus import associations
from engine.corpus.loader import CorpusPoem
from engine.corpus.vocab import Vocab
from engine.decoding.spec import ProsodyMasks
from engine.decoding.words import COMMON_MIN
from engine.device import resolve_device
from engine.models import checkpoint
from engine.models.encoding import KeywordSampler
from engine.models.poem_lm import PoemLM, PoemLMConfig
from engine.models.vae import PoemVAE, VAEConfig
from engine.prosody import usage as rhyme_usage
from engine.prosody.forms import FORMS
from engine.prosody.tables import get_prosody
from engine.training.adversarial import train_gan_adversarial
from engine.training.config import TrainConfig
from engine.training.dataset import PoemData
from engine.training.mle import train_mle

FINISH_MINUTES = 2.0  # corpus statistics and the final checkpoint (0.1 min for the shipped VAE)
DISC_MINUTES = 3.0  # the GAN's discriminator pretraining and its statistics (1.1 min for the shipped GAN)


def mle_minutes(cfg: TrainConfig, minutes_used: float) -> float | None:
    """The MLE / VAE phase's time budget: `max_minutes`, cut so that the run, `minutes_used` in
    already, ends within `total_minutes`, after the GAN's adversarial phase (`adv_minutes`)."""
    if cfg.total_minutes is None:
        return cfg.max_minutes
    after = FINISH_MINUTES + (DISC_MINUTES + (cfg.adv_minutes or 0.0) if cfg.model == "gan" else 0.0)
    left = max(1.0, cfg.total_minutes - minutes_used - after)
    return min(cfg.max_minutes or left, left)


def data_hash(poems: list[CorpusPoem]) -> str:
    h = hashlib.sha1()
    for p in poems:
        h.update(p.text.encode())
    return h.hexdigest()[:16]


def corpus_lexicon(poems: list[CorpusPoem], min_count: int = 3) -> list[str]:
    """Two-character words seen at least `min_count` times: a multi-character keyword must use them."""
    from collections import Counter

    c = Counter(ln[i : i + 2] for p in poems for ln in p.lines for i in range(len(ln) - 1))
    return sorted(w for w, n in c.items() if n >= min_count)


def corpus_statistics(poems: list[CorpusPoem], vocab: Vocab) -> dict:
    """What decoding needs from the training poems besides the weights: the keyword lexicon and its
    common words, the theme / couplet-partner associations and the 平水韵 groups each character is
    rhymed in."""
    return {
        "lexicon": associations.lexicon_codes(corpus_lexicon(poems), vocab),
        "lexicon_common": associations.lexicon_codes(corpus_lexicon(poems, COMMON_MIN), vocab),
        "associations": associations.build(((p.lines, p.form) for p in poems), vocab),
        "rhyme_usage": rhyme_usage.build((p.lines for p in poems if p.form), get_prosody("pingshui")),
    }


def prepare(poems: list[CorpusPoem], cfg: TrainConfig):
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


class Logger:
    def __init__(self, path: Path | None, verbose: bool):
        self.path, self.verbose = path, verbose

    def __call__(self, line: str) -> None:
        if self.path:
            with self.path.open("a") as f:
                f.write(line + "\n")
        if self.verbose:
            tqdm.write(line)


def train(cfg: TrainConfig, poems: list[CorpusPoem], verbose: bool = True) -> Path:
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

    def save(name: str, extra_meta: dict, extra_state: dict) -> Path:
        checkpoint.save(cfg.out_dir / name, kind=cfg.model, model=model, config=config, vocab=vocab,
                        meta={**meta, **extra_meta}, extra_state=extra_state)
        return cfg.out_dir / name

    def save_fn(step, history, minutes, optimizer):
        save("last", {"step": step, "history": history, "minutes": minutes}, {"optimizer": optimizer})

    resume = None
    if cfg.resume and (cfg.out_dir / "last" / "model.pt").exists():
        resume = checkpoint.load_blob(cfg.out_dir / "last", map_location=device)
        if resume["vocab"] != vocab.to_json():
            raise ValueError("cannot resume: the vocabulary differs (different data or settings)")
        checkpoint.load_state(model, resume["model"])
    mle_cfg = dataclasses.replace(cfg, max_minutes=mle_minutes(cfg, (time.time() - t_start) / 60))
    history = train_mle(model, train_data, valid_data, mle_cfg, device, cfg.model == "vae", log, save_fn, resume)
    meta["minutes_mle"] = (time.time() - t_start) / 60
    lexicon = corpus_statistics(train_poems, vocab)
    if cfg.model == "gan":
        save("mle", {"history": history, "phase": "mle"}, lexicon)
        masks = ProsodyMasks(vocab, get_prosody(cfg.scheme), device)
        disc, adv_hist = train_gan_adversarial(model, train_data, cfg, masks, device, log, vocab,
                                               lexicon["associations"]["char_counts"])
        history += adv_hist
        meta["disc_config"] = disc.cfg.to_dict()
        extra = {"disc": disc.state_dict(), **lexicon}
    else:
        extra = lexicon
    meta["minutes_total"] = (time.time() - t_start) / 60
    final = save("final", {"history": history, "phase": "final"}, extra)
    log(json.dumps({"event": "done", "minutes": meta["minutes_total"]}))
    return final
