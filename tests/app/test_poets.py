"""app/poets.py and `yinshi serve`: Settings become the Poet, the engine and the HTTP defaults."""

from __future__ import annotations

import contextlib

import pytest
import typer
from aiohttp import web
from typer.testing import CliRunner

from app.commands.serve import serve_command, serving_app
from app.poets import engine_options, load_poet, open_engine
from app.settings import Settings, get_settings
from engine.models.int8_lm import int8_is_faster
from engine.request import PoemRequest
from engine.serving.async_engine import AsyncEngine, EngineOptions
from engine.serving.remote_engine import RemoteEngine


def settings(tiny_model_dir, **overrides) -> Settings:
    values = dict(model_dir=tiny_model_dir, device="cpu", request_timeout_s=60.0, finetune_interval_s=0,
                  challenger_share=0)  # no learning loop on the repository's database
    return Settings(_env_file=None, **{**values, **overrides})


@contextlib.asynccontextmanager
async def served(app: web.Application):
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def test_load_poet_takes_settings_unless_told_otherwise(tiny_model_dir, tmp_path):
    poet = load_poet(settings(tiny_model_dir, quantize=True))
    assert set(poet.model_versions) == {"gan", "vae"}
    assert (poet.models["gan"].int8 is not None) == int8_is_faster()  # int8 only where it is faster
    fp32 = load_poet(settings(tmp_path), model_dir=tiny_model_dir, quantize=False, names=("vae",))
    assert set(fp32.model_versions) == {"vae"} and fp32.models["vae"].int8 is None
    with pytest.raises(FileNotFoundError):
        load_poet(settings(tmp_path))


def test_the_engine_defaults_are_the_settings_defaults():
    assert engine_options(Settings(_env_file=None)) == EngineOptions()


async def test_open_engine_serves_the_models_of_the_settings_with_their_limits(tiny_model_dir, tiny_poet):
    async with open_engine(settings(tiny_model_dir, max_batch_size=3, max_queue=7)) as engine:
        assert isinstance(engine, AsyncEngine)
        assert (engine.options.max_batch_size, engine.options.max_queue) == (3, 7)
        assert engine.model_versions == tiny_poet.model_versions
        poem = await engine.generate(PoemRequest("雨", form="qijue", model="vae", seed=2))
        assert poem.model == "vae" and len(poem.lines) == 4


async def test_with_an_engine_url_the_bot_uses_a_yinshi_serve_and_its_defaults(tiny_model_dir):
    """`yinshi serve` fills in the model and scheme of Settings where a body leaves them out."""
    server = settings(tiny_model_dir, default_model="vae", default_scheme="xinyun")
    async with served(await serving_app(server)) as url:
        async with open_engine(settings(tiny_model_dir, engine_url=url)) as engine:
            assert isinstance(engine, RemoteEngine) and set(engine.model_versions) == {"gan", "vae"}
            body = {"keyword": "秋", "seed": 4}
            async with engine._session.post(f"{url}/v1/poems", json=body) as resp:  # type: ignore[union-attr]
                [poem] = (await resp.json())["poems"]
    assert poem["model"] == "vae" and poem["check"]["scheme"] == "xinyun"


def test_serve_without_models_explains_in_both_languages(tmp_path, monkeypatch):
    monkeypatch.setenv("YINSHI_MODEL_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        app = typer.Typer()
        app.command()(serve_command)
        result = CliRunner().invoke(app, ["--port", "0"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert "找不到模型" in result.output and "No models" in result.output and str(tmp_path) in result.output
