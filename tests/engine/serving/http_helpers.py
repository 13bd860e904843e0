"""What the HTTP API tests share: a server on a free port of 127.0.0.1, and how an error must look."""

from __future__ import annotations

import asyncio
import contextlib
import re

from aiohttp import web

from engine.serving.async_engine import AsyncEngine, EngineOptions
from engine.serving.http_api import ApiOptions, make_app

HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
LATIN_WORD = re.compile(r"[A-Za-z]{3,}")
JINGYESI = "床前明月光，疑是地上霜。举头望明月，低头思故乡。"


def options(**overrides) -> EngineOptions:
    return EngineOptions(**{"request_timeout_s": 60.0, **overrides})


@contextlib.asynccontextmanager
async def serving(engine: AsyncEngine, options: ApiOptions | None = None, limiter=None):
    """`make_app(engine, options, limiter)` on a free port of 127.0.0.1; yields its base URL."""
    runner = web.AppRunner(make_app(engine, options, limiter))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def until(condition, limit_s: float = 30.0) -> None:
    """Poll `condition` on the event loop (an ordering aid, never a speed assertion)."""
    for _ in range(int(limit_s / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never became true")


def assert_bilingual(body: dict) -> dict:
    err = body["error"]
    assert HAN.search(err["zh"]), err
    assert len(LATIN_WORD.findall(err["en"])) >= 2, err
    return err
