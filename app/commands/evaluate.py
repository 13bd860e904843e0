"""`yinshi eval`: score generated poems (a JSONL file) or baseline poem sets against the corpus."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from app.commands.options import flag
from app.settings import get_settings
from engine.errors import InvalidInput, YinshiError
from engine.evaluation.baselines import BASELINES, baseline_poems
from engine.evaluation.evaluate import (
    GeneratedPoem,
    ReferenceData,
    evaluate_poems,
    load_reference,
    read_jsonl,
)
from engine.request import CANDIDATES, MIN_P, PARALLEL, PLAN, TEMPERATURE, THEME, TOP_P, WORDS
from engine.serving.schema import check_fields

# (key in the result dict, label, format)
ROWS: list[tuple[str, str, str]] = [
    ("n", "poems", "{:,}"),
    ("format_valid", "format valid 格式", "{:.1%}"),
    ("rhyme_rate", "rhyme 押韵", "{:.1%}"),
    ("tone_lenient", "tones lenient 平仄(宽)", "{:.1%}"),
    ("tone_strict", "tones strict 平仄(严)", "{:.1%}"),
    ("keyword_hit", "keyword hit 切题字", "{:.1%}"),
    ("keyword_first_couplet", "keyword in 1st couplet", "{:.1%}"),
    ("theme_score", "theme score (PMI)", "{:+.3f}"),
    ("line_copy_rate", "lines copied from train", "{:.1%}"),
    ("gram4_seen_rate", "4-grams seen in train", "{:.1%}"),
    ("distinct_1", "distinct-1", "{:.3f}"),
    ("distinct_2", "distinct-2", "{:.3f}"),
    ("repetition", "repetition", "{:.3f}"),
    ("bleu2", "BLEU-2 (SeqGAN protocol)", "{:.3f}"),
    ("parallel_rate", "对仗 颔联/颈联", "{:.1%}"),
    ("discriminator_accuracy", "discriminator acc. (0.5 best)", "{:.1%}"),
    ("distinct_chars", "distinct characters", "{:,}"),
    ("beyond_top_share", "beyond the 1,000 commonest", "{:.1%}"),
    ("overused_chars", "common chars over 2.5× corpus rate", "{:,}"),
    ("overused", "  the most over-used", "{}"),
    ("variant_poems", "poems with variant forms", "{:,}"),
    ("rare_rhyme_rate", "rare-reading rhymes 僻读", "{:.2%}"),
]


def _fmt(value: Any, fmt: str) -> str:
    return "—" if value is None else fmt.format(value)


def results_table(results: dict[str, dict[str, Any]], title: str = "evaluation") -> Table:
    """One column per poem set; one row per figure."""
    table = Table(title=title)
    table.add_column("metric")
    for name in results:
        table.add_column(name, justify="right")
    for key, label, fmt in ROWS:
        if any(key in r for r in results.values()):
            table.add_row(label, *(_fmt(r.get(key), fmt) for r in results.values()))
    return table


def per_form_table(name: str, result: dict[str, Any]) -> Table | None:
    forms = result.get("per_form") or {}
    if len(forms) < 2:
        return None
    return results_table(forms, title=f"{name}: per form")


def corpus_table(ref: ReferenceData) -> Table:
    c = ref.corpus
    table = Table(title=f"real poems, for comparison ({c['calibration_poems']} test poems)")
    table.add_column("figure")
    table.add_column("value", justify="right")
    rows = [
        ("对仗 颔联/颈联, real 五律", _fmt(c["parallel_rate"].get("wulv"), "{:.1%}")),
        ("对仗 颔联/颈联, real 七律", _fmt(c["parallel_rate"].get("qilv"), "{:.1%}")),
        ("theme score, real poem + its own keyword", _fmt(c["theme_score_own_keyword"], "{:+.3f}")),
        ("theme score, real poem + another poem's keyword", _fmt(c["theme_score_other_keyword"], "{:+.3f}")),
        ("keyword in 1st couplet, real poems", _fmt(c["keyword_first_couplet"], "{:.1%}")),
    ]
    for row in rows:
        table.add_row(*row)
    return table


def eval_command(
    poems_file: Path | None = typer.Argument(
        None, help='JSONL of poems: {"text", "keyword", "form", "acrostic"} per line.'
    ),
    baseline: list[str] = typer.Option(
        [], "--baseline", "-b", help="Score a baseline instead: real | shuffled | random (repeatable)."
    ),
    n: int = typer.Option(1000, "--n", help="Poems per baseline."),
    corpus_dir: Path | None = typer.Option(
        None, "--corpus-dir", help="chinese-poetry clone (default: settings)."
    ),
    scheme: str = typer.Option("pingshui", "--scheme", help="Rhyme scheme: pingshui | xinyun."),
    seed: int = typer.Option(0, "--seed", help="Seed of every random choice (samples, CV folds)."),
    json_path: Path | None = typer.Option(None, "--json", help="Also write all figures to this JSON file."),
    per_form: bool = typer.Option(True, "--per-form/--no-per-form", help="Print per-form tables."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Rebuild the reference data."),
    model: list[str] = typer.Option(
        [], "--model", "-m",
        help="Draw --n poems straight from a model: gan | vae | NAME=CHECKPOINT_DIR (repeatable).",
    ),
    temperature: list[float] = typer.Option(
        [TEMPERATURE], "--temperature", "-t", help="Sampling temperature for --model (repeatable; default: the engine's)."
    ),
    top_p: float = typer.Option(TOP_P, "--top-p", help="Nucleus sampling threshold for --model (1.0: off)."),
    min_p: float = typer.Option(MIN_P, "--min-p", help="min-p threshold for --model (0: off)."),
    theme: float = typer.Option(THEME, "--theme", help="Theme bonus weight for --model (0: off)."),
    parallel: float = typer.Option(PARALLEL, "--parallel", help="Couplet-partner bonus weight for --model (0: off)."),
    words: float = typer.Option(WORDS, "--words", help="Corpus-word bonus weight for --model (0: off)."),
    plan: float = typer.Option(PLAN, "--plan", help="Per-line plan weight for --model (0: off)."),
    candidates: list[int] = typer.Option(
        [CANDIDATES], "--candidates", "-k",
        help="Poems drawn per request for --model, the scorer's best kept (repeatable; default: the engine's).",
    ),
    model_dir: Path | None = typer.Option(None, "--model-dir", help="Directory with gan/ and vae/ (default: settings)."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda"),
) -> None:
    """评估 Score generated poems: form, rhyme, tones, keyword, novelty, diversity, BLEU, 对仗, theme."""
    console = Console()
    start = time.perf_counter()
    try:
        if poems_file is None and not baseline and not model:
            raise InvalidInput(
                "请给出诗的 JSONL 文件，或用 --baseline real|shuffled|random。",
                "Give a JSONL file of poems, or --baseline real|shuffled|random.",
            )
        for name in baseline:
            if name not in BASELINES:
                raise InvalidInput(
                    f"未知基线「{name}」，可选：{'、'.join(BASELINES)}。",
                    f"Unknown baseline {name!r}; choose one of {', '.join(BASELINES)}.",
                )
        for k in candidates:  # its declared bounds, as every front end checks them
            check_fields({"candidates": k}, flag)
        sources: dict[str, list[GeneratedPoem]] = {}
        if poems_file is not None:
            sources[poems_file.name] = read_jsonl(poems_file)
        with console.status("loading reference data…"):
            settings = get_settings()
            ref = load_reference(corpus_dir or settings.corpus_dir, scheme=scheme, seed=seed,
                                 cache_dir=None if no_cache else settings.cache_dir)
        ref_seconds = time.perf_counter() - start
        for name in baseline:
            sources[name] = baseline_poems(name, ref, n, seed)
        for spec in model:
            for temp in temperature:
                for k in candidates:
                    with console.status(f"writing {n:,} poems with {spec} at temperature {temp}, best of {k}…"):
                        label = spec.split("=")[0]
                        label += f"@{temp:g}" if len(temperature) > 1 else ""
                        label += f" k={k}" if len(candidates) > 1 else ""
                        sources[label] = model_poems(spec, ref, n, seed, temp, model_dir, device,
                                                     dict(top_p=top_p, min_p=min_p, theme=theme, parallel=parallel, words=words, plan=plan,
                                                          candidates=k))
        results = {}
        for name, poems in sources.items():
            with console.status(f"scoring {name} ({len(poems):,} poems)…"):
                t0 = time.perf_counter()
                results[name] = evaluate_poems(poems, ref, seed=seed)
                results[name]["seconds"] = round(time.perf_counter() - t0, 2)
    except YinshiError as e:
        _fail(str(e))
    console.print(results_table(results))
    if per_form:
        for name, result in results.items():
            table = per_form_table(name, result)
            if table is not None:
                console.print(table)
    console.print(corpus_table(ref))
    total = time.perf_counter() - start
    timings = ", ".join(f"{k} {r['seconds']:.1f} s" for k, r in results.items())
    console.print(f"reference data {ref_seconds:.1f} s; scoring: {timings}; total {total:.1f} s")
    if json_path is not None:
        blob = {"scheme": scheme, "seed": seed, "reference": ref.corpus, "results": results}
        try:
            json_path.write_text(json.dumps(blob, ensure_ascii=False, indent=2), encoding="utf-8")
        except OSError as e:
            _fail(f"无法写入 {json_path}：{e} / Cannot write {json_path}: {e}")


def model_poems(spec: str, ref: ReferenceData, n: int, seed: int, temperature: float, model_dir: Path | None,
                device: str, sampling: dict | None = None) -> list:
    """Poems drawn from a model for the (keyword, form) pairs of the real baseline: the same forms
    and themes real poems have."""
    from app.poets import load_checked, load_poet
    from engine.decoding.poet import Poet
    from engine.device import resolve_device
    from engine.request import PoemRequest

    settings = get_settings()
    if "=" in spec:
        _, path = spec.split("=", 1)
        dev = resolve_device(device)
        m = load_checked(Path(path), dev, quantize=settings.quantize)  # a damaged or unsafe model.pt is refused
        poet = Poet({m.kind: m}, dev)
        kind = m.kind
    else:
        poet = load_poet(settings, model_dir=model_dir, device=device, names=(spec,))
        kind = spec
    pairs = [(p.keyword, p.form) for p in baseline_poems("real", ref, n, seed)]
    if not pairs:
        raise InvalidInput("参考集中没有可用的诗", "The reference data has no poems to take keywords from.")
    reqs = [PoemRequest(keyword=k or "春", form=f or "wujue", model=kind, temperature=temperature,
                        seed=seed + i, **(sampling or {}))
            for i, (k, f) in ((i, pairs[i % len(pairs)]) for i in range(n))]
    out = []
    for i in range(0, len(reqs), 256):
        out += [r for r in poet.generate_batch(reqs[i : i + 256]) if not isinstance(r, YinshiError)]
    return out


def _fail(message: str) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code=2)
