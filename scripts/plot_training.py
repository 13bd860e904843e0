"""Plot validation NLL against wall-clock minutes (and tokens seen) of training runs: docs/training-curves.png.

    .venv/bin/pip install -e ".[docs]"
    .venv/bin/python benchmarks/train_speed.py race --minutes 4 gru/plain/128/2e-3/2 gru/fused/128/2e-3/auto ...
    .venv/bin/python scripts/plot_training.py data/runs/train-speed/*/train_log.jsonl models/gan/meta.json \\
        --out docs/training-curves.png --logx

Each input is a run's train_log.jsonl (`yinshi train` or benchmarks/train_speed.py race) or a
checkpoint's meta.json (its "history"); a line per run from its evaluations (records with
"valid_loss" and "minutes"). The label is the run's "label" (a race's configuration), else the
name of the run's folder. The second panel, against tokens seen, shows what a configuration buys
per token rather than per minute; runs that did not log tokens are left out of it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import font_manager  # noqa: E402

CARD_FONT = Path(__file__).resolve().parents[1] / "engine" / "cards" / "fonts" / "YinshiKai.ttf"


def read_run(path: Path) -> tuple[str, list[dict]]:
    """(label, evaluations in order) of a train_log.jsonl or a meta.json."""
    if path.suffix == ".json":
        meta = json.loads(path.read_text())
        records, label = meta.get("history", []), f"{path.parent.name} ({meta.get('version', 'checkpoint')})"
    else:
        records = [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]
        start = next((r for r in records if r.get("event") == "start" and "label" in r), None)
        label = start["label"] if start else path.parent.name
    evals = [r for r in records if "valid_loss" in r and "minutes" in r]
    return label, evals


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", type=Path, help="train_log.jsonl or meta.json files")
    ap.add_argument("--out", type=Path, default=Path("docs/training-curves.png"))
    ap.add_argument("--logx", action="store_true", help="log-scale minutes (short races next to long runs)")
    ap.add_argument("--title", default="Validation NLL (full softmax, nats/token) against training time")
    a = ap.parse_args()
    runs = [read_run(p) for p in a.runs]
    font_manager.fontManager.addfont(CARD_FONT)  # the shipped card font: Chinese characters in labels
    plt.rcParams["font.family"] = ["DejaVu Sans", font_manager.FontProperties(fname=CARD_FONT).get_name()]
    fig, (by_time, by_tokens) = plt.subplots(1, 2, figsize=(11, 4.2))
    for label, evals in runs:
        if not evals:
            print(f"no evaluations in {label}, skipped")
            continue
        line, = by_time.plot([e["minutes"] for e in evals], [e["valid_loss"] for e in evals],
                             marker="o", ms=3, label=label)
        with_tokens = [e for e in evals if "tokens" in e]
        if with_tokens:
            by_tokens.plot([e["tokens"] / 1e6 for e in with_tokens], [e["valid_loss"] for e in with_tokens],
                           marker="o", ms=3, color=line.get_color(), label=label)
    by_time.set_xlabel("wall-clock minutes of training (own step time in a race)")
    if a.logx:
        by_time.set_xscale("log")
    by_tokens.set_xlabel("million training tokens seen")
    for ax in (by_time, by_tokens):
        ax.set_ylabel("validation NLL (nats/token)")
        ax.grid(alpha=0.3)
    by_time.legend(fontsize=7)
    fig.suptitle(a.title, fontsize=10)
    fig.tight_layout()
    a.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(a.out, dpi=110)
    print(a.out)


if __name__ == "__main__":
    main()
