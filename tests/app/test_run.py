"""`yinshi run` picks the adapters from the configured tokens."""

from __future__ import annotations

import asyncio

from app.run import adapter_runs
from app.settings import Settings


def _names(settings: Settings, console: bool = False) -> list[str]:
    runs = adapter_runs(object(), settings, asyncio.Event(), console=console)  # type: ignore[arg-type]
    names = [run.cr_code.co_name for run in runs]
    for run in runs:
        run.close()  # never started
    return names


def test_console_when_no_token_is_set():
    assert _names(Settings(telegram_bot_token=None, discord_bot_token=None)) == ["_console"]


def test_every_platform_with_a_token_and_console_on_request():
    both = Settings(telegram_bot_token="123:abc", discord_bot_token="xyz")
    assert _names(both) == ["run_telegram", "run_discord"]
    assert _names(both, console=True) == ["run_telegram", "run_discord", "_console"]
    assert _names(Settings(telegram_bot_token=None, discord_bot_token="xyz")) == ["run_discord"]
