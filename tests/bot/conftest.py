"""Fixtures of the bot tests: settings with a fresh SQLite file, and a service whose engine must
never be reached (for input refused before generation)."""

from __future__ import annotations

import pytest

from app.settings import Settings
from bot.service import BotService
from storage.db import make_engine
from tests.bot.helpers import ADMIN, UnreachableEngine


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'bot.db'}",
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
