"""`yinshi check "<poem>"`: annotate a poem's 平仄 and rhyme and say whether it is regular."""

from __future__ import annotations

import json
import sys
from typing import NoReturn

import typer

from engine.errors import YinshiError
from engine.prosody.check import check_poem
from engine.prosody.usage import RhymeUsage


def check_command(
    poem: str = typer.Argument(
        ..., help="The poem, lines separated by punctuation, spaces or newlines; '-' reads stdin."
    ),
    scheme: str = typer.Option(
        "pingshui", "--scheme", "-s", help="Rhyme scheme: pingshui (平水韵) | xinyun (中华新韵)."
    ),
    form: str | None = typer.Option(
        None, "--form", "-f", help="Expected form (五绝 七绝 五律 七律); default: by shape."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of the annotation."),
) -> None:
    """检查格律 Check a poem's tones (平仄) and rhyme against the regulated-verse templates."""
    text = sys.stdin.read() if poem == "-" else poem
    try:
        report = check_poem(text, scheme=scheme, form=form, usage=_rhyme_usage() if scheme == "pingshui" else None)
    except YinshiError as e:
        _fail(str(e))
    if as_json:
        typer.echo(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        typer.echo(report.render())


def _rhyme_usage() -> RhymeUsage | None:
    """How poets rhyme each character, from a shipped checkpoint (rare readings are then named);
    None without one."""
    from app.settings import get_settings
    from engine.models import checkpoint

    settings = get_settings()
    for name in dict.fromkeys((settings.default_model, "gan", "vae")):
        if (settings.model_dir / name / "model.pt").exists():
            counts = checkpoint.load_blob(settings.model_dir / name).get("rhyme_usage")
            return RhymeUsage(counts) if counts else None
    return None


def _fail(message: str) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code=2)
