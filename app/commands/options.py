"""Command-line options derived from PoemRequest's declared fields (engine/request.py).

`@sampling_options` gives a command one option per sampling field (engine.request.SAMPLING), with
the type, default and help declared there; the command receives them checked against the declared
bounds, as one `sampling` dict to pass to PoemRequest. A new sampling field needs no edit here.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import sys
import typing
from collections.abc import Callable

import typer
from annotated_types import DocInfo

from engine.request import SAMPLING, PoemRequest


def _option(name: str) -> inspect.Parameter:
    annotation, *meta = typing.get_args(typing.get_type_hints(PoemRequest, include_extras=True)[name])
    default = next(f.default for f in dataclasses.fields(PoemRequest) if f.name == name)
    help_text = next((m.documentation for m in meta if isinstance(m, DocInfo)), None)
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=typer.Option(default, help=help_text), annotation=annotation
    )


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def sampling_options(command: Callable) -> Callable:
    """Replace `command`'s `sampling` parameter by one option per sampling field (see the module)."""
    signature = inspect.signature(command)
    params = [p for p in signature.parameters.values() if p.name != "sampling"]

    @functools.wraps(command)
    def run(*args, **kwargs):
        from engine.errors import YinshiError
        from engine.serving.schema import check_fields

        try:
            sampling = check_fields({name: kwargs.pop(name) for name in SAMPLING}, flag)
        except YinshiError as e:
            print(e, file=sys.stderr)
            raise typer.Exit(2) from None
        return command(*args, sampling=sampling, **kwargs)

    run.__signature__ = signature.replace(parameters=[*params, *map(_option, SAMPLING)])  # type: ignore[attr-defined]
    return run
