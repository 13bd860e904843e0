"""`yinshi poem KEYWORD`: write poems with the shipped (or any) models."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import typer

from app.commands.options import flag, sampling_options
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
    seed: int = typer.Option(None, help="makes output reproducible: the k-th poem (over keywords and --n) gets SEED + k"),
    n: int = typer.Option(1, "--n", help="poems per keyword"),
    as_json: bool = typer.Option(False, "--json", help="one JSON object per poem"),
    script: str = typer.Option("simplified", "--script", help="simplified | traditional (繁體, phrase-aware OpenCC)"),
    image: Path = typer.Option(None, "--image", help="write the poem's card (PNG) here; several poems: PATH-1.png, PATH-2.png …"),
    model_dir: Path = typer.Option(None, help="directory with gan/ and vae/ checkpoints"),
    device: str = typer.Option(None, help="auto | cpu | cuda (default: settings.device)"),
    *,
    sampling: dict,  # --temperature, --top-k, --top-p, --min-p, --theme, --parallel (app/commands/options.py)
) -> None:
    """Write a poem on KEYWORD that scans, rhymes and is not copied from the corpus."""
    from app.poets import load_poet
    from app.settings import get_settings
    from engine.prosody.check import check_poem
    from engine.serving.schema import check_fields

    settings = get_settings()
    scheme = scheme or settings.default_scheme
    try:
        script = check_fields({"script": script}, flag)["script"]
    except YinshiError as e:
        _fail(e.zh, e.en)
    if n < 1 or n > 10_000:
        _fail("--n 须在 1 到 10000 之间", "--n must be between 1 and 10000")
    keywords = [k.strip() for k in sys.stdin if k.strip()] if keyword == "-" else [keyword]
    try:
        poet = load_poet(settings, model_dir=model_dir, device=device)
    except YinshiError as e:  # a checkpoint refused (damaged, unsafe, NaN weights ...)
        _fail(e.zh, e.en)
    except (FileNotFoundError, ValueError) as e:
        _fail("找不到可用的模型，请先训练（yinshi train gan）", f"No usable model: {e}")
    base_seed = seed if seed is not None else random.randrange(2**31)
    requests = [  # one seed per poem: keyword i's j-th poem takes base_seed + i * n + j
        PoemRequest(keyword=k, form=form, model=model or settings.default_model, acrostic=acrostic, scheme=scheme,
                    strict=not lenient, seed=base_seed + i * n + j, script=script, **sampling)
        for i, k in enumerate(keywords) for j in range(n)
    ]
    failed = 0
    for start in range(0, len(requests), 256):
        batch = requests[start : start + 256]
        for k, (req, res) in enumerate(zip(batch, poet.generate_batch(batch), strict=True), start=start + 1):
            if isinstance(res, YinshiError):
                failed += 1
                if as_json:
                    print(json.dumps({"keyword": req.keyword, "error": {"zh": res.zh, "en": res.en}}, ensure_ascii=False))
                else:
                    print(f"{req.keyword}: {res}", file=sys.stderr)
                continue
            card = _write_card(res, image, k if len(requests) > 1 else None) if image else None
            check = check_poem(res.simplified_text, scheme=scheme, usage=poet.rhyme_usage).to_dict()
            _print(res, check, as_json, card)
    if failed == len(requests):
        raise typer.Exit(2)


def _write_card(res: PoemResult, image: Path, number: int | None) -> Path:
    """The poem's card written to `image`; poem `number` of several to IMAGE-<number>.png."""
    from engine.cards.poem import poem_card

    path = image.with_name(f"{image.stem}-{number}{image.suffix or '.png'}") if number is not None else image
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(poem_card(res))
    except OSError as e:
        _fail(f"无法写入诗卡 {path}：{e.strerror}", f"Cannot write the card {path}: {e.strerror}")
    return path


def _print(res: PoemResult, check: dict, as_json: bool, card: Path | None = None) -> None:
    if as_json:
        print(json.dumps({"text": res.text, "form": res.form, "model": res.model, "model_version": res.model_version,
                          "keyword": res.keyword, "requested_keyword": res.requested_keyword, "note": res.note,
                          "acrostic": res.acrostic, "seed": res.seed, "check": check,
                          **({"script": res.script} if res.script != "simplified" else {}),
                          **({"image": str(card)} if card else {})}, ensure_ascii=False))
        return
    if res.note:
        print(res.note, file=sys.stderr)
    print(res.text)
    verdict = "合律" if check["ok"] else "不合律"
    print(f"—— {res.model} {res.model_version} · seed {res.seed} · {verdict}\n")
    if card:
        print(f"诗卡 card: {card}", file=sys.stderr)


def _fail(zh: str, en: str) -> None:
    print(f"{zh} / {en}", file=sys.stderr)
    raise typer.Exit(2)
