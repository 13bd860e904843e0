"""The one place that turns Settings into generators: a Poet, the engine the bot and `yinshi serve`
use (local batching engine or a remote `yinshi serve`), and their options.

Commands pass their own flags as overrides; what they leave out comes from Settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

from app.settings import Settings

if TYPE_CHECKING:
    from engine.decoding.poet import Poet
    from engine.serving.async_engine import EngineOptions
    from engine.serving.http_api import Defaults


def load_poet(
    settings: Settings,
    *,
    model_dir: Path | None = None,
    device: str | None = None,
    quantize: bool | None = None,
    names: tuple[str, ...] | None = None,
) -> Poet:
    """The models of `model_dir` (default: settings.model_dir) on `device`, int8 on CPU when `quantize`.
    FileNotFoundError when there are none."""
    from engine.decoding.names import MODEL_NAMES
    from engine.decoding.poet import Poet

    return Poet.load(
        model_dir or settings.model_dir,
        device=device or settings.device,
        quantize=settings.quantize if quantize is None else quantize,
        names=names or MODEL_NAMES,
    )


def engine_options(settings: Settings) -> EngineOptions:
    from engine.serving.async_engine import EngineOptions

    return EngineOptions(**{f.name: getattr(settings, f.name) for f in dataclasses.fields(EngineOptions)})


def serving_defaults(settings: Settings) -> Defaults:
    """What the HTTP API fills in where a request leaves model or scheme out."""
    from engine.serving.http_api import Defaults

    return Defaults(model=settings.default_model, scheme=settings.default_scheme)


@contextlib.asynccontextmanager
async def open_engine(settings: Settings, **overrides) -> AsyncIterator:
    """The trained models behind the batching AsyncEngine, closed on exit; or, when
    YINSHI_ENGINE_URL is set, a client of a `yinshi serve` process elsewhere. `overrides` go to
    `load_poet`."""
    if settings.engine_url:
        from engine.serving.remote_engine import RemoteEngine

        async with RemoteEngine(settings.engine_url, timeout_s=settings.request_timeout_s + 5) as remote:
            yield remote
        return

    from engine.serving.async_engine import AsyncEngine

    poet = await asyncio.to_thread(load_poet, settings, **overrides)
    async with AsyncEngine(poet, engine_options(settings)) as engine:
        yield engine
