"""A blind reading: real held-out poems and the shipped models' poems, shuffled, for a reader to score.

    .venv/bin/python scripts/blind_reading.py make --sheet sheet.md --key key.json [--per-form 5]
        [--source gan --source gan-nowords=gan,words=0 ...]
    (the reader fills scores.json: [{"id": 1, "parse": 1-5, "through": 1-5, "guess": "real" | "machine"}, ...])
    .venv/bin/python scripts/blind_reading.py score --key key.json --scores scores.json

`make` takes `--per-form` real valid-split poems per form (never trained on), and as many poems per
model and form drawn at the default decoding (what `/poem` gives) on the keywords and forms of other
valid-split poems, one fixed seed per poem; it shuffles them all into a numbered sheet that shows
only each poem's theme keyword and its lines. `--source LABEL=MODEL,FIELD=VALUE,...` (repeatable;
default: each shipped model at the default decoding) reads poems of MODEL with those request fields
changed, to compare decodings within one reading. The key (source, keyword, form, seed of every number)
goes to a separate file the reader must not see. `score` prints each source's mean scores and how
often the reader told machine from real.
"""

from __future__ import annotations

import json
import random
import sys
from collections import defaultdict
from pathlib import Path

import typer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.poets import load_poet  # noqa: E402
from app.settings import get_settings  # noqa: E402
from engine.decoding.names import MODEL_NAMES  # noqa: E402
from engine.errors import YinshiError  # noqa: E402
from engine.evaluation.baselines import baseline_poems  # noqa: E402
from engine.evaluation.evaluate import load_reference  # noqa: E402
from engine.prosody.forms import FORMS  # noqa: E402
from engine.request import PoemRequest  # noqa: E402
from engine.serving.schema import check_fields  # noqa: E402

app = typer.Typer(add_completion=False)
FIRST_SEED = 20261201  # poem i of the sheet's models is drawn with seed FIRST_SEED + i


def parse_source(text: str) -> tuple[str, str, dict]:
    """"LABEL=MODEL,FIELD=VALUE,..." (or just "MODEL") -> (label, model, request fields), checked
    against PoemRequest's declared bounds."""
    label, _, rest = text.partition("=")
    model, *pairs = (rest or label).split(",")
    fields = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        try:
            fields[name] = json.loads(value)  # 0, 1.5, true
        except json.JSONDecodeError:
            fields[name] = value  # a word: xinyun
    try:
        return label, model, check_fields(fields, lambda name: name)
    except YinshiError as e:
        raise typer.BadParameter(str(e)) from None


@app.command()
def make(
    sheet: Path = typer.Option(..., help="the reader's sheet (Markdown)"),
    key: Path = typer.Option(..., help="the key, kept from the reader (JSON)"),
    per_form: int = typer.Option(5, help="poems per source and form"),
    seed: int = typer.Option(0, help="which real poems and keywords, and the shuffle"),
    source: list[str] = typer.Option([], help="LABEL=MODEL,FIELD=VALUE,... (repeatable; default: the shipped models)"),
) -> None:
    settings = get_settings()
    ref = load_reference(settings.corpus_dir, seed=seed, cache_dir=settings.cache_dir)
    real = baseline_poems("real", ref, 4000, seed)
    by_form = defaultdict(list)
    for p in real:
        if p.keyword:
            by_form[p.form].append(p)
    sources = [parse_source(s) for s in source] or [(m, m, {}) for m in MODEL_NAMES]
    poet = load_poet(settings, names=tuple(dict.fromkeys(m for _, m, _ in sources)))
    entries, n_model = [], 0
    for form in FORMS:
        pool = by_form[form]
        if len(pool) < per_form * (1 + len(sources)):
            raise typer.BadParameter(f"only {len(pool)} valid-split {form} poems with a keyword")
        for p in pool[:per_form]:
            entries.append({"source": "real", "form": form, "keyword": p.keyword, "lines": p.text.split("\n")})
        for j, (label, model, fields) in enumerate(sources):
            prompts = pool[per_form * (1 + j) : per_form * (2 + j)]
            reqs = [PoemRequest(keyword=p.keyword, form=form, model=model, seed=FIRST_SEED + n_model + i, **fields)
                    for i, p in enumerate(prompts)]
            n_model += len(reqs)
            for req, out in zip(reqs, poet.generate_batch(reqs), strict=True):
                if isinstance(out, YinshiError):
                    raise typer.BadParameter(f"{model} could not write on {req.keyword!r}: {out}")
                entries.append({"source": label, "form": form, "keyword": out.keyword, "seed": req.seed,
                                "version": out.model_version,
                                "lines": [ln.rstrip("，。") for ln in out.simplified_text.split("\n")]})
    random.Random(seed).shuffle(entries)
    text = ["# 盲读 Blind reading", "",
            "每首诗请打两个分（1–5）：parse（每句能否读通）、through（全诗是否有一条贯穿的意脉），"
            "并猜测 real（古人真作）或 machine（机器所作）。",
            "Score each poem 1–5 for *parse* (do its lines read as grammatical classical Chinese?) and "
            "*through* (does the poem have a through-line?), and guess real or machine.", ""]
    for i, e in enumerate(entries, 1):
        e["id"] = i
        text += [f"## {i}　（题：{e['keyword']}）", "", *(f"{ln}" + ("，" if k % 2 == 0 else "。") + "  "
                                                        for k, ln in enumerate(e["lines"])), ""]
    sheet.write_text("\n".join(text), encoding="utf-8")
    key.write_text(json.dumps(entries, ensure_ascii=False, indent=1), encoding="utf-8")
    typer.echo(f"{len(entries)} poems -> {sheet}; key -> {key}")


@app.command()
def score(key: Path = typer.Option(...), scores: Path = typer.Option(...)) -> None:
    truth = {e["id"]: e for e in json.loads(key.read_text(encoding="utf-8"))}
    rows = json.loads(scores.read_text(encoding="utf-8"))
    per = defaultdict(lambda: defaultdict(list))
    for r in rows:
        e = truth[int(r["id"])]
        for name in ("parse", "through"):
            per[e["source"]][name].append(float(r[name]))
        if "guess" in r:
            per[e["source"]]["told_apart"].append(float((r["guess"] == "real") == (e["source"] == "real")))
    report = {src: {k: round(sum(v) / len(v), 2) for k, v in d.items()} | {"n": len(d["parse"])}
              for src, d in sorted(per.items())}
    typer.echo(json.dumps(report, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    app()
