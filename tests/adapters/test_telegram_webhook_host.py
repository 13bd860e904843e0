"""Telegram webhook mode listens where settings.telegram_webhook_host says, not on every interface."""

from __future__ import annotations

import asyncio
import contextlib
import socket

import pytest

from adapters.telegram_adapter import run_telegram
from app.settings import Settings
from bot.service import BotService
from storage.db import make_engine
from tests.fakes.telegram_server import FakeTelegram

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def can_connect(host: str, port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection(host, port)
    except OSError:
        return False
    writer.close()
    return True


async def test_the_webhook_server_listens_on_the_configured_host_only(tiny_engine, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with FakeTelegram() as fake:
        settings = Settings(
            _env_file=None,
            telegram_bot_token=fake.token,
            telegram_api_base_url=fake.base_url,
            telegram_webhook_url=f"https://bot.example/tg-hook-{port}",
            telegram_webhook_host="127.0.0.2",  # a loopback address other than 127.0.0.1
            telegram_webhook_port=port,
            user_id_salt="a-private-salt-for-this-test",
            database_url=f"sqlite:///{tmp_path / 'yinshi.db'}",
        )
        db = make_engine(settings.resolved_database_url)
        stop = asyncio.Event()
        task = asyncio.create_task(run_telegram(BotService(tiny_engine, db, settings), settings, stop))
        try:
            try:
                await fake.wait_for("setWebhook")
            except TimeoutError:
                if task.done():
                    task.result()  # surface the start-up error
                raise
            for _ in range(100):  # setWebhook may come just before the server listens
                if await can_connect("127.0.0.2", port):
                    break
                await asyncio.sleep(0.05)
            assert await can_connect("127.0.0.2", port)
            assert not await can_connect("127.0.0.1", port)  # 0.0.0.0 would answer here too
        finally:
            stop.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 10)
            db.dispose()
