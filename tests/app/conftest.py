"""Fixtures of the app tests."""

from __future__ import annotations

import logging

import pytest

from app.settings import get_settings


@pytest.fixture
def restore_logging():
    """app.logs.setup_logging replaces the root handlers: give pytest's back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    quiet = {name: logging.getLogger(name).level for name in ("httpx", "httpcore", "telegram", "discord")}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, lvl in quiet.items():
        logging.getLogger(name).setLevel(lvl)


@pytest.fixture
def env(monkeypatch):
    """Set YINSHI_* variables for a command run in-process (get_settings is cached: cleared around)."""
    def set_env(**values):
        for name, value in values.items():
            monkeypatch.setenv(name, str(value))
        get_settings.cache_clear()
    yield set_env
    get_settings.cache_clear()
