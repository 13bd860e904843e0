"""`yinshi serve`: the poem engine over HTTP (engine/serving/http_api.py) on settings.http_host:http_port."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from app.settings import Settings, get_settings

log = logging.getLogger(__name__)


async def serving_app(settings: Settings):
    """The HTTP app over the verified models of `settings` (the registry's champions where it has
    them, swapped while serving: app/learning_loop.py); the engine and the learning loop close
    when the app shuts down. Raises CheckpointRefused for a damaged or unsafe checkpoint."""
    from app.learning_loop import serving_engine
    from app.poets import api_limiter, api_options
    from engine.serving.http_api import make_app
    from storage.db import make_engine

    # the ratings the bot stores: the schedule counts them, the online trial weighs them
    learns = settings.finetune_interval_s > 0 or settings.challenger_share > 0
    db = make_engine(settings.resolved_database_url) if learns else None
    served = serving_engine(settings, db)
    engine, _ = await served.__aenter__()
    app = make_app(engine, api_options(settings), api_limiter(settings))

    async def close_engine(_) -> None:
        try:
            await served.__aexit__(None, None, None)
        finally:
            if db is not None:
                db.dispose()

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
    if not any((model_dir / name / "model.pt").exists() for name in ("gan", "vae")) and \
            not (settings.registry_dir / "registry.json").exists():
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
