"""The one place that turns Settings into generators: a Poet, the engine the bot and `yinshi serve`
use (local batching engine or a remote `yinshi serve`), and their options.

Every checkpoint is read through engine.models.verify (weights only, its parts, finite weights, a
smoke test): a damaged or unsafe model.pt is refused with a bilingual CheckpointRefused, never served.
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
from engine.errors import YinshiError

if TYPE_CHECKING:
    from bot.ratelimit import RateLimiter
    from engine.decoding.poet import LoadedModel, Poet
    from engine.serving.async_engine import EngineOptions
    from engine.serving.http_api import ApiOptions


class EngineUnreachable(YinshiError):
    def __init__(self, url: str):
        super().__init__(
            f"无法连接引擎 {url}（YINSHI_ENGINE_URL）：请先启动 yinshi serve，或检查地址。",
            f"Cannot reach the engine at {url} (YINSHI_ENGINE_URL): start `yinshi serve` first, "
            "or check the address.",
        )


def load_poet(
    settings: Settings,
    *,
    model_dir: Path | None = None,
    device: str | None = None,
    quantize: bool | None = None,
    names: tuple[str, ...] | None = None,
) -> Poet:
    """The models of `model_dir` (default: settings.model_dir) on `device`, int8 on CPU when `quantize`,
    each verified. FileNotFoundError when there are none; CheckpointRefused for a bad one."""
    from engine.decoding.names import MODEL_NAMES
    from engine.decoding.poet import Poet

    return Poet.load(
        model_dir or settings.model_dir,
        device=device or settings.device,
        quantize=settings.quantize if quantize is None else quantize,
        names=names or MODEL_NAMES,
        loader=load_checked,
    )


def load_checked(path: Path, device, quantize: bool) -> LoadedModel:
    """One model directory through engine.models.verify: its bytes checked (weights only, parts,
    finite weights), the generator built as the Poet builds it, then a smoke test of each form."""
    from engine.decoding.poet import model_from_blob
    from engine.models.verify import CheckpointRefused, read_blob, smoke_test

    blob = read_blob(path)
    try:
        model = model_from_blob(blob, device, quantize)
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise CheckpointRefused(
            Path(path) / "model.pt", f"权重与模型结构不符（{type(e).__name__}）",
            f"its weights do not fit the model it describes ({type(e).__name__})."
        ) from None
    smoke_test(model, device)
    return model


def engine_options(settings: Settings) -> EngineOptions:
    from engine.serving.async_engine import EngineOptions

    return EngineOptions(**{f.name: getattr(settings, f.name) for f in dataclasses.fields(EngineOptions)})


def api_options(settings: Settings) -> ApiOptions:
    """What the HTTP API fills in where a request leaves model or scheme out, and its guards."""
    from engine.serving.http_api import ApiOptions

    return ApiOptions(
        model=settings.default_model,
        scheme=settings.default_scheme,
        body_timeout_s=settings.http_body_timeout_s,
        api_token=settings.http_api_token or None,
    )


def api_limiter(settings: Settings) -> RateLimiter | None:
    """The HTTP API's per-client rate limit (None when http_rate_limit_per_minute is 0)."""
    from bot.ratelimit import RateLimiter

    per_minute = settings.http_rate_limit_per_minute
    return RateLimiter(per_minute) if per_minute > 0 else None


@contextlib.asynccontextmanager
async def open_engine(settings: Settings, **overrides) -> AsyncIterator:
    """The trained models of settings.model_dir behind the batching AsyncEngine, closed on exit;
    or, when YINSHI_ENGINE_URL is set, a client of a `yinshi serve` process elsewhere. `overrides`
    go to `load_poet`. (`yinshi run` and `yinshi serve` serve the model registry's champions
    instead: app/learning_loop.py.)"""
    if settings.engine_url:
        from engine.errors import EngineUnavailable
        from engine.serving.remote_engine import RemoteEngine

        remote = RemoteEngine(
            settings.engine_url, timeout_s=settings.request_timeout_s + 5, token=settings.http_api_token
        )
        try:
            await remote.start()
        except EngineUnavailable:
            raise EngineUnreachable(settings.engine_url) from None
        try:
            yield remote
        finally:
            await remote.close()
        return

    from engine.serving.async_engine import AsyncEngine

    poet = await asyncio.to_thread(load_poet, settings, **overrides)
    async with AsyncEngine(poet, engine_options(settings)) as engine:
        yield engine
