"""`yinshi data ...`: commands about the poetry corpus."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from app.settings import get_settings
from engine.corpus.loader import CorpusPoem, CorpusReport, load_corpus_with_report, regular_poems
from engine.corpus.vocab import Vocab
from engine.errors import YinshiError
from engine.prosody.forms import FORMS

data_app = typer.Typer(help="语料 The poetry corpus.", no_args_is_help=True)
DYNASTIES = ("tang", "song")
SPLITS = ("train", "valid", "test")


def stats_tables(poems: list[CorpusPoem], report: CorpusReport, vocab_size: int, min_count: int) -> list[Table]:
    """The three tables `data stats` prints: 诗 by form × dynasty, splits, and the summary."""
    shi = Counter((p.form, p.dynasty) for p in poems if p.kind == "shi")
    forms = Table(title="诗 by form × dynasty")
    forms.add_column("form")
    for d in (*DYNASTIES, "total"):
        forms.add_column(d, justify="right")
    for key, label in [*((f.name, f"{f.chinese} {f.name}") for f in FORMS.values()), (None, "other 诗")]:
        row = [shi[(key, d)] for d in DYNASTIES]
        forms.add_row(label, *(f"{n:,}" for n in (*row, sum(row))))

    regular = Counter(p.split for p in regular_poems(poems))
    every = Counter(p.split for p in poems)
    splits = Table(title="splits")
    splits.add_column("split")
    splits.add_column("regular 诗", justify="right")
    splits.add_column("all poems", justify="right")
    for s in SPLITS:
        splits.add_row(s, f"{regular[s]:,}", f"{every[s]:,}")

    summary = Table(title="summary", show_header=False)
    summary.add_column("what")
    summary.add_column("value", justify="right")
    rows = [
        ("词 ci", f"{sum(p.kind == 'ci' for p in poems):,}"),
        ("regular 诗", f"{sum(regular.values()):,}"),
        ("poems kept (total)", f"{len(poems):,}"),
        ("records read", f"{report.records:,} in {report.files} files"),
        ("dropped: damaged", f"{report.damaged:,}"),
        ("dropped: empty", f"{report.empty:,}"),
        ("dropped: malformed", f"{report.malformed:,}"),
        ("duplicates removed", f"{report.duplicates:,}"),
        (f"vocabulary (regular 诗 train, count ≥ {min_count})", f"{vocab_size:,}"),
    ]
    for what, value in rows:
        summary.add_row(what, value)
    return [forms, splits, summary]


@data_app.command("stats")
def stats(
    corpus_dir: Path = typer.Option(None, "--corpus-dir", help="chinese-poetry clone (default: settings)"),
    no_cache: bool = typer.Option(False, "--no-cache", help="re-read the JSON files, ignore the cache"),
) -> None:
    """Counts of the cleaned corpus: forms, dynasties, splits, drops, vocabulary size."""
    console = Console()
    start = time.perf_counter()
    settings = get_settings()
    try:
        poems, report = load_corpus_with_report(
            corpus_dir or settings.corpus_dir, cache_dir=None if no_cache else settings.cache_dir, progress=True
        )
    except YinshiError as e:
        console.print(f"[red]{e.zh}\n{e.en}[/red]")
        raise typer.Exit(1) from None
    loaded = time.perf_counter() - start
    train_texts = (p.text for p in regular_poems(poems, split="train"))
    vocab = Vocab.build(train_texts, settings.min_char_count)
    for table in stats_tables(poems, report, len(vocab), settings.min_char_count):
        console.print(table)
    source = "cache" if report.from_cache else "JSON files"
    console.print(
        f"loaded from {source} in {loaded:.1f} s; total with vocabulary {time.perf_counter() - start:.1f} s"
    )
