"""app/logs.py: no token, configured secret or raw user identity reaches the log, at any level, from
our code or the libraries'. End to end: the real python-telegram-bot adapter against the fake Bot
API at DEBUG."""

from __future__ import annotations

import asyncio
import io
import logging

import pytest
import pytest_asyncio

from adapters.telegram_adapter import run_telegram, webhook_secret
from app.logs import MASK, Redactor, setup_logging
from app.settings import Settings
from bot.service import BotService
from storage.db import make_engine
from tests.fakes.telegram_server import FakeTelegram

USER = 731_954_288
FIRST_NAME = "Ada Lovelace"
DISCORD_TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4OTA.GhIjKl.abcdefghijklmnopqrstuvwxyz0123456789AB"


def test_tokens_secrets_ids_and_names_are_redacted_in_the_shapes_libraries_log_them():
    redactor = Redactor(["my-salt-value", "pg-password-1"])
    lines = {
        'HTTP Request: POST http://127.0.0.1:9/bot123456789:AAFakeTokenForYinshiTests_0123456789/getMe "200 OK"':
            "123456789:AAFake",
        f"Authorization: Bot {DISCORD_TOKEN}": DISCORD_TOKEN,
        f"token {DISCORD_TOKEN} in text": DISCORD_TOKEN,
        "{'Authorization': 'Bearer s3cret.api.token'}": "s3cret",
        "POST https://discord.com/api/v10/interactions/1234567890123/aW50ZXJhY3Rpb246MTIzNDU2Nzg5/callback":
            "aW50ZXJhY3Rpb24",
        "PATCH https://discord.com/api/v10/webhooks/42/aW50ZXJhY3Rpb246MTIzNDU2Nzg5/messages/@original":
            "aW50ZXJhY3Rpb24",
        "{'type': 2, 'token': 'aW50ZXJhY3Rpb246MTIzNDU2Nzg5'}": "aW50ZXJhY3Rpb24",
        '{"from": {"id": 731954288, "first_name": "Ada Lovelace", "username": "ada"}}': "731954288",
        "User(first_name='Ada Lovelace', id=731954288, is_bot=False)": "Ada",
        "{'chat_id': 731954288, 'text': '春'}": "731954288",
        "{'author': {'id': '402181234567890123', 'global_name': 'Ada'}}": "402181234567890123",
        "salt my-salt-value and postgresql://u:pg-password-1@db/x": "my-salt-value",
    }
    for line, secret in lines.items():
        redacted = redactor.redact(line)
        assert secret not in redacted and MASK in redacted, redacted
    assert "pg-password-1" not in redactor.redact("postgresql://u:pg-password-1@db/x")
    assert redactor.redact("serving models {'gan': 'gan-2026.11.23'} on port 8080") == (
        "serving models {'gan': 'gan-2026.11.23'} on port 8080"
    )


def test_arguments_and_tracebacks_are_redacted_too(restore_logging):
    stream = io.StringIO()
    setup_logging(Settings(_env_file=None, discord_bot_token=DISCORD_TOKEN), stream=stream)
    log = logging.getLogger("discord.http")
    log.info("sending %s to user id=%d", DISCORD_TOKEN, USER)
    try:
        raise RuntimeError(f"401 for token {DISCORD_TOKEN}")
    except RuntimeError:
        log.exception("request failed")
    text = stream.getvalue()
    assert DISCORD_TOKEN not in text and str(USER) not in text
    assert "request failed" in text and "RuntimeError" in text and text.count(MASK) >= 3


def test_httpx_request_lines_are_lowered_to_warning(restore_logging):
    setup_logging(Settings(_env_file=None), verbose=True, stream=io.StringIO())
    assert logging.getLogger("httpx").getEffectiveLevel() == logging.WARNING
    assert logging.getLogger("telegram").getEffectiveLevel() == logging.DEBUG


@pytest_asyncio.fixture(loop_scope="session")
async def fake():
    async with FakeTelegram() as server:
        yield server


@pytest.mark.asyncio(loop_scope="session")
async def test_the_telegram_bot_at_debug_logs_no_token_user_id_or_name(fake, tiny_engine, tmp_path, restore_logging):
    settings = Settings(
        _env_file=None,
        telegram_bot_token=fake.token,
        telegram_api_base_url=fake.base_url,
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'yinshi.db'}",
        user_id_salt="a-private-salt-for-this-test",
        cards=False,  # the poem as a text message
    )
    stream = io.StringIO()
    setup_logging(settings, verbose=True, stream=stream)
    logging.getLogger("httpx").setLevel(logging.DEBUG)  # an operator turning it back up: still redacted
    db = make_engine(settings.resolved_database_url)
    stop = asyncio.Event()
    task = asyncio.create_task(run_telegram(BotService(tiny_engine, db, settings), settings, stop))
    try:
        await fake.wait_for("deleteWebhook")
        mark = len(fake.calls)
        fake.user_says(USER, "/poem 春", first_name=FIRST_NAME)
        poem = await fake.reply_to(USER, after=mark)
        data = poem["reply_markup"]["inline_keyboard"][0][3]["callback_data"]
        mark = len(fake.calls)
        fake.tap(USER, poem, data)
        await fake.wait_for("editMessageReplyMarkup", after=mark)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        db.dispose()
    text = stream.getvalue()
    secret = fake.token.split(":", 1)[1]
    assert len(text.splitlines()) > 20 and "getUpdates" in text  # it did log, at DEBUG
    assert "HTTP Request" in text  # httpx's lines are there, redacted
    for leak in (secret, fake.token, webhook_secret(fake.token), str(USER), FIRST_NAME, "Lovelace", settings.user_id_salt):
        assert leak not in text, leak
