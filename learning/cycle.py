"""One fine-tuning cycle of one generator: ratings -> reward model -> candidate -> gate -> registry.

    python -m learning.cycle --model gan --registry DIR --database URL --corpus-dir DIR --cache-dir DIR
        --model-dir models [--promote-to challenger|champion] [--json]

The champion serves throughout: the cycle only reads the database, writes its candidate as a new
version and, if the gate passes, moves one alias in one atomic write. Stages:
 1. data      the ratings up to the cycle's start (that time is pinned, so a resumed cycle sees the
              same ratings), labelled and split by time (learning/data.py);
 2. reward    the reward model (engine/models/reward.py); if its held-out AUC is not clearly above
              chance the gate refuses here, before any fine-tuning;
 3. tune      fine-tuning from the champion (engine/training/preference.py), saved every few steps;
 4. candidate the checkpoint registered as a candidate version;
 5. gate      engine/evaluation/gate.py; promoted (challenger, or champion) or rejected, and the
              cycle's record logged in the registry.
The work directory (registry/<name>/.work) keeps each finished stage, so a cycle killed at any
point resumes where it stopped; it is removed when the cycle ends. One cycle per generator at a
time (a file lock).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import random
import shutil
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import torch
from sqlmodel import Session
from tqdm import tqdm

from engine.corpus.loader import load_corpus
from engine.corpus.vocab import Vocab
from engine.decoding.poet import Poet
from engine.errors import YinshiError
from engine.evaluation import gate as G
from engine.evaluation.evaluate import load_reference
from engine.models import checkpoint
from engine.models import reward as R
from engine.models.encoding import KeywordSampler
from engine.models.verify import CheckpointRefused, load_verified, read_blob
from engine.prosody.tables import get_prosody
from engine.training.dataset import PoemData
from engine.training.preference import METHODS, PreferenceConfig, PreferenceTuner
from learning import data as D
from learning.registry import Registry, atomic_write
from storage.db import make_engine

SAVE_EVERY = 10  # fine-tuning steps between saves of the work state


class CycleBusy(YinshiError):
    def __init__(self, name: str):
        super().__init__(f"「{name}」的微调已在进行中", f"A fine-tuning cycle of {name} is already running.")


@dataclass
class CycleConfig:
    model: str  # gan | vae
    registry: Path
    database_url: str
    corpus_dir: Path  # the chinese-poetry clone: evaluation set, replay poems
    cache_dir: Path | None = None
    model_dir: Path | None = None  # shipped checkpoints: the first champions of an empty registry
    promote_to: str = "challenger"  # challenger: an online trial first (learning/online.py); champion: at once
    min_labelled: int = 100  # fewest liked + disliked ratings a cycle learns from
    eval_per_form: int = 100  # evaluation prompts per form (the gate's fixed set)
    replay_poems: int = 3000  # corpus poems replayed during fine-tuning
    device: str = "cpu"
    seed: int = 0
    tune: PreferenceConfig = field(default_factory=PreferenceConfig)
    gate: G.GateConfig = field(default_factory=G.GateConfig)


def run_cycle(cfg: CycleConfig, progress: bool = True) -> dict:
    """One cycle of `cfg.model`; returns (and logs in the registry) what it did."""
    reg = Registry(cfg.registry)
    (reg.root / cfg.model).mkdir(parents=True, exist_ok=True)
    with open(reg.root / cfg.model / ".cycle.lock", "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CycleBusy(cfg.model) from None
        return _run(cfg, reg, progress)


def say(msg: str, progress: bool) -> None:
    if progress:
        tqdm.write(msg, file=sys.stderr)


def _run(cfg: CycleConfig, reg: Registry, progress: bool) -> dict:
    started = time.time()
    if cfg.model_dir is not None:
        reg.seed_shipped(cfg.model_dir, names=(cfg.model,))
    champ_rec = reg.champion(cfg.model)
    if champ_rec is None:
        raise YinshiError(f"「{cfg.model}」没有在役模型", f"{cfg.model} has no champion in the registry.")
    work = reg.root / cfg.model / ".work"
    state = _read_state(work)
    if state.get("parent") != champ_rec.version:  # nothing to resume, or work for an older champion
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        state = {"parent": champ_rec.version, "until": datetime.now(UTC).isoformat(), "stage": "data"}
        _write_state(work, state)
    else:
        say(f"resuming the {cfg.model} cycle at stage {state['stage']}", progress)
    record = {"name": cfg.model, "parent": champ_rec.version, "method": cfg.tune.method, "version": None,
              "promoted": None, "stage_seconds": {}}
    clock = [time.time()]

    def lap(stage: str) -> None:
        """Seconds spent in `stage` (since the previous lap), kept in the record."""
        now = time.time()
        record["stage_seconds"][stage] = round(now - clock[0], 1)
        clock[0] = now

    # 1. data -------------------------------------------------------------------------------------
    engine = make_engine(cfg.database_url)
    with Session(engine) as session:
        examples = D.load_ratings(session=session, model=cfg.model, until=datetime.fromisoformat(state["until"]))
    engine.dispose()
    rd = D.prepare(examples)
    record["data"] = rd.report
    train, held = rd.labelled("train"), rd.labelled("heldout")
    if len(train) + len(held) < cfg.min_labelled:
        return _finish(reg, work, record, started, [f"too few liked or disliked ratings: {len(train) + len(held)} "
                                                      f"< {cfg.min_labelled}"])

    # 2. reward model -----------------------------------------------------------------------------
    blob0 = read_blob(reg.path(champ_rec), champ_rec.sha256)
    vocab = Vocab.from_json(blob0["vocab"])
    rm, rm_info = _reward_model(train, held, vocab, cfg)
    record["reward"] = rm_info
    lap("data+reward")
    refusal = G.reward_credible(rm_info["auc"], rm_info["heldout_liked"], rm_info["heldout_disliked"],
                                rm_info["null_sd"], cfg.gate)
    if refusal:
        return _finish(reg, work, record, started, refusal)
    say(f"reward model: held-out AUC {rm_info['auc']:.3f} ({rm_info['z']:.1f} null SD above chance)", progress)

    def reward(texts, keywords, forms):
        return R.predict(rm, R.encode(texts, keywords, forms, vocab))

    # 3. fine-tuning ------------------------------------------------------------------------------
    dev = torch.device(cfg.device)
    champ = load_verified(reg.path(champ_rec), dev, champ_rec.sha256)
    ref = load_reference(cfg.corpus_dir, cache_dir=cfg.cache_dir)
    ev = G.build_evalset(ref, cfg.eval_per_form)  # fixed: the same prompts and seeds for every version
    lap("load")
    if state["stage"] in ("data", "tune"):
        cand = load_verified(reg.path(champ_rec), dev, champ_rec.sha256, smoke=False)
        poet = Poet({cfg.model: cand}, dev)
        prompts = [e.request() for e in rd.train]
        liked = [(e.request(), e.seed) for e in train if e.label == 1]
        tuner = PreferenceTuner(cand, poet, cfg.tune, reward, prompts, liked, _replay(cfg, vocab),
                                char_weights=rm.chars.weight[:, 0].detach())
        if (work / "tune.pt").exists():
            tuner.load_state(torch.load(work / "tune.pt", weights_only=True))
        state["stage"] = "tune"
        _write_state(work, state)

        def save(step: int) -> None:
            _atomic_torch_save(tuner.state(), work / "tune.pt")

        tuner.run(save=save, save_every=SAVE_EVERY, progress=progress)
        lap("tune")
        record["tune"] = {"steps": tuner.step, "last": tuner.history[-1] if tuner.history else None}
        # 4. the candidate, written to the work directory, then registered ---------------------------
        version = reg.next_version(cfg.model)
        meta = json.loads(json.dumps(blob0["meta"], default=str))  # plain types only (no TorchVersion)
        meta.update(version=version, parent=champ_rec.version, method=cfg.tune.method,
                    finetune=tuner.cfg.to_dict(), data_window=rd.report)
        extra = {k: v for k, v in blob0.items() if k not in ("kind", "config", "vocab", "meta", "model")}
        checkpoint.save(work / "candidate", kind=cfg.model, model=cand.net, config=blob0["config"], vocab=vocab,
                        meta=meta, extra_state=extra, half=True)
        state.update(stage="register", version=version)
        _write_state(work, state)
        del cand, tuner, poet
    if state["stage"] == "register":  # (a cycle killed here may or may not have recorded the version)
        if all(v.version != state["version"] for v in reg.list_versions(cfg.model)):
            reg.add(cfg.model, state["version"], work / "candidate", status="candidate", parent=champ_rec.version,
                    method=cfg.tune.method, data_window=rd.report)
        state["stage"] = "gate"
        _write_state(work, state)
    version = state["version"]
    record["version"] = version

    # 5. gate -------------------------------------------------------------------------------------
    cand_rec = reg.get(cfg.model, version)
    try:
        cand = load_verified(reg.path(cand_rec), dev, cand_rec.sha256)
    except CheckpointRefused as e:
        return _finish(reg, work, record, started, [str(e)])
    lap("candidate")
    base = reg.shipped_figures(cfg.model, champ_rec.version, len(ev.requests))  # the lineage's start: drift
    figures = G.compare(cand, champ, ev, ref, reward, cfg.gate, base)
    lap("gate")
    reasons = figures.pop("reasons")
    record["gate"] = figures
    reg.update(cfg.model, version, gate={**figures, "reasons": reasons, "reward": rm_info})
    if not reasons:
        if (reg.champion(cfg.model) or champ_rec).version != champ_rec.version:
            reasons = ["the champion changed while the cycle ran; the candidate waits (promote it by hand)"]
        else:
            reg.promote(cfg.model, version, cfg.promote_to, reason="gate passed")
            record["promoted"] = cfg.promote_to
    return _finish(reg, work, record, started, reasons)


def _reward_model(train, held, vocab, cfg: CycleConfig):
    enc = lambda xs: R.encode([e.text for e in xs], [e.keyword for e in xs], [e.form for e in xs], vocab)  # noqa: E731
    y = torch.tensor([float(e.label) for e in train])
    w = torch.tensor([e.weight for e in train])
    rm, info = R.fit_select(R.RewardConfig(vocab_size=len(vocab)), enc(train), y, w)
    yh = [e.label for e in held]
    auc = R.auc(R.predict(rm, enc(held)).tolist(), yh) if held else None
    n_pos, n_neg = sum(yh), len(yh) - sum(yh)
    sd = R.auc_null_sd(n_pos, n_neg)
    z = (auc - 0.5) / sd if auc is not None and sd < float("inf") else None
    return rm, {"auc": auc, "z": z, "null_sd": sd, "heldout_liked": n_pos, "heldout_disliked": n_neg,
                "train": len(train), **info}


def _replay(cfg: CycleConfig, vocab) -> PoemData:
    """A fixed sample of training-split corpus poems, replayed by maximum likelihood."""
    poems = [p for p in load_corpus(cfg.corpus_dir, cache_dir=cfg.cache_dir) if p.split == "train" and p.form]
    sample = random.Random(cfg.seed).sample(poems, min(cfg.replay_poems, len(poems)))
    del poems
    sampler = KeywordSampler([p.lines for p in sample], min_df=2)
    return PoemData(sample, vocab, get_prosody("pingshui").tones, sampler)


def _finish(reg: Registry, work: Path, record: dict, started: float, reasons: list[str]) -> dict:
    gate = record.setdefault("gate", {})
    gate["passed"] = not reasons
    gate["reasons"] = reasons
    record["seconds"] = round(time.time() - started, 1)
    if record.get("version") and reasons:
        reg.update(record["name"], record["version"], status="rejected")
    reg.log_cycle(record)
    shutil.rmtree(work, ignore_errors=True)
    return record


def _read_state(work: Path) -> dict:
    try:
        return json.loads((work / "state.json").read_text())
    except (OSError, ValueError):
        return {}


def _write_state(work: Path, state: dict) -> None:
    atomic_write(work / "state.json", json.dumps(state).encode())


def _atomic_torch_save(obj, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m learning.cycle", description=__doc__.split("\n")[0])
    p.add_argument("--model", choices=("gan", "vae"), required=True)
    p.add_argument("--registry", type=Path, required=True)
    p.add_argument("--database", required=True)
    p.add_argument("--corpus-dir", type=Path, required=True)
    p.add_argument("--cache-dir", type=Path, required=True)
    p.add_argument("--model-dir", type=Path, required=True)
    p.add_argument("--promote-to", choices=("challenger", "champion"), default="challenger")
    p.add_argument("--method", choices=METHODS, default=PreferenceConfig.method)
    p.add_argument("--steps", type=int, default=PreferenceConfig.steps)
    p.add_argument("--tune", type=json.loads, default={},
                   help='other fine-tuning settings as JSON, e.g. \'{"lr": 1e-4, "k": 8}\' (PreferenceConfig)')
    p.add_argument("--min-labelled", type=int, default=CycleConfig.min_labelled)
    p.add_argument("--eval-per-form", type=int, default=CycleConfig.eval_per_form)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the cycle's record as one JSON line")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    cfg = CycleConfig(a.model, a.registry, a.database, a.corpus_dir, a.cache_dir, a.model_dir, a.promote_to,
                      min_labelled=a.min_labelled, eval_per_form=a.eval_per_form, seed=a.seed,
                      tune=PreferenceConfig(**{"method": a.method, "steps": a.steps, "seed": a.seed, **a.tune}))
    try:
        record = run_cycle(cfg, progress=not a.json or sys.stderr.isatty())
    except YinshiError as e:
        print(json.dumps({"name": a.model, "error": str(e)}, ensure_ascii=False) if a.json else str(e))
        return 2
    print(json.dumps(record, ensure_ascii=False, default=str) if a.json else _summary(record))
    return 0


def _summary(r: dict) -> str:
    g = r.get("gate", {})
    head = f"{r['name']}: candidate {r.get('version') or '—'} from {r['parent']}: "
    if g.get("passed"):
        return head + f"gate passed, promoted to {r['promoted']}"
    return head + "gate refused:\n  " + "\n  ".join(g.get("reasons", []))


if __name__ == "__main__":
    sys.exit(main())
