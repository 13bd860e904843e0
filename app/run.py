"""The bot process: load the models, open the database and serve every configured platform.

Telegram runs when TELEGRAM_BOT_TOKEN is set, Discord when DISCORD_BOT_TOKEN is set; with neither
(or with --console) the console REPL runs. SIGINT/SIGTERM set a shared stop event and every adapter
shuts down; if one adapter fails the others are cancelled. The learning loop (app/learning_loop.py)
runs beside them: new champions swapped in, challengers on trial, fine-tuning on schedule. `yinshi run` (app/commands/run.py) starts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Coroutine
from pathlib import Path

from app.learning_loop import serving_engine
from app.poets import open_engine
from app.settings import Settings
from bot.service import BotService
from storage.db import make_engine

log = logging.getLogger(__name__)


def adapter_runs(
    service: BotService, settings: Settings, stop: asyncio.Event, *, console: bool
) -> list[Coroutine]:
    """One coroutine per platform to serve. Platform libraries are imported only when their token is set."""
    runs: list[Coroutine] = []
    if settings.telegram_bot_token:
        from adapters.telegram_adapter import run_telegram

        runs.append(run_telegram(service, settings, stop))
    if settings.discord_bot_token:
        from adapters.discord_adapter import run_discord

        runs.append(run_discord(service, settings, stop))
    if console or not runs:
        runs.append(_console(service, stop, settings.data_dir / "cards"))
    return runs


async def _console(service: BotService, stop: asyncio.Event, cards_dir: Path) -> None:
    """The console REPL, writing poem cards to `cards_dir`; when it ends (EOF, /quit) the whole bot stops."""
    from adapters.console_adapter import run_console

    try:
        await run_console(service, stop_event=stop, cards_dir=cards_dir)
    finally:
        stop.set()


async def serve(settings: Settings, *, console: bool = False) -> None:
    db = make_engine(settings.resolved_database_url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not on Windows / not main thread
            loop.add_signal_handler(sig, stop.set)
    try:
        async with contextlib.AsyncExitStack() as stack:
            if settings.engine_url:  # the remote `yinshi serve` runs the learning loop
                engine, learning = await stack.enter_async_context(open_engine(settings)), None
            else:
                engine, learning = await stack.enter_async_context(serving_engine(settings, db))
            service = BotService(engine, db, settings, stats_extra=learning.stats_lines if learning else None)
            log.info("serving with models %s", engine.model_versions)
            async with asyncio.TaskGroup() as tg:
                for run in adapter_runs(service, settings, stop, console=console):
                    tg.create_task(run)
    finally:
        db.dispose()
