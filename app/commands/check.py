"""`yinshi check "<poem>"`: annotate a poem's 平仄 and rhyme and say whether it is regular."""

from __future__ import annotations

import json
import sys
from typing import NoReturn

import typer

from engine.errors import YinshiError
from engine.prosody.check import check_poem


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
        report = check_poem(text, scheme=scheme, form=form)
    except YinshiError as e:
        _fail(str(e))
    if as_json:
        typer.echo(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        typer.echo(report.render())


def _fail(message: str) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code=2)
