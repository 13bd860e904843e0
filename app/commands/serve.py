"""`yinshi serve`: the poem engine over HTTP (engine/serving/http_api.py) on settings.http_host:http_port."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

import typer

from app.settings import Settings, get_settings

log = logging.getLogger(__name__)


async def serving_app(settings: Settings):
    """The HTTP app over the verified models of `settings`; the engine closes when the app shuts
    down. Raises CheckpointRefused for a damaged or unsafe checkpoint."""
    from app.poets import api_limiter, api_options, engine_options, load_poet
    from engine.serving.async_engine import AsyncEngine
    from engine.serving.http_api import make_app

    poet = await asyncio.to_thread(load_poet, settings)
    engine = await AsyncEngine(poet, engine_options(settings)).start()
    app = make_app(engine, api_options(settings), api_limiter(settings))

    async def close_engine(_) -> None:
        await engine.close()

    app.on_cleanup.append(close_engine)
    log.info("serving models %s", engine.model_versions)
    return app


def serve_command(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (default: settings.http_host).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: settings.http_port).")] = None,
) -> None:
    """Serve the poem engine over HTTP: POST /v1/poems, POST /v1/check, GET /healthz, GET /metrics."""
    from app.logs import setup_logging
    from app.startup import run_or_exit

    settings = get_settings()
    model_dir = settings.model_dir
    if not any((model_dir / name / "model.pt").exists() for name in ("gan", "vae")):
        typer.echo(
            f"找不到模型：{model_dir} 下没有 gan/ 或 vae/ 检查点（请先训练，或设置 YINSHI_MODEL_DIR）。\n"
            f"No models: no gan/ or vae/ checkpoint under {model_dir} (train first, or set YINSHI_MODEL_DIR).",
            err=True,
        )
        raise typer.Exit(1)
    from aiohttp import web

    setup_logging(settings)
    run_or_exit(
        lambda: web.run_app(
            serving_app(settings),
            host=host or settings.http_host,
            port=settings.http_port if port is None else port,
            access_log=None,  # each refusal is logged once, by the API; successes are in /metrics
        )
    )
