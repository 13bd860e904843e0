"""The schedule a running app owns: it starts a cycle (a real `python -m learning.cycle`
subprocess) once enough new liked or disliked ratings arrived, never blocks the event loop while
it runs, does not start again on the same ratings, and ends a running cycle on close."""

from __future__ import annotations

import asyncio
import fcntl

from sqlmodel import Session

from learning import data as D
from learning.registry import Registry
from learning.schedule import FineTuneSchedule
from storage.db import make_engine
from tests.conftest import FIXTURE_CORPUS
from tests.learning.helpers import rated_database


def schedule(tmp_path, tiny_model_dir, min_new: int, interval_s: float = 3600) -> FineTuneSchedule:
    url = f"sqlite:///{tmp_path / 'y.db'}"
    rated_database(url, tiny_model_dir, 150, lambda text, rng: rng.randint(1, 5))
    engine = make_engine(url)

    def count_new(model, since):
        with Session(engine) as s:
            return D.count_labelled(session=s, model=model, since=since)

    reg = Registry(tmp_path / "registry")
    args = ["--model", "gan", "--registry", str(reg.root), "--database", url, "--corpus-dir", str(FIXTURE_CORPUS),
            "--cache-dir", str(tmp_path / "cache"), "--model-dir", str(tiny_model_dir), "--min-labelled", "20",
            "--eval-per-form", "10", "--threads", "1"]
    return FineTuneSchedule(registry=reg, models=["gan"], interval_s=interval_s, min_new_ratings=min_new,
                            count_new=count_new, cycle_args=lambda model: args)


async def test_enough_new_ratings_start_one_cycle_without_blocking_the_loop(tmp_path, tiny_model_dir):
    sched = schedule(tmp_path, tiny_model_dir, min_new=50)
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.05)

    t = asyncio.create_task(ticker())
    results = await sched.check()
    t.cancel()
    assert len(results) == 1 and results[0]["gate"]["passed"] is False  # random ratings: refused
    assert ticks > 20  # the loop ran on while the cycle did
    assert sched.registry.cycles("gan")[-1]["data"]["ratings"] == 150
    assert await sched.check() == []  # nothing new since that cycle's data


async def test_too_few_new_ratings_start_nothing(tmp_path, tiny_model_dir):
    sched = schedule(tmp_path, tiny_model_dir, min_new=10_000)
    assert await sched.check() == []
    assert sched.registry.cycles("gan") == []


async def test_close_ends_a_running_cycle(tmp_path, tiny_model_dir):
    sched = schedule(tmp_path, tiny_model_dir, min_new=1)
    sched.start()
    for _ in range(600):
        if sched.running:
            break
        await asyncio.sleep(0.05)
    assert sched.running == "gan"
    await sched.close()
    assert sched.running is None
    lock = sched.registry.root / "gan" / ".cycle.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)  # no cycle holds it any more
