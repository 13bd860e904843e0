"""`yinshi run`: the bot (app/run.py) on Telegram and/or Discord, or the console."""

from __future__ import annotations

import asyncio

import typer

from app.settings import get_settings


def run_command(
    console: bool = typer.Option(
        False, "--console", help="Also run the console REPL when platform tokens are set."
    ),
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="Debug logging (tokens and user ids are still redacted)."
    ),
) -> None:
    """Serve the bot: Telegram and/or Discord when their tokens are set, else the console."""
    from app.logs import setup_logging
    from app.run import serve
    from app.startup import run_or_exit

    settings = get_settings()
    setup_logging(settings, verbose=verbose)
    run_or_exit(lambda: asyncio.run(serve(settings, console=console)))
