"""The real discord.py bot against the fake Discord at DEBUG, with discord.py's own loggers turned all
the way up: the bot token, the user's raw id and name and the interaction tokens never reach the log
(app/logs.py redacts every record), while the libraries did log what they do."""

from __future__ import annotations

import asyncio
import io
import logging

import pytest

from adapters.discord_adapter import run_discord
from app.logs import setup_logging
from app.settings import Settings
from bot.service import BotService
from storage.db import make_engine
from tests.adapters.test_discord_e2e import fake  # noqa: F401  (the fixture)
from tests.fakes.discord_wire import custom_ids

pytestmark = pytest.mark.asyncio(loop_scope="session")  # the loop tiny_engine's batcher runs on

TOKEN = "NzMxOTU0Mjg4MTIzNDU2Nzg5.Xk3pQw.qRsTuVwXyZ0123456789abcdefGhIjKl"
USER = "731954288123456789"  # a snowflake, as Discord sends it
NAME = "AdaLovelace"


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in ("discord", "httpx", "httpcore", "aiohttp")}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, lvl in levels.items():
        logging.getLogger(name).setLevel(lvl)


async def test_the_discord_bot_at_debug_logs_no_token_user_id_or_name(fake, tiny_engine, tmp_path,  # noqa: F811
                                                                      restore_logging):
    settings = Settings(
        _env_file=None,
        discord_bot_token=TOKEN,
        discord_api_base_url=fake.api_base,
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'yinshi.db'}",
        user_id_salt="a-private-salt-for-this-test",
        cards=False,
    )
    stream = io.StringIO()
    setup_logging(settings, verbose=True, stream=stream)
    logging.getLogger("discord").setLevel(logging.DEBUG)  # an operator turning it up: still redacted
    db = make_engine(settings.resolved_database_url)
    stop = asyncio.Event()
    before = len(fake.identified)
    bot = asyncio.create_task(run_discord(BotService(tiny_engine, db, settings), settings, stop,
                                          guild_ready_timeout=0.1))
    interactions = []
    try:
        await fake.wait_until(lambda: len(fake.identified) > before)
        poem = fake.slash("poem", {"keyword": "春"}, user_id=USER, user_name=NAME)
        interactions.append(poem)
        await fake.dispatch_interaction(poem)
        await fake.answer_to(poem["token"])
        [message] = fake.visible_messages(poem["token"])
        start = len(fake.requests)
        star = fake.button(message, custom_ids(message)[3], user_id=USER, user_name=NAME)
        interactions.append(star)
        await fake.dispatch_interaction(star)
        await fake.wait_for("POST", rf"/interactions/{star['id']}/.+/callback", after=start)
        forget = fake.slash("forget", user_id=USER, user_name=NAME)
        interactions.append(forget)
        await fake.dispatch_interaction(forget)
        await fake.answer_to(forget["token"])
    finally:
        stop.set()
        await asyncio.wait_for(bot, 10)
        db.dispose()
    text = stream.getvalue()
    assert len(text.splitlines()) > 20 and "discord." in text, text[:2000]  # it did log, at DEBUG
    assert "INTERACTION_CREATE" in text  # the gateway's events are there, redacted
    leaks = [TOKEN, *TOKEN.split("."), USER, NAME, settings.user_id_salt, *(i["token"] for i in interactions)]
    for leak in leaks:
        assert leak not in text, (leak, [ln for ln in text.splitlines() if leak in ln][:3])
