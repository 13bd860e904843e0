"""Plot what repeated fine-tuning cycles did on simulated raters: docs/finetune-cycles.png.

    .venv/bin/pip install -e ".[docs]"
    .venv/bin/yinshi finetune simulate --model gan --prefer 月山 --ratings 3000 --cycles 6 --seed 1 --json > s1.json
    .venv/bin/python scripts/plot_finetune.py s1.json s2.json ... --out docs/finetune-cycles.png

Each input is one `finetune simulate --json` output (any model, seed or preferred set); one line
per run: the preferred share and the guard figures (format, rhyme and tone; distinct-2;
real-vs-generated classifier accuracy) of the serving champion after each cycle, cycle 0 being
the shipped model. A refused cycle keeps the champion, so its line stays flat there.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import font_manager  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

CARD_FONT = Path(__file__).resolve().parents[1] / "engine" / "cards" / "fonts" / "YinshiKai.ttf"

PANELS = (
    ("preferred_share", "share of poems with a preferred character"),
    ("prosody", "format · rhyme · tone (min of the three)"),
    ("distinct_2", "distinct-2"),
    ("classifier", "real-vs-generated classifier accuracy"),
)


def series(run: dict, key: str) -> list[float]:
    points = [run["before"], *(r["after"] for r in run["rounds"])]
    if key == "prosody":
        return [min(p["format"], p["rhyme"], p["tone"]) for p in points]
    return [p[key] for p in points]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, default=Path("docs/finetune-cycles.png"))
    a = ap.parse_args()
    runs = [json.loads(p.read_text()) for p in a.runs]
    font_manager.fontManager.addfont(CARD_FONT)  # the shipped card font: Chinese characters in labels
    plt.rcParams["font.family"] = ["DejaVu Sans", font_manager.FontProperties(fname=CARD_FONT).get_name()]
    fig, axes = plt.subplots(1, len(PANELS), figsize=(4.2 * len(PANELS), 3.6))
    for ax, (key, title) in zip(axes, PANELS, strict=True):
        for run in runs:
            ys = series(run, key)
            passed = [True] + [r["passed"] for r in run["rounds"]]
            label = f"{run['model']} seed {run['seed']} ({run['raters']})"
            line, = ax.plot(range(len(ys)), ys, marker="o", ms=3, label=label)
            refused = [(i, y) for i, (y, ok) in enumerate(zip(ys, passed, strict=True)) if not ok]
            if refused:
                ax.scatter(*zip(*refused, strict=True), marker="x", s=40, color=line.get_color())
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("cycle (× means the gate refused; the champion stayed)", fontsize=7)
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].legend(fontsize=7)
    prefer = ", ".join(sorted({r["prefer"] for r in runs}))
    ratings = sorted({r["ratings"] // r["cycles"] for r in runs})
    fig.suptitle(f"Fine-tuning on simulated raters who like poems with any of: {prefer} "
                 f"({'/'.join(map(str, ratings))} ratings per cycle)", fontsize=10)
    fig.tight_layout()
    a.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(a.out, dpi=110)
    print(a.out)


if __name__ == "__main__":
    main()
