"""`yinshi run`: the bot (app/run.py) on Telegram and/or Discord, or the console."""

from __future__ import annotations

import asyncio
import logging

import typer

from app.settings import get_settings


def run_command(
    console: bool = typer.Option(
        False, "--console", help="Also run the console REPL when platform tokens are set."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
) -> None:
    """Serve the bot: Telegram and/or Discord when their tokens are set, else the console."""
    from app.run import serve

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    asyncio.run(serve(get_settings(), console=console))
