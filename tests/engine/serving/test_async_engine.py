"""The batching async engine over the tiny trained models: batches, backpressure, deadlines, errors
of one request or of a whole batch, model swaps under traffic, shutdown and metrics.

Slow moments are made with a gate around the real poet (its decode waits until the test opens
it), never with sleeps, so nothing here depends on the speed of the machine.
"""

from __future__ import annotations

import asyncio
import re

import pytest

from engine.decoding.poet import Poet
from engine.errors import EngineUnavailable, InvalidInput, Overloaded, RequestTimeout, YinshiError
from engine.prosody.forms import FORMS
from engine.request import PoemRequest, PoemResult
from engine.serving.async_engine import AsyncEngine, EngineOptions
from tests.fakes.gated_poet import Gate

HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")


def options(**overrides) -> EngineOptions:
    return EngineOptions(**{"request_timeout_s": 60.0, **overrides})


def assert_poem(result: PoemResult, form: str, model: str) -> None:
    assert isinstance(result, PoemResult), result
    f = FORMS[form]
    assert (result.form, result.model) == (form, model)
    assert len(result.lines) == f.n_lines, result.lines
    for line in result.lines:
        assert len(line) == f.line_len + 1 and line[-1] in "，。", result.lines
        assert all(HAN.fullmatch(ch) for ch in line[:-1]), result.lines


class Failing:
    """A poet whose first batch fails as a whole (e.g. out of memory), later ones succeed."""

    def __init__(self, poet):
        self.poet, self.calls = poet, 0

    @property
    def model_versions(self):
        return self.poet.model_versions

    def generate_batch(self, requests):
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("CUDA out of memory (simulated)")
        return self.poet.generate_batch(requests)


@pytest.fixture(scope="module")
def renamed_poet(tiny_model_dir) -> Poet:
    """The tiny models loaded again under new version names: what a deploy of new weights looks like."""
    poet = Poet.load(tiny_model_dir, device="cpu")
    for m in poet.models.values():
        m.version += "-next"
    return poet


async def test_100_concurrent_requests_are_decoded_in_batches_and_all_get_poems(tiny_engine):
    combos = [(form, model) for form in FORMS for model in ("gan", "vae")]
    requests = [
        PoemRequest("春月山风"[i % 4], form=combos[i % 8][0], model=combos[i % 8][1], seed=i)
        for i in range(100)
    ]
    results = await asyncio.gather(*(tiny_engine.generate(r) for r in requests))
    for req, res in zip(requests, results, strict=True):
        assert_poem(res, req.form, req.model)
        assert res.seed == req.seed
    stats = tiny_engine.stats()
    print("batch sizes under 100 concurrent requests:", stats["batch_sizes"])
    assert stats["decoded"] == 100
    assert stats["max_batch_size"] > 1  # requests were decoded together...
    assert stats["max_batch_size"] <= 64  # ...never more than max_batch_size at once
    assert stats["batches"] < 100
    assert tiny_engine.queue_depth == 0


async def test_the_same_seed_gives_the_same_poem_alone_or_in_a_batch(tiny_engine):
    alone = await tiny_engine.generate(PoemRequest("月", seed=7))
    crowd = await asyncio.gather(*(tiny_engine.generate(PoemRequest("月", seed=s)) for s in range(3, 12)))
    assert crowd[4].lines == alone.lines


async def test_a_full_queue_answers_overloaded_at_once_and_the_waiting_are_still_served(tiny_poet):
    gate = Gate(tiny_poet)
    async with AsyncEngine(gate, options(max_queue=3, max_batch_size=2)) as engine:
        first = asyncio.create_task(engine.generate(PoemRequest("春", seed=0)))
        await gate.wait_entered()  # one batch is being decoded; the queue is empty again
        waiting = [asyncio.create_task(engine.generate(PoemRequest("秋", seed=i))) for i in range(3)]
        await asyncio.sleep(0)  # let them enqueue
        assert engine.queue_depth == 3
        with pytest.raises(Overloaded) as err:
            await engine.generate(PoemRequest("雪"))
        assert err.value.zh and err.value.en
        gate.opened.set()
        for res in await asyncio.gather(first, *waiting):
            assert_poem(res, "wujue", "gan")
        assert engine.registry.get_sample_value("yinshi_request_errors_total", {"kind": "Overloaded"}) == 1


async def test_a_bad_request_fails_alone_and_its_batch_mates_get_poems(tiny_engine):
    requests = [
        PoemRequest("春", seed=1),
        PoemRequest("春", model="gpt"),
        PoemRequest("花", form="qijue", model="vae", seed=2),
        PoemRequest("春", form="sonnet"),
        PoemRequest("春夏", acrostic=True),  # an acrostic needs 4 or 8 heads
        PoemRequest("山", scheme="cmudict"),
    ]
    results = await asyncio.gather(*(tiny_engine.generate(r) for r in requests), return_exceptions=True)
    assert tiny_engine.stats()["batches"] == 1  # they really shared one batch
    assert_poem(results[0], "wujue", "gan")
    assert_poem(results[2], "qijue", "vae")
    for bad in (results[1], results[3], results[4], results[5]):
        assert isinstance(bad, InvalidInput), bad
        assert HAN.search(bad.zh) and re.search(r"[A-Za-z]{3,}", bad.en)
    assert "gpt" in results[1].en and "sonnet" in results[3].en


async def test_a_failed_batch_fails_each_of_its_requests_and_the_engine_keeps_serving(tiny_poet):
    async with AsyncEngine(Failing(tiny_poet), options()) as engine:
        results = await asyncio.gather(
            *(engine.generate(PoemRequest("春", seed=i)) for i in range(5)), return_exceptions=True
        )
        assert all(isinstance(r, RuntimeError) and "out of memory" in str(r) for r in results)
        assert_poem(await engine.generate(PoemRequest("春")), "wujue", "gan")
        assert engine.registry.get_sample_value("yinshi_request_errors_total", {"kind": "RuntimeError"}) == 5


async def test_a_request_past_its_deadline_gets_request_timeout_and_later_ones_are_served(tiny_poet):
    gate = Gate(tiny_poet)
    # 1 s: the late batch and the next request are decoded within it even on a loaded CI machine
    async with AsyncEngine(gate, options(request_timeout_s=1.0)) as engine:
        with pytest.raises(RequestTimeout) as err:
            await engine.generate(PoemRequest("春"))
        assert HAN.search(err.value.zh) and "too long" in err.value.en
        gate.opened.set()  # the late result is dropped quietly
        assert_poem(await engine.generate(PoemRequest("秋")), "wujue", "gan")


async def test_a_caller_that_gives_up_is_not_decoded(tiny_poet):
    gate = Gate(tiny_poet)
    async with AsyncEngine(gate, options()) as engine:
        first = asyncio.create_task(engine.generate(PoemRequest("春")))
        await gate.wait_entered()
        gone = asyncio.create_task(engine.generate(PoemRequest("去")))
        kept = asyncio.create_task(engine.generate(PoemRequest("留")))
        await asyncio.sleep(0)
        gone.cancel()
        gate.opened.set()
        await first
        assert_poem(await kept, "wujue", "gan")
        assert gone.cancelled()
        assert [r.keyword for b in gate.batches for r in b] == ["春", "留"]


async def test_swap_under_traffic_drops_nothing_and_later_poems_carry_the_new_version(
    tiny_poet, renamed_poet
):
    gate = Gate(tiny_poet)
    async with AsyncEngine(gate, options()) as engine:
        before = [asyncio.create_task(engine.generate(PoemRequest("春", seed=i))) for i in range(8)]
        await gate.wait_entered()  # that batch is in flight on the old models
        queued = [asyncio.create_task(engine.generate(PoemRequest("秋", seed=i))) for i in range(8)]
        swap = asyncio.create_task(engine.swap(renamed_poet))
        await asyncio.sleep(0)
        assert engine.model_versions == renamed_poet.model_versions
        assert not swap.done()  # it waits for the batch in flight on the old poet
        gate.opened.set()
        assert await swap is gate
        old, new = await asyncio.gather(asyncio.gather(*before), asyncio.gather(*queued))
        assert {r.model_version for r in old} == {tiny_poet.model_versions["gan"]}
        assert {r.model_version for r in new} == {renamed_poet.model_versions["gan"]}
        assert all(r.model_version.endswith("-next") for r in new)
        after = await engine.generate(PoemRequest("月", model="vae"))
        assert after.model_version == renamed_poet.model_versions["vae"]
        info = engine.registry.get_sample_value(
            "yinshi_model_info", {"model": "vae", "version": renamed_poet.model_versions["vae"]}
        )
        assert info == 1


async def test_close_fails_waiting_requests_and_refuses_new_ones(tiny_poet):
    gate = Gate(tiny_poet)
    engine = await AsyncEngine(gate, options()).start()
    first = asyncio.create_task(engine.generate(PoemRequest("春")))
    await gate.wait_entered()
    waiting = asyncio.create_task(engine.generate(PoemRequest("秋")))
    await asyncio.sleep(0)
    await engine.close()
    gate.opened.set()
    for task in (first, waiting):
        with pytest.raises(EngineUnavailable):
            await task
    with pytest.raises(EngineUnavailable) as err:
        await engine.generate(PoemRequest("春"))
    assert isinstance(err.value, YinshiError) and HAN.search(err.value.zh)


async def test_check_runs_the_prosody_checker(tiny_engine):
    report = await tiny_engine.check("床前明月光，疑是地上霜。举头望明月，低头思故乡。")
    assert report["form"] == "wujue"
    with pytest.raises(InvalidInput):
        await tiny_engine.check("床前明月光", scheme="cmudict")


async def test_metrics_count_requests_and_batches(tiny_engine):
    await asyncio.gather(*(tiny_engine.generate(PoemRequest("春", seed=i)) for i in range(10)))
    get = tiny_engine.registry.get_sample_value
    assert get("yinshi_requests_total") == 10
    assert get("yinshi_batch_size_sum") == 10
    assert get("yinshi_request_latency_seconds_count") == 10
    assert get("yinshi_queue_depth") == 0


@pytest.mark.asyncio(loop_scope="session")
async def test_the_engine_fixture_serves_tests_on_the_session_loop(tiny_engine):
    assert_poem(await tiny_engine.generate(PoemRequest("风", form="wulv")), "wulv", "gan")
