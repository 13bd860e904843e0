"""The running app's fine-tuning schedule: with enough new liked or disliked ratings it runs one
cycle (a real `python -m learning.cycle` subprocess, with the arguments Settings give) while the
engine keeps serving, and admins' /stats shows it; with too few it starts nothing."""

from __future__ import annotations

import asyncio

from app.learning_loop import serving_engine
from engine.request import PoemRequest
from learning.registry import Registry
from storage.db import make_engine
from tests.app.learning_helpers import loop_settings
from tests.conftest import FIXTURE_CORPUS
from tests.learning.helpers import rated_database


def settings_with_ratings(tmp_path, tiny_model_dir, min_ratings: int):
    settings = loop_settings(tmp_path, tiny_model_dir, registry_poll_s=3600, corpus_dir=FIXTURE_CORPUS,
                             finetune_interval_s=3600, finetune_min_ratings=min_ratings, finetune_models=["gan"])
    rated_database(settings.resolved_database_url, tiny_model_dir, 150, lambda text, rng: rng.randint(1, 5))
    return settings


async def test_enough_new_ratings_run_one_cycle_while_the_engine_serves(tmp_path, tiny_model_dir):
    settings = settings_with_ratings(tmp_path, tiny_model_dir, min_ratings=50)
    db = make_engine(settings.resolved_database_url)
    try:
        async with serving_engine(settings, db) as (engine, loop):
            for _ in range(3000):
                if loop.schedule.running == "gan":
                    break
                await asyncio.sleep(0.02)
            assert loop.schedule.running == "gan"
            poem = await engine.generate(PoemRequest("春", model="gan"))  # served while the cycle runs
            assert len(poem.lines) == 4
            for _ in range(6000):
                if "gan" in loop.schedule.last:
                    break
                await asyncio.sleep(0.05)
            record = loop.schedule.last["gan"]
            lines = await loop.stats_lines()
    finally:
        db.dispose()
    assert "error" not in record, record
    assert record["gate"]["passed"] is False  # random raters: refused, and the champion stays
    assert record["data"]["ratings"] == 150
    reg = Registry(settings.registry_dir)
    assert [c["data"]["ratings"] for c in reg.cycles("gan")] == [150]
    assert [v.status for v in reg.list_versions("gan")] == ["champion"]
    assert "Fine-tuning cycles" in lines[0] and "ratings 150" in lines[1] and "refused" in lines[1]


async def test_too_few_new_ratings_start_no_cycle(tmp_path, tiny_model_dir):
    settings = settings_with_ratings(tmp_path, tiny_model_dir, min_ratings=10_000)
    db = make_engine(settings.resolved_database_url)
    try:
        async with serving_engine(settings, db) as (_, loop):
            assert await loop.schedule.check() == []
            assert loop.schedule.running is None
    finally:
        db.dispose()
    assert Registry(settings.registry_dir).cycles() == []
