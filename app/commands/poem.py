"""`yinshi poem KEYWORD`: write poems with the shipped (or any) models."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import typer

from app.commands.options import sampling_options
from engine.errors import YinshiError
from engine.request import PoemRequest, PoemResult


@sampling_options
def poem_command(
    keyword: str = typer.Argument(..., help="theme keyword (1–4 characters), acrostic heads, or - to read keywords from stdin"),
    form: str = typer.Option("wujue", "--form", "-f", help="wujue | qijue | wulv | qilv (or 五绝 七绝 五律 七律)"),
    model: str = typer.Option(None, "--model", "-m", help="gan | vae (default: settings.default_model)"),
    acrostic: bool = typer.Option(False, "--acrostic", help="藏头: the keyword's characters open the lines"),
    scheme: str = typer.Option(None, help="pingshui (平水韵) | xinyun (中华新韵) (default: settings.default_scheme)"),
    lenient: bool = typer.Option(False, "--lenient", help="tonal template as a penalty instead of a hard mask"),
    seed: int = typer.Option(None, help="makes output reproducible"),
    n: int = typer.Option(1, "--n", help="poems per keyword"),
    as_json: bool = typer.Option(False, "--json", help="one JSON object per poem"),
    model_dir: Path = typer.Option(None, help="directory with gan/ and vae/ checkpoints"),
    device: str = typer.Option(None, help="auto | cpu | cuda (default: settings.device)"),
    *,
    sampling: dict,  # --temperature, --top-k, --top-p, --min-p, --theme, --parallel (app/commands/options.py)
) -> None:
    """Write a poem on KEYWORD that scans, rhymes and is not copied from the corpus."""
    from app.poets import load_poet
    from app.settings import get_settings
    from engine.prosody.check import check_poem

    settings = get_settings()
    scheme = scheme or settings.default_scheme
    if n < 1 or n > 10_000:
        _fail("--n 须在 1 到 10000 之间", "--n must be between 1 and 10000")
    keywords = [k.strip() for k in sys.stdin if k.strip()] if keyword == "-" else [keyword]
    try:
        poet = load_poet(settings, model_dir=model_dir, device=device)
    except (FileNotFoundError, ValueError) as e:
        _fail("找不到可用的模型，请先训练（yinshi train gan）", f"No usable model: {e}")
    base_seed = seed if seed is not None else random.randrange(2**31)
    requests = [
        PoemRequest(keyword=k, form=form, model=model or settings.default_model, acrostic=acrostic, scheme=scheme,
                    strict=not lenient, seed=base_seed + j, **sampling)
        for k in keywords for j in range(n)
    ]
    failed = 0
    for start in range(0, len(requests), 256):
        for req, res in zip(requests[start : start + 256], poet.generate_batch(requests[start : start + 256]), strict=True):
            if isinstance(res, YinshiError):
                failed += 1
                if as_json:
                    print(json.dumps({"keyword": req.keyword, "error": {"zh": res.zh, "en": res.en}}, ensure_ascii=False))
                else:
                    print(f"{req.keyword}: {res}", file=sys.stderr)
                continue
            _print(res, check_poem("".join(res.lines), scheme=scheme).to_dict(), as_json)
    if failed == len(requests):
        raise typer.Exit(2)


def _print(res: PoemResult, check: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"text": res.text, "form": res.form, "model": res.model, "model_version": res.model_version,
                          "keyword": res.keyword, "requested_keyword": res.requested_keyword, "note": res.note,
                          "acrostic": res.acrostic, "seed": res.seed, "check": check}, ensure_ascii=False))
        return
    if res.note:
        print(res.note, file=sys.stderr)
    print(res.text)
    verdict = "合律" if check["ok"] else "不合律"
    print(f"—— {res.model} {res.model_version} · seed {res.seed} · {verdict}\n")


def _fail(zh: str, en: str) -> None:
    print(f"{zh} / {en}", file=sys.stderr)
    raise typer.Exit(2)
