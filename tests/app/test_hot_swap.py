"""A running app follows the model registry: a new champion is swapped in while requests are in
flight (none dropped or failed, later ones carry the new version), a damaged one is refused and the
old model serves on, a challenger writes for a stable share of users, and an online trial that
decides "promote" swaps the challenger in."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict

from sqlmodel import Session

from app.learning_loop import serving_engine
from engine.request import PoemRequest
from learning.online import serves_challenger
from learning.registry import Registry
from storage import queries
from storage.db import make_engine
from tests.app.learning_helpers import add_version, loop_settings
from tests.fakes.gated_poet import Gate


async def wait_until(condition, timeout_s: float = 60) -> None:
    for _ in range(int(timeout_s / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("timed out")


async def test_a_new_champion_is_swapped_in_while_requests_are_in_flight(tmp_path, tiny_model_dir):
    settings = loop_settings(tmp_path, tiny_model_dir)
    reg = Registry(settings.registry_dir)
    reg.seed_shipped(tiny_model_dir, names=("gan",))
    first = reg.champion("gan").version
    async with serving_engine(settings) as (engine, _):
        assert engine.model_versions["gan"] == first
        gate = Gate(engine.poet)
        await engine.swap(gate)  # the next batch waits in the decode thread until the gate opens
        asked = [PoemRequest("春", model="gan", seed=i) for i in range(6)]
        before = [asyncio.create_task(engine.generate(r)) for r in asked]
        await gate.wait_entered()
        add_version(reg, tiny_model_dir, "gan", "gan-new", tmp_path / "src", to="champion")
        await wait_until(lambda: engine.poet is not gate)  # the watcher loaded it and swapped
        after = [asyncio.create_task(engine.generate(PoemRequest("月", model="gan", seed=i))) for i in range(6)]
        gate.opened.set()
        old = await asyncio.gather(*before)  # raises if any failed
        new = await asyncio.gather(*after)
    held = {id(r) for r in gate.batches[0]}  # the batch in flight during the swap ends on the old model
    assert held and all(res.model_version == first for r, res in zip(asked, old, strict=True) if id(r) in held)
    assert {res.model_version for res in old} <= {first, "gan-new"}
    assert [r.model_version for r in new] == ["gan-new"] * 6
    assert all(len(r.lines) == 4 for r in old + new)


async def test_the_registry_copy_of_the_shipped_models_swaps_nothing(tmp_path, tiny_model_dir):
    settings = loop_settings(tmp_path, tiny_model_dir, registry_poll_s=3600)
    async with serving_engine(settings) as (engine, loop):
        poet = engine.poet
        Registry(settings.registry_dir).seed_shipped(tiny_model_dir)  # what the first cycle does
        assert await loop.poll() is False
        assert engine.poet is poet


async def test_a_damaged_champion_is_refused_and_the_old_model_serves_on(tmp_path, tiny_model_dir, caplog):
    settings = loop_settings(tmp_path, tiny_model_dir, registry_poll_s=3600)
    reg = Registry(settings.registry_dir)
    reg.seed_shipped(tiny_model_dir, names=("gan",))
    first = reg.champion("gan").version
    async with serving_engine(settings) as (engine, loop):
        add_version(reg, tiny_model_dir, "gan", "gan-bad", tmp_path / "src", to="champion", damage=True)
        with caplog.at_level(logging.ERROR, logger="app.learning_loop"):
            assert await loop.poll() is False
        assert "gan-bad" in caplog.text and "refused" in caplog.text
        assert engine.model_versions["gan"] == first
        assert (await engine.generate(PoemRequest("春", model="gan"))).model_version == first
        add_version(reg, tiny_model_dir, "gan", "gan-good", tmp_path / "src", to="champion")
        assert await loop.poll() is True
        assert (await engine.generate(PoemRequest("春", model="gan"))).model_version == "gan-good"


async def test_a_challenger_writes_the_poems_of_a_stable_share_of_users(tmp_path, tiny_model_dir):
    settings = loop_settings(tmp_path, tiny_model_dir, registry_poll_s=3600, challenger_share=0.3)
    reg = Registry(settings.registry_dir)
    reg.seed_shipped(tiny_model_dir, names=("gan",))
    add_version(reg, tiny_model_dir, "gan", "gan-trial", tmp_path / "src", to="challenger")
    users = [f"user-{i}" for i in range(60)]
    async with serving_engine(settings) as (engine, _):
        assert engine.challenger_versions == {"gan": "gan-trial"}
        results = await asyncio.gather(*(engine.generate(PoemRequest("春", model="gan", seed=i, route_key=u))
                                         for i, u in enumerate(users * 2)))
        vae = await engine.generate(PoemRequest("春", model="vae", route_key=users[0]))
    versions = defaultdict(set)
    for u, r in zip(users * 2, results, strict=True):
        versions[u].add(r.model_version)
    assert all(len(v) == 1 for v in versions.values())  # the same user, the same model
    on_trial = {u for u, v in versions.items() if v == {"gan-trial"}}
    assert on_trial == {u for u in users if serves_challenger(f"gan-trial:{u}", 0.3)}
    assert 0.1 < len(on_trial) / len(users) < 0.5
    assert vae.model_version != "gan-trial"  # a generator with no challenger is untouched


def rate_versions(url: str, ratings: dict[str, list[int]]) -> None:
    """Poems of each version rated with the given scores, one user per rating."""
    db = make_engine(url)
    with Session(db) as s:
        for version, scores in ratings.items():
            for i, score in enumerate(scores):
                u = queries.get_or_create_user(session=s, platform="console", user_id=f"{version}-{i}", salt="t")
                p = queries.add_poem(session=s, user=u, text="春眠不觉晓", keyword="春", form="wujue", model="gan",
                                     model_version=version, seed=i)
                queries.rate_poem(session=s, user=u, poem_id=p.id, score=score)
    db.dispose()


async def test_an_online_trial_that_promotes_swaps_the_challenger_in(tmp_path, tiny_model_dir):
    settings = loop_settings(tmp_path, tiny_model_dir, registry_poll_s=3600)
    reg = Registry(settings.registry_dir)
    reg.seed_shipped(tiny_model_dir, names=("gan",))
    first = reg.champion("gan").version
    add_version(reg, tiny_model_dir, "gan", "gan-trial", tmp_path / "src", to="challenger")
    rate_versions(settings.resolved_database_url, {first: [1, 2, 3, 4] * 40, "gan-trial": [4, 5, 5, 2] * 40})
    db = make_engine(settings.resolved_database_url)
    try:
        async with serving_engine(settings, db) as (engine, loop):
            text = "\n".join(await loop.stats_lines())
            assert "On trial" in text and "gan-trial" in text and "P(better)" in text
            decisions = await loop.weigh_trials()
            assert [d.action for d in decisions] == ["promote"]
            assert await loop.poll() is True
            assert engine.model_versions["gan"] == "gan-trial" and engine.challenger_versions == {}
            assert (await engine.generate(PoemRequest("春", model="gan"))).model_version == "gan-trial"
    finally:
        db.dispose()
    assert reg.champion("gan").version == "gan-trial" and reg.challenger("gan") is None


class BrokenPoet:
    """A challenger whose decode fails."""

    model_versions = {"gan": "gan-broken"}

    def generate_batch(self, requests):
        raise RuntimeError("broken on trial")


async def test_a_failing_challenger_never_fails_a_request(tiny_poet, caplog):
    from engine.serving.async_engine import AsyncEngine
    from tests.conftest import engine_options

    async with AsyncEngine(tiny_poet, engine_options()) as engine:
        await engine.swap(tiny_poet, BrokenPoet(), lambda name, key: True)  # every gan poem on trial
        with caplog.at_level(logging.ERROR, logger="engine.serving.async_engine"):
            results = await asyncio.gather(*(engine.generate(PoemRequest("春", model=m, seed=i))
                                             for i, m in enumerate(["gan", "vae"] * 3)))
    assert [r.model_version for r in results] == [tiny_poet.model_versions[m] for m in ["gan", "vae"] * 3]
    assert "the challenger failed" in caplog.text
