"""The README's sample poems: the first poems each shipped model writes for a fixed list of prompts.

    .venv/bin/python scripts/readme_poems.py [--n 10] [--out docs/sample-poems.md]

Poem i (from 0) is on KEYWORDS[i] in form FORMS[i % 4] with seed i + 1, at the default decoding
(what `/poem` gives, reranking included): nothing is chosen by hand, and the same models print the
same poems. Each row is what `yinshi poem KEYWORD --model MODEL --form FORM --seed SEED` prints.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.poets import load_poet  # noqa: E402
from app.settings import get_settings  # noqa: E402
from engine.decoding.names import MODEL_NAMES  # noqa: E402
from engine.errors import YinshiError  # noqa: E402
from engine.prosody.forms import FORMS  # noqa: E402
from engine.request import PoemRequest  # noqa: E402

# themes a user of the bot would type, in a fixed order (seasons, nature, places, feelings)
KEYWORDS = ("春", "秋月", "山居", "江", "雪", "故乡", "夜雨", "边塞", "梅", "离别", "长城", "酒", "渔舟", "柳", "登高", "思归")
ORDER = tuple(FORMS)  # wujue, qijue, wulv, qilv


def main(n: int = typer.Option(10, help="poems per model (at most len(KEYWORDS))"),
         out: Path = typer.Option(None, help="write the Markdown here (default: stdout)")) -> None:
    if not 1 <= n <= len(KEYWORDS):
        raise typer.BadParameter(f"--n must be in [1, {len(KEYWORDS)}]")
    poet = load_poet(get_settings(), names=MODEL_NAMES)
    text = []
    for model in MODEL_NAMES:
        m = poet.models[model]
        reqs = [PoemRequest(keyword=KEYWORDS[i], form=ORDER[i % len(ORDER)], model=model, seed=i + 1) for i in range(n)]
        text += [f"**{model}** ({m.version}; each row: `yinshi poem KEYWORD --model {model} --form FORM --seed SEED`)", "",
                 "| seed | form | keyword | poem |", "| ---: | --- | --- | --- |"]
        for i, (req, res) in enumerate(zip(reqs, poet.generate_batch(reqs), strict=True)):
            if isinstance(res, YinshiError):
                raise typer.BadParameter(f"{model} could not write poem {i} on {req.keyword!r}: {res}")
            text.append(f"| {req.seed} | {FORMS[req.form].chinese} | {req.keyword} | {''.join(res.lines)} |")
        text.append("")
    md = "\n".join(text)
    if out:
        out.write_text(md, encoding="utf-8")
    else:
        typer.echo(md)


if __name__ == "__main__":
    typer.run(main)
