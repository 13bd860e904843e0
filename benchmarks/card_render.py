"""Benchmark: poem-card render time per form (engine/cards), PNG bytes included.

Poems are drawn from the shipped model's vocabulary at its characters' frequency rank (Zipf: the
i-th commonest with weight 1/i), so the glyph cache sees what a bot's stream of poems shows it.
The first card of each form (its background drawn; the fonts opened, for the first) is reported
apart as "cold"; p50/p95 are over the next `--cards` cards of the form. One thread. "cpu p50" is
the process's CPU time per card: on a shared machine, wall time also counts waiting for a core.

    python benchmarks/card_render.py                   # 200 cards per form, simplified
    python benchmarks/card_render.py --traditional     # the lines in traditional script (OpenCC s2t)
    python benchmarks/card_render.py --cards 500 --seed 1
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.cards import render_card  # noqa: E402
from engine.corpus.vocab import SPECIALS, Vocab  # noqa: E402
from engine.models.checkpoint import load_blob  # noqa: E402
from engine.text.script import to_traditional  # noqa: E402

FORMS = {"wujue": ("五绝", 4, 5), "qijue": ("七绝", 4, 7), "wulv": ("五律", 8, 5), "qilv": ("七律", 8, 7)}


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation."""
    s = sorted(values)
    k = (len(s) - 1) * q / 100
    lo = int(k)
    return s[lo] + (s[min(lo + 1, len(s) - 1)] - s[lo]) * (k - lo)


def poems(chars: list[str], n_lines: int, line_len: int, rng: random.Random):
    """Endless poems of random characters at Zipf frequencies, punctuated ，。 alternately."""
    weights = [1 / (i + 1) for i in range(len(chars))]
    while True:
        picks = rng.choices(chars, weights, k=n_lines * line_len)
        yield ["".join(picks[i * line_len : (i + 1) * line_len]) + "，。"[i % 2] for i in range(n_lines)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cards", type=int, default=200, help="timed cards per form")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--traditional", action="store_true", help="render the lines in traditional script")
    ap.add_argument("--model-dir", type=Path, default=Path(__file__).resolve().parents[1] / "models" / "gan")
    args = ap.parse_args()

    chars = Vocab.from_json(load_blob(args.model_dir)["vocab"]).itos[len(SPECIALS) :]  # by frequency
    rng = random.Random(args.seed)
    script = to_traditional if args.traditional else str
    print(
        f"{'form':6} {'cold ms':>8} {'p50 ms':>7} {'p95 ms':>7} {'cpu p50':>8} {'PNG KB p50':>10} {'size':>10}"
    )
    for form, (name, n_lines, line_len) in FORMS.items():
        source = poems(chars, n_lines, line_len, rng)
        footer = f"{script(name)} · gan-2026.11.23"
        times, cpu, sizes = [], [], []
        for i in range(args.cards + 1):
            lines = [script(line) for line in next(source)]
            start, cpu_start = time.perf_counter(), time.process_time()
            png = render_card(lines, lines[0][0], footer)
            elapsed = time.perf_counter() - start
            if i == 0:
                cold = elapsed  # layout and background drawn (and, for the first form, the fonts opened)
            else:
                times.append(elapsed)
                cpu.append(time.process_time() - cpu_start)
                sizes.append(len(png))
        w, h = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
        ms = [t * 1000 for t in times]
        print(
            f"{form:6} {cold * 1000:8.1f} {percentile(ms, 50):7.1f} {percentile(ms, 95):7.1f}"
            f" {percentile(cpu, 50) * 1000:8.1f}"
            f" {statistics.median(sizes) / 1000:10.0f} {f'{w}x{h}':>10}"
        )


if __name__ == "__main__":
    main()
