"""Fixtures of the bot tests: settings with a fresh database (a SQLite file; a module that overrides
`bot_database_url` with tests/conftest.py's `database_url` runs on PostgreSQL too), and a service
whose engine must never be reached (for input refused before generation)."""

from __future__ import annotations

import pytest

from app.settings import Settings
from bot.service import BotService
from storage.db import make_engine
from tests.bot.helpers import ADMIN, UnreachableEngine


@pytest.fixture
def bot_database_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'yinshi.db'}"


@pytest.fixture
def settings(tmp_path, bot_database_url) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=tmp_path,
        database_url=bot_database_url,
        admin_ids=[f"{ADMIN.platform}:{ADMIN.user_id}"],
        rate_limit_per_minute=1000,
    )


@pytest.fixture
def db(settings):
    engine = make_engine(settings.resolved_database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def offline(settings, db) -> BotService:
    return BotService(UnreachableEngine(), db, settings)
