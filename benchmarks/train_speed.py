"""How fast the generators train on this CPU: the figures of docs/training.md.

    .venv/bin/python benchmarks/train_speed.py micro            # tokens/s per configuration (~6 min)
    .venv/bin/python benchmarks/train_speed.py race --minutes 4 \\
        gru/plain/128/2e-3/2 gru/fused/128/2e-3/1 tf/fused/128/1e-3/1   # val NLL after N minutes each

`micro` times forward + backward + update on random batches of the shipped shapes (vocabulary
7,824, emb 256, 2 x GRU 512): tokens/s for the old full-logits loss (`plain`) and the chunked
full-softmax loss (`fused`, engine/models/poem_lm.py), for 1 and 2 threads, several batch sizes,
the GRU and a Transformer decoder of similar size (engine/models/transformer_lm.py), and what share
of a step the output layer (projection + softmax + loss, forward and backward) takes. It also says
whether the CPU has native bf16 and times a bf16 matmul against fp32.

`race` trains each configuration KIND/LOSS/BATCH/LR/THREADS on the real corpus (a random slice of
the training split, the vocabulary of the whole split) for the same number of minutes of its own
step time. The runs are interleaved step by step in one process, so each sees the same load from
other jobs on the host; evaluation (full softmax, token-weighted NLL on a fixed validation slice)
is not counted. Each run writes OUT/NAME/train_log.jsonl for scripts/plot_training.py.

Every timing is printed with the 1-minute load average: on a shared host, compare only figures
taken together.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from engine.models.encoding import FORM_IDS, seq_len, slots
from engine.models.poem_lm import PoemLM, PoemLMConfig
from engine.models.transformer_lm import TransformerLM, TransformerLMConfig
from engine.prosody.forms import FORMS
from engine.training import precision
from engine.training.config import TrainConfig
from engine.training.mle import ThreadPicker, lr_at, thread_candidates, train_step

SHIPPED_VOCAB = 7824  # models/gan/meta.json


class PlainLossPoemLM(PoemLM):
    """PoemLM with the loss it was shipped with: the whole (B, T, V) logits, then F.cross_entropy."""

    def forward(self, prev, slot, tone, form, keyword, z=None, targets=None):
        c, h0 = self.condition(form, keyword, z)
        out, _ = self.rnn(self.inputs(prev, slot, tone, c), h0)  # (B, T, H)
        logits = self.logits(out)  # (B, T, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-1)
        return logits, loss


def make_model(kind: str, loss: str, vocab: int, seed: int = 0) -> torch.nn.Module:
    """kind gru (the shipped PoemLM shape) or tf (a Transformer of similar non-embedding size)."""
    torch.manual_seed(seed)
    if kind == "gru":
        return (PlainLossPoemLM if loss == "plain" else PoemLM)(PoemLMConfig(vocab_size=vocab))
    if loss == "plain":
        raise ValueError("the Transformer only has the fused loss")
    return TransformerLM(TransformerLMConfig(vocab_size=vocab))


def n_params(model: torch.nn.Module) -> tuple[int, int]:
    """(all parameters, parameters outside the token embedding)."""
    total = sum(p.numel() for p in model.parameters())
    return total, total - model.tok_emb.weight.numel()


def host() -> dict:
    name = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                 if ln.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    return {"cpu": name, "cores": os.cpu_count(), "torch": torch.__version__,
            "capability": torch.backends.cpu.get_cpu_capability(), "default_threads": torch.get_num_threads()}


def load1() -> float:
    return round(os.getloadavg()[0], 2)


# ---------------------------------------------------------------- micro


@dataclass
class FakeBatch:
    """A batch of one form with random characters (timing does not depend on which)."""

    tokens: torch.Tensor
    prev: torch.Tensor
    slot: torch.Tensor
    tone: torch.Tensor
    form_ids: torch.Tensor
    keyword: torch.Tensor


def fake_batch(form: str, batch: int, vocab: int, gen: torch.Generator) -> FakeBatch:
    T = seq_len(FORMS[form])
    toks = torch.randint(4, vocab, (batch, T), generator=gen)
    return FakeBatch(toks, torch.cat([torch.ones(batch, 1, dtype=torch.long), toks[:, :-1]], 1),
                     torch.tensor(slots(FORMS[form])).expand(batch, T), torch.randint(0, 4, (batch, T), generator=gen),
                     torch.full((batch,), FORM_IDS[form]), torch.randint(4, vocab, (batch, 2), generator=gen))


def bf16_check(seconds: float = 0.5) -> dict:
    """Native bf16 (AVX512-BF16 or AMX) or not, and a timed (1024 x 512) @ (512 x 1536) matmul."""
    cpu = torch.device("cpu")
    out = {"native_bf16": precision.native_bf16(cpu)}
    for dt in (torch.float32, torch.bfloat16):
        rate = precision.matmul_rate(dt, cpu, 1024, 512, 1536, seconds)
        out[f"{str(dt)[6:]}_gflops"] = round(2 * 1024 * 512 * 1536 * rate / 1e9, 1)
    return out


@dataclass
class Probe:
    """One configuration timed; `what` is step (forward + backward + update) or head (the output
    layer alone, forward + backward, on random hidden states)."""

    what: str
    kind: str
    loss: str
    threads: int
    batch: int
    form: str
    times: list[float] = field(default_factory=list)
    loads: list[float] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.what}/{self.kind}/{self.loss}/t{self.threads}/b{self.batch}/{self.form}"


def run_probe(p: Probe, models: dict, opts: dict, vocab: int, gen: torch.Generator) -> float:
    torch.set_num_threads(p.threads)
    model, b = models[(p.kind, p.loss)], fake_batch(p.form, p.batch, vocab, gen)
    cfg = TrainConfig()
    t0 = time.perf_counter()
    if p.what == "step":
        train_step(model, opts[(p.kind, p.loss)], b, cfg, vae=False, step=0)
    else:  # the output layer of the GRU
        h = torch.randn(p.batch, b.tokens.shape[1], model.cfg.n_hidden, requires_grad=True)
        if p.loss == "plain":
            loss = F.cross_entropy(model.logits(h).flatten(0, 1), b.tokens.flatten())
        else:
            loss = model.loss(h, b.tokens)
        loss.backward()
        model.zero_grad(set_to_none=True)
    return time.perf_counter() - t0


def micro(args) -> dict:
    V = args.vocab
    models = {(k, lo): make_model(k, lo, V) for k, lo in (("gru", "plain"), ("gru", "fused"), ("tf", "fused"))}
    opts = {k: torch.optim.AdamW(m.parameters(), lr=1e-4) for k, m in models.items()}
    probes = []
    for form in args.forms:
        for t in args.threads:
            for kind, loss in models:
                probes.append(Probe("step", kind, loss, t, 128, form))
            for loss in ("plain", "fused"):
                probes.append(Probe("head", "gru", loss, t, 128, form))
        for bs in args.batches:
            if bs != 128:
                probes.append(Probe("step", "gru", "fused", args.batch_threads, bs, form))
    gen = torch.Generator().manual_seed(0)
    report = {"host": host(), "load_before": load1(), "bf16": bf16_check(),
              "params": {f"{k}/{lo}": n_params(m) for (k, lo), m in models.items()}}
    print(json.dumps(report, ensure_ascii=False), flush=True)
    for r in range(args.rounds + 1):  # round 0 warms up (allocations, thread pools, oneDNN kernels)
        for p in probes:
            dt = run_probe(p, models, opts, V, gen)
            if r:
                p.times.append(dt)
                p.loads.append(load1())
        print(f"round {r} done, load {load1()}", flush=True)
    rows = []
    for p in probes:
        s = statistics.median(p.times)
        toks = p.batch * seq_len(FORMS[p.form])
        rows.append({"probe": p.name, "seconds": round(s, 3), "tokens_per_s": round(toks / s),
                     "spread": [round(min(p.times), 3), round(max(p.times), 3)],
                     "load": round(statistics.mean(p.loads), 2)})
    by = {r["probe"]: r for r in rows}
    shares = []
    for form in args.forms:
        for t in args.threads:
            for loss in ("plain", "fused"):
                head, step = by[f"head/gru/{loss}/t{t}/b128/{form}"], by[f"step/gru/{loss}/t{t}/b128/{form}"]
                shares.append({"form": form, "threads": t, "loss": loss,
                               "head_share": round(head["seconds"] / step["seconds"], 3)})
    report.update(rows=rows, head_share=shares, load_after=load1())
    print(f"\n{'probe':42} {'s/step':>8} {'tokens/s':>9} {'min..max':>15} {'load':>5}")
    for r in rows:
        print(f"{r['probe']:42} {r['seconds']:8.3f} {r['tokens_per_s']:9d} "
              f"{r['spread'][0]:7.3f}..{r['spread'][1]:<7.3f} {r['load']:5.2f}")
    print("\noutput layer's share of a GRU step (batch 128):")
    for s in shares:
        print(f"  {s['form']:6} threads {s['threads']} {s['loss']:5}: {s['head_share']:.0%}")
    return report


# ---------------------------------------------------------------- race


def race_data(args):
    from app.settings import get_settings
    from engine.corpus.loader import load_corpus
    from engine.corpus.vocab import Vocab
    from engine.models.encoding import KeywordSampler
    from engine.prosody.tables import get_prosody
    from engine.training.dataset import PoemData

    s = get_settings()
    poems = load_corpus(args.corpus or s.corpus_dir, cache_dir=s.cache_dir)
    train = [p for p in poems if p.split == "train" and p.form in FORMS]
    valid = [p for p in poems if p.split == "valid" and p.form in FORMS]
    vocab = Vocab.build(("".join(p.lines) for p in train), min_count=s.min_char_count)
    rng = random.Random(0)
    train_slice, valid_slice = rng.sample(train, min(args.train_poems, len(train))), valid[: args.valid_poems]
    pros = get_prosody("pingshui")
    sampler = KeywordSampler([p.lines for p in train], min_df=max(2, min(20, len(train) // 2000)))
    return vocab, PoemData(train_slice, vocab, pros.tones, sampler), PoemData(valid_slice, vocab, pros.tones, sampler)


@dataclass
class Runner:
    spec: str
    model: torch.nn.Module
    opt: torch.optim.Optimizer
    cfg: TrainConfig
    threads: int | None  # None: a ThreadPicker chooses
    picker: ThreadPicker | None
    plan: list
    log_path: Path
    rng: random.Random
    step: int = 0
    spent: float = 0.0
    tokens: int = 0
    next_eval: float = 0.0
    history: list = field(default_factory=list)


@torch.no_grad()
def valid_nll(model, batches) -> float:
    """Token-weighted NLL (nats per token, full softmax) over fixed validation batches."""
    model.eval()
    tot = n = 0
    for b in batches:
        _, loss = model(b.prev, b.slot, b.tone, b.form_ids, b.keyword, targets=b.tokens)
        tot += loss.item() * b.tokens.numel()
        n += b.tokens.numel()
    model.train()
    return tot / n


def race(args) -> dict:
    vocab, train, valid = race_data(args)
    V = len(vocab)
    eval_batches = [valid.make_batch(f, idx, random.Random(1)) for f, idx in valid.plan(128, random.Random(1))]
    pad = sum(int((d.tokens == 0).sum()) for d in train.forms.values())
    n_tok = sum(d.tokens.numel() for d in train.forms.values())
    info = {"host": host(), "vocab": V, "train_poems": len(train), "train_tokens": n_tok, "padding_tokens": pad, "valid_poems": len(valid), "minutes_each": args.minutes,
            "load_before": load1()}
    print(json.dumps(info, ensure_ascii=False), flush=True)
    runners = []
    for spec in args.configs:
        kind, loss, batch, lr, threads = spec.split("/")
        cfg = TrainConfig(batch_size=int(batch), lr=float(lr), min_lr=float(lr) / 10, warmup_steps=args.warmup)
        model = make_model(kind, loss, V, seed=args.seed)
        rng = random.Random(args.seed)
        plan = [b for _ in range(20) for b in train.plan(cfg.batch_size, rng)]
        out = args.out / spec.replace("/", "_")
        out.mkdir(parents=True, exist_ok=True)
        (out / "train_log.jsonl").write_text(json.dumps({"event": "start", "label": spec, "params": n_params(model),
                                                         **info}) + "\n")
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        picker = ThreadPicker(thread_candidates(), args.thread_check_every) if threads == "auto" else None
        runners.append(Runner(spec, model, opt, cfg, None if picker else int(threads), picker, plan,
                              out / "train_log.jsonl", rng))
    budget = args.minutes * 60

    def evaluate(r: Runner, loss: float) -> None:
        torch.set_num_threads(r.threads or r.picker.chosen)
        ev = {"step": r.step, "minutes": r.spent / 60, "tokens": r.tokens, "train_loss": loss,
              "valid_loss": valid_nll(r.model, eval_batches), "load1": load1()}
        r.history.append(ev)
        with r.log_path.open("a") as f:
            f.write(json.dumps(ev) + "\n")
        print(f"{r.spec:24} {ev['minutes']:5.2f} min  step {r.step:5d}  {r.tokens / max(r.spent, 1e-9):7.0f} tok/s"
              f"  valid {ev['valid_loss']:.4f}  load {ev['load1']}", flush=True)

    for r in runners:
        r.next_eval = args.eval_minutes * 60
    while live := [r for r in runners if r.spent < budget]:
        r = min(live, key=lambda r: r.spent)  # the one furthest behind takes the next step
        torch.set_num_threads(r.threads or r.picker.threads_for(r.step))
        t0 = time.perf_counter()
        for g in r.opt.param_groups:
            g["lr"] = lr_at(r.spent / budget, r.step, r.cfg)
        b = train.make_batch(*r.plan[r.step], r.rng)
        loss, _ = train_step(r.model, r.opt, b, r.cfg, vae=False, step=r.step)
        dt = time.perf_counter() - t0
        if r.picker and (trial := r.picker.record(r.step, torch.get_num_threads(), dt, b.tokens.numel())):
            print(f"{r.spec:24} threads trial at step {r.step}: ms per 1k tokens {trial} -> {r.picker.chosen}")
        r.spent += dt
        r.step += 1
        r.tokens += b.tokens.numel()
        if r.spent >= r.next_eval or r.spent >= budget:
            evaluate(r, loss)
            r.next_eval += args.eval_minutes * 60
    summary = [{"config": r.spec, "params": n_params(r.model), "steps": r.step, "tokens": r.tokens,
                "tokens_per_s": round(r.tokens / r.spent),
                "valid_nll": round(r.history[-1]["valid_loss"], 4),
                "mean_load": round(statistics.mean(h["load1"] for h in r.history), 2)} for r in runners]
    print(f"\n{'config':24} {'steps':>6} {'tok/s':>7} {'val NLL':>8} {'load':>5}   (after {args.minutes} min each)")
    for s in summary:
        print(f"{s['config']:24} {s['steps']:6d} {s['tokens_per_s']:7d} {s['valid_nll']:8.4f} {s['mean_load']:5.2f}")
    return {**info, "summary": summary, "load_after": load1()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("micro", help="tokens/s per configuration on random batches")
    m.add_argument("--vocab", type=int, default=SHIPPED_VOCAB)
    m.add_argument("--forms", nargs="+", default=["wujue", "qilv"], choices=list(FORMS))
    m.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    m.add_argument("--batches", nargs="+", type=int, default=[64, 128, 256])
    m.add_argument("--batch-threads", type=int, default=1, help="threads for the batch-size probes")
    m.add_argument("--rounds", type=int, default=3, help="timed rounds (after one warm-up round)")
    r = sub.add_parser("race", help="val NLL after equal minutes of training, interleaved")
    r.add_argument("configs", nargs="+", help="KIND/LOSS/BATCH/LR/THREADS, e.g. gru/fused/128/2e-3/auto or tf/fused/128/1e-3/1")
    r.add_argument("--minutes", type=float, default=4.0, help="own step time each configuration gets")
    r.add_argument("--eval-minutes", type=float, default=1.0)
    r.add_argument("--thread-check-every", type=int, default=40, help="steps between thread trials (THREADS auto)")
    r.add_argument("--warmup", type=int, default=5, help="warm-up steps (the real recipe's 200 outlast a short run)")
    r.add_argument("--train-poems", type=int, default=60000)
    r.add_argument("--valid-poems", type=int, default=500)
    r.add_argument("--corpus", type=Path, default=None)
    r.add_argument("--seed", type=int, default=1337)
    r.add_argument("--out", type=Path, default=Path("data/runs/train-speed"))
    for p in (m, r):
        p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args()
    report = micro(args) if args.cmd == "micro" else race(args)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n")


if __name__ == "__main__":
    main()
