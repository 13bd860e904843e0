"""Fixtures of the serving tests: an engine over the tiny models, the HTTP API over it, a client."""

from __future__ import annotations

import aiohttp
import pytest

from engine.serving.async_engine import AsyncEngine
from tests.engine.serving.http_helpers import options, serving


@pytest.fixture
async def engine(tiny_poet):
    async with AsyncEngine(tiny_poet, options()) as engine:
        yield engine


@pytest.fixture
async def base_url(engine):
    async with serving(engine) as url:
        yield url


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session
