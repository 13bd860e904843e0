"""A chat platform refuses to start while user ids would be hashed with a salt anyone knows: the
default, .env.example's placeholder, or a short one. The console only warns."""

from __future__ import annotations

import asyncio
import io
import logging

import pytest

from adapters.console_adapter import run_console
from adapters.discord_adapter import run_discord
from adapters.telegram_adapter import run_telegram
from app.settings import Settings
from bot.records import PublicSalt
from bot.replies import Reply
from bot.service import BotService
from storage.db import make_engine
from tests.bot.helpers import ALICE, SALT, UnreachableEngine, assert_bilingual_error

PLATFORMS = {"telegram": run_telegram, "discord": run_discord}
PUBLIC = [Settings(_env_file=None).user_id_salt, "change-me-to-a-long-random-string", "short", ""]


def service_with(salt: str, tmp_path) -> BotService:
    settings = Settings(
        _env_file=None,
        user_id_salt=salt,
        telegram_bot_token="123:not-used",  # refused before any connection is made
        telegram_api_base_url="http://127.0.0.1:9/bot",
        discord_bot_token="not-used",
        discord_api_base_url="http://127.0.0.1:9/api/v10",
        data_dir=tmp_path,
    )
    return BotService(UnreachableEngine(), make_engine(settings.resolved_database_url), settings)


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("salt", PUBLIC)
async def test_a_chat_platform_refuses_a_public_salt_and_says_how_to_set_one(tmp_path, platform, salt):
    service = service_with(salt, tmp_path)
    with pytest.raises(PublicSalt) as refused:
        await asyncio.wait_for(PLATFORMS[platform](service, service.settings, asyncio.Event()), 5)
    err = refused.value
    assert "YINSHI_USER_ID_SALT" in err.zh and "YINSHI_USER_ID_SALT" in err.en
    assert "secrets.token_hex" in err.en and platform in err.en
    assert_bilingual_error(Reply(text=f"{err.zh}\n{err.en}", error=True))
    service.db.dispose()


async def test_the_console_keeps_the_default_salt_with_a_warning(tmp_path, caplog):
    service = service_with(PUBLIC[0], tmp_path)
    out = io.StringIO()
    with caplog.at_level(logging.WARNING):
        await run_console(service, stdin=io.StringIO("/help\n"), stdout=out, user=ALICE)
    assert "/poem" in out.getvalue()
    assert any("YINSHI_USER_ID_SALT" in r.getMessage() for r in caplog.records)
    service.db.dispose()


def test_a_secret_salt_is_accepted(tmp_path):
    service = service_with(SALT, tmp_path)
    for platform in ("telegram", "discord", "console"):
        service.require_secret_salt(platform)
    service.db.dispose()
