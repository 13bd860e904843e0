"""`yinshi bench`: generation latency at batch 1 (p50/p95), batched throughput, peak memory, FLOPs.
A request's `--candidates` poems are all decoded (the scorer keeps one): throughput counts the poems
returned, FLOPs per poem those of all its candidates.

Speed is a benchmark, never a test: the figures depend on the machine and its load.
"""

from __future__ import annotations

import json
import resource
import statistics
import time
from pathlib import Path

import typer

from app.commands.options import flag
from engine.errors import YinshiError
from engine.request import CANDIDATES

KEYWORDS = ("春", "秋", "月", "山", "江", "风", "雪", "花", "明月", "故乡", "夜", "雨")


def flops_per_poem(cfg, form: str, head) -> int:
    """Multiply-adds x 2 of one strict poem's decode: GRU layers and output projection at every
    step, logits over the columns of the position's class at the sampled positions (the expectation
    over the form's templates and the both-tone draw; `head` is the model's OutputHead)."""
    from engine.decoding.output_head import BOTH, PURE_PING, PURE_ZE
    from engine.models.encoding import seq_len
    from engine.prosody.forms import FORMS, PING, ZE, templates

    f = FORMS[form]
    E, H, L = cfg.n_embd, cfg.n_hidden, cfg.n_layer
    gru = 3 * H * (E + H) + (L - 1) * 3 * H * (2 * H)
    tpls = templates(form)
    both, pure = len(head.cols[BOTH]), {PING: len(head.cols[PURE_PING]), ZE: len(head.cols[PURE_ZE])}
    cols = sum(head.p_both * both + (1 - head.p_both) * pure[t] for tpl in tpls for line in tpl.lines for t in line)
    cols /= len(tpls)
    return int(2 * (seq_len(f) * (gru + H * E) + E * cols))


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_command(
    model: str = typer.Option("all", help="gan | vae | all"),
    forms: str = typer.Option("wujue,qijue,wulv,qilv", help="comma-separated forms"),
    batch: int = typer.Option(256, help="batch size for the throughput run"),
    single: int = typer.Option(30, help="batch-1 requests per form for latency"),
    repeats: int = typer.Option(3, help="batched runs per form; the median is reported"),
    device: str = typer.Option(None, help="auto | cpu | cuda (default: settings.device)"),
    threads: int = typer.Option(None, help="torch CPU threads"),
    model_dir: Path = typer.Option(None),
    json_out: Path = typer.Option(None, "--json", help="also write the figures here"),
    quantize: bool = typer.Option(None, help="int8 decoding on CPU (default: settings.quantize)"),
    candidates: int = typer.Option(CANDIDATES, help="poems drawn per request, the scorer's best kept (1: no reranking)"),
) -> None:
    """Print latency, throughput, peak memory and FLOPs per poem for each model and form."""
    import torch
    from rich.console import Console
    from rich.table import Table

    from app.poets import load_poet
    from app.settings import get_settings
    from engine.request import PoemRequest
    from engine.serving.schema import check_fields

    try:
        check_fields({"candidates": candidates}, flag)
    except YinshiError as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(2) from None
    if threads:
        torch.set_num_threads(threads)
    poet = load_poet(get_settings(), model_dir=model_dir, device=device, quantize=quantize)
    names = list(poet.models) if model == "all" else [model]
    dev = poet.device
    rows = []
    for name in names:
        m = poet.models[name]
        for form in forms.split(","):
            reqs = [PoemRequest(keyword=KEYWORDS[i % len(KEYWORDS)], form=form, model=name, seed=i, candidates=candidates)
                    for i in range(batch)]
            poet.generate_batch(reqs[:4])  # warm-up: masks, heads, allocator, kernels of both shapes
            for r in reqs[-5:]:
                poet.generate_batch([r])
            lat = []
            for i in range(single):
                t = time.perf_counter()
                poet.generate_batch([reqs[i]])
                lat.append((time.perf_counter() - t) * 1000)
            if dev.type == "cuda":
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            times = []
            for _ in range(repeats):  # the median batch: shared machines are noisy
                t = time.perf_counter()
                res = poet.generate_batch(reqs)
                if dev.type == "cuda":
                    torch.cuda.synchronize()
                times.append(time.perf_counter() - t)
            dt = statistics.median(times)
            assert all(hasattr(r, "lines") for r in res), res[0]
            q = statistics.quantiles(lat, n=20)
            k = candidates if m.scorer is not None else 1  # a model without a scorer decodes one
            rows.append({
                "model": name, "version": m.version, "form": form, "device": str(dev),
                "threads": torch.get_num_threads(), "int8": m.int8 is not None,
                "candidates": k,
                "p50_ms": round(statistics.median(lat), 2), "p95_ms": round(q[18], 2),
                "batch": batch, "poems_per_s": round(batch / dt, 1),
                "peak_mem_mb": round(torch.cuda.max_memory_allocated() / 2**20 if dev.type == "cuda" else _peak_rss_mb(), 1),
                "mflops_per_poem": round(k * flops_per_poem(m.decoder.cfg, form, m.head_for("pingshui", dev)) / 1e6, 1),
            })
            rows[-1]["achieved_gops"] = round(rows[-1]["poems_per_s"] * rows[-1]["mflops_per_poem"] / 1e3, 1)
    table = Table(title=f"yinshi bench · {dev} · {torch.get_num_threads()} threads")
    for col in rows[0]:
        table.add_column(col)
    for r in rows:
        table.add_row(*(str(v) for v in r.values()))
    Console(width=220).print(table)
    if json_out:
        json_out.write_text(json.dumps(rows, ensure_ascii=False, indent=2))
