"""The poem engines a benchmark can run the bot with (`--engine`): `models`, the trained models
(app.poets.open_engine); `replay`, the real `AsyncEngine` (queue, batching, deadlines, its decode
thread) over the trained models, whose poems are written once per keyword, form and model and then
replayed at no cost, so that what a benchmark measures is the time each reply spends outside the
model (the platform library, the adapter, BotService, the database); or any module:callable taking
Settings and returning an engine or an async context manager that yields one.

    python benchmarks/discord_latency.py --engine replay
    python benchmarks/telegram_latency.py --engine replay --no-rate-limiter
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib
import threading
from collections.abc import AsyncIterator

from app.poets import engine_options, load_poet
from app.settings import Settings
from engine.request import PoemRequest, PoemResult


class ReplayPoet:
    """A Poet whose first poem for each (keyword, form, model, acrostic) is written by `poet` and
    replayed afterwards."""

    def __init__(self, poet) -> None:
        self.poet = poet
        self.model_versions = poet.model_versions
        self._written: dict[tuple, PoemResult] = {}
        self._lock = threading.Lock()

    def __getattr__(self, name: str):  # rhyme_usage and anything else the engine reads
        return getattr(self.poet, name)

    def generate_batch(self, requests: list[PoemRequest]) -> list[PoemResult]:
        with self._lock:
            keys = [(r.keyword, r.form, r.model, r.acrostic) for r in requests]
            missing = {k: r for k, r in zip(keys, requests, strict=True) if k not in self._written}
            if missing:
                written = self.poet.generate_batch(list(missing.values()))
                self._written.update(zip(missing, written, strict=True))
            return [dataclasses.replace(self._written[k], seed=i) for i, k in enumerate(keys)]


@contextlib.asynccontextmanager
async def open_replay_engine(settings: Settings) -> AsyncIterator:
    from engine.serving.async_engine import AsyncEngine

    poet = await asyncio.to_thread(load_poet, settings)
    async with AsyncEngine(ReplayPoet(poet), engine_options(settings)) as engine:
        yield engine


ENGINES = {"models": "app.poets:open_engine", "replay": "benchmarks.engines:open_replay_engine"}


@contextlib.asynccontextmanager
async def engine_from(spec: str, settings: Settings) -> AsyncIterator:
    """The engine `spec` names (a key of ENGINES, or module:callable), closed on exit."""
    module, _, name = ENGINES.get(spec, spec).partition(":")
    made = getattr(importlib.import_module(module), name)(settings)
    if hasattr(made, "__aenter__"):
        async with made as engine:
            yield engine
    else:
        yield made
