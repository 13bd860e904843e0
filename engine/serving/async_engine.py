"""The asyncio front of the generators: requests from many users are decoded together in batches.

Each `generate` call becomes a waiting record and a Future. One background task (the batcher)
waits for work, gives late-comers up to `max_wait_ms` to join, takes a batch (engine.serving.batching),
runs `Poet.generate_batch` in the engine's single decode thread and answers each Future with its
poem or its own error; a failure of the whole batch fails every request of that batch. The queue is
bounded (a full queue answers Overloaded at once) and every request has a deadline
(RequestTimeout). `check` runs prosody checks on their own small thread pool with its own bound
(a full one answers Overloaded), so a flood of checks cannot starve the poems. `swap` replaces the
models while serving: the batch in flight finishes on the old poet, later batches use the new one.
A swap may also bring a challenger: a second poet holding a model on trial, and a `route` that
says, per generator and request (its `route_key`, else its arrival number), whether the challenger
writes it; each batch is split between the two poets in its decode thread.
Its limits come in one `EngineOptions` (app/ builds it from Settings).

The engine binds to the event loop that starts it (`start()` or the first `generate`), like
asyncio's own queues; it moves to another loop only when the first is no longer running.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from collections import Counter as TallyCounter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from engine.errors import EngineUnavailable, Overloaded, RequestTimeout, YinshiError
from engine.prosody.check import check_poem
from engine.request import PoemRequest, PoemResult
from engine.serving.batching import Pending, count_live, take_batch

if TYPE_CHECKING:
    from engine.decoding.poet import Poet

log = logging.getLogger(__name__)

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
Route = Callable[[str, str], bool]  # (generator, route key) -> whether the challenger writes the poem
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass(frozen=True)
class EngineOptions:
    """Batching, backpressure and deadline of an AsyncEngine (Settings of the same names set them)."""

    max_batch_size: int = 64  # requests decoded together at most
    max_wait_ms: float = 5.0  # how long the first request of a batch waits for company
    max_queue: int = 1024  # waiting requests at most; more are refused with Overloaded
    request_timeout_s: float = 10.0  # a request not answered by then gets RequestTimeout
    check_workers: int = 1  # threads for prosody checks
    max_checks: int = 64  # checks running or waiting at most; more are refused with Overloaded

    def __post_init__(self) -> None:
        if min(self.max_batch_size, self.max_queue, self.check_workers, self.max_checks) < 1:
            raise ValueError("max_batch_size, max_queue, check_workers and max_checks must be at least 1")


class EngineMetrics:
    """Prometheus metrics of one engine, in its own registry (so engines and tests never clash)."""

    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.batch_size = Histogram(
            "yinshi_batch_size", "Requests decoded together in one batch", buckets=BATCH_BUCKETS, registry=r
        )
        self.batch_seconds = Histogram(
            "yinshi_batch_seconds", "Time to decode one batch", buckets=LATENCY_BUCKETS, registry=r
        )
        self.latency = Histogram(
            "yinshi_request_latency_seconds",
            "Time from submission to answer, per request",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.requests = Counter("yinshi_requests", "Poem requests submitted", registry=r)
        self.errors = Counter(
            "yinshi_request_errors", "Poem requests answered with an error", ["kind"], registry=r
        )
        self.queue_depth = Gauge("yinshi_queue_depth", "Requests waiting for a batch", registry=r)
        self.model_info = Gauge(
            "yinshi_model_info", "Loaded model versions (value 1)", ["model", "version"], registry=r
        )

    def set_models(self, versions: dict[str, str], on_trial: dict[str, str] | None = None) -> None:
        self.model_info.clear()
        for model, version in [*versions.items(), *(on_trial or {}).items()]:
            self.model_info.labels(model=model, version=version).set(1)


def _gone(p: Pending[asyncio.Future]) -> bool:
    return p.ticket.done()  # cancelled (caller left or timed out) or already answered


class AsyncEngine:
    """Batched, non-blocking poem generation over a `Poet`. Use `async with AsyncEngine(poet):`."""

    def __init__(self, poet: Poet, options: EngineOptions | None = None):
        self.options = options or EngineOptions()
        self._poet = poet
        self._challenger: Poet | None = None  # a model on trial, writing the requests `_route` gives it
        self._route: Route | None = None
        self._pending: list[Pending[asyncio.Future]] = []
        self._seq = itertools.count()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="yinshi-decode")
        self._checker = ThreadPoolExecutor(self.options.check_workers, thread_name_prefix="yinshi-check")
        self._check_slots = threading.BoundedSemaphore(self.options.max_checks)  # released by the worker
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self._wakeup: asyncio.Event | None = None
        self._in_flight: tuple[tuple, asyncio.Future] | None = None  # ((poet, challenger), done when it ends)
        self._closed = False
        self.metrics = EngineMetrics()
        self.metrics.queue_depth.set_function(lambda: self.queue_depth)
        self.metrics.set_models(poet.model_versions)
        self.batch_sizes: TallyCounter[int] = TallyCounter()  # size -> batches decoded (for benchmarks)

    # -- construction and lifetime -----------------------------------------------------------------

    async def start(self) -> AsyncEngine:
        """Start the batcher on the running loop (idempotent; `generate` also starts it)."""
        self._ensure_batcher()
        return self

    async def close(self) -> None:
        """Stop the batcher; requests still waiting fail with EngineUnavailable. Idempotent."""
        self._closed = True
        task, self._task = self._task, None
        if task is not None and not task.done():
            if task.get_loop() is asyncio.get_running_loop():
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
            elif not task.get_loop().is_closed():
                task.get_loop().call_soon_threadsafe(task.cancel)
        self._fail_pending(EngineUnavailable())
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._checker.shutdown(wait=False, cancel_futures=True)

    async def __aenter__(self) -> AsyncEngine:
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.close()

    # -- public API ----------------------------------------------------------------------------

    @property
    def poet(self) -> Poet:
        return self._poet

    @property
    def model_versions(self) -> dict[str, str]:
        return self._poet.model_versions

    @property
    def challenger_versions(self) -> dict[str, str]:
        """The versions on trial beside the champions (empty: none)."""
        return self._challenger.model_versions if self._challenger is not None else {}

    @property
    def registry(self) -> CollectorRegistry:
        return self.metrics.registry

    @property
    def queue_depth(self) -> int:
        """Requests waiting for a batch (not counting the batch being decoded)."""
        return count_live(self._pending, _gone)

    async def generate(self, request: PoemRequest) -> PoemResult:
        """One poem. Raises the request's YinshiError, Overloaded, RequestTimeout or EngineUnavailable."""
        self._ensure_batcher()
        self.metrics.requests.inc()
        if len(self._pending) >= self.options.max_queue:
            self._pending = [p for p in self._pending if not _gone(p)]
            if len(self._pending) >= self.options.max_queue:
                self.metrics.errors.labels(kind="Overloaded").inc()
                raise Overloaded()
        loop = asyncio.get_running_loop()
        started = loop.time()
        future: asyncio.Future[PoemResult] = loop.create_future()
        self._pending.append(Pending(request, next(self._seq), future, started))
        assert self._wakeup is not None
        self._wakeup.set()
        try:
            return await asyncio.wait_for(future, self.options.request_timeout_s)
        except TimeoutError:
            self.metrics.errors.labels(kind="RequestTimeout").inc()
            raise RequestTimeout() from None
        except Exception as e:
            self.metrics.errors.labels(kind=type(e).__name__).inc()
            raise
        finally:
            self.metrics.latency.observe(loop.time() - started)

    async def check(self, text: str, scheme: str = "pingshui", form: str | None = None) -> dict:
        """engine.prosody.check.check_poem on the check threads, as JSON-ready data. Raises
        InvalidInput, or Overloaded when `max_checks` are already running or waiting."""
        if self._closed:
            raise EngineUnavailable()
        if not self._check_slots.acquire(blocking=False):
            self.metrics.errors.labels(kind="Overloaded").inc()
            raise Overloaded()
        try:
            job = self._checker.submit(check_poem, text, scheme, form, self.rhyme_usage)
        except RuntimeError:  # shut down meanwhile
            self._check_slots.release()
            raise EngineUnavailable() from None
        job.add_done_callback(lambda _: self._check_slots.release())  # run, failed or cancelled
        report = await asyncio.wrap_future(job)
        return report.to_dict()

    @property
    def rhyme_usage(self):
        """The loaded models' rhyme usage: `check` names rare readings (engine/prosody/usage.py)."""
        return self._poet.rhyme_usage

    async def swap(self, new_poet: Poet, challenger: Poet | None = None, route: Route | None = None) -> Poet:
        """Serve later batches with `new_poet` (and `challenger`, for the requests `route` gives it;
        None: no challenger); returns the old poet once no batch uses the old pair any more."""
        old = (self._poet, self._challenger)
        self._poet, self._challenger, self._route = new_poet, challenger, route if challenger is not None else None
        self.metrics.set_models(self.model_versions, self.challenger_versions)
        in_flight = self._in_flight
        if in_flight is not None and in_flight[0] == old and in_flight[1].get_loop() is self._loop:
            await asyncio.shield(in_flight[1])
        log.info("models swapped: %s -> %s (on trial: %s)", old[0].model_versions, new_poet.model_versions,
                 self.challenger_versions or "none")
        return old[0]

    def stats(self) -> dict:
        """A snapshot for benchmarks and logs."""
        batches = sum(self.batch_sizes.values())
        decoded = sum(size * n for size, n in self.batch_sizes.items())
        return {
            "batches": batches,
            "decoded": decoded,
            "mean_batch_size": decoded / batches if batches else 0.0,
            "max_batch_size": max(self.batch_sizes, default=0),
            "batch_sizes": dict(sorted(self.batch_sizes.items())),
            "queue_depth": self.queue_depth,
        }

    # -- the batcher ---------------------------------------------------------------------------

    def _ensure_batcher(self) -> None:
        if self._closed:
            raise EngineUnavailable()
        loop = asyncio.get_running_loop()
        if self._loop is loop and self._task is not None and not self._task.done():
            return
        if self._loop is not None and self._loop is not loop:
            if self._loop.is_running():
                raise RuntimeError("this AsyncEngine is serving on another running event loop")
            self._leave_loop()
        self._loop = loop
        self._wakeup = asyncio.Event()
        self._task = loop.create_task(self._batcher(), name="yinshi-batcher")

    def _leave_loop(self) -> None:
        """Drop the batcher of a loop that no longer runs (its waiting callers cannot resume)."""
        old = self._loop
        assert old is not None
        if self._task is not None and not self._task.done() and not old.is_closed():
            self._task.cancel()
        if not old.is_closed():
            for p in self._pending:
                p.ticket.cancel()
        self._pending, self._task, self._in_flight = [], None, None

    async def _batcher(self) -> None:
        try:
            while True:
                await self._wait_for_batch()
                batch, self._pending = take_batch(self._pending, self.options.max_batch_size, _gone)
                if batch:
                    await self._decode(batch)
        except asyncio.CancelledError:
            self._fail_pending(EngineUnavailable(), asyncio.get_running_loop())
            raise
        except Exception:  # a bug here must not leave callers waiting forever
            log.exception("the batcher failed")
            self._fail_pending(EngineUnavailable(), asyncio.get_running_loop())
            raise

    async def _wait_for_batch(self) -> None:
        """Wait for a live request, then until the batch is full or the oldest has waited max_wait_ms."""
        assert self._wakeup is not None
        loop = asyncio.get_running_loop()
        while True:
            self._pending = [p for p in self._pending if not _gone(p)]
            if self._pending:
                break
            self._wakeup.clear()
            await self._wakeup.wait()
        deadline = min(p.arrived for p in self._pending) + self.options.max_wait_ms / 1000
        while len(self._pending) < self.options.max_batch_size:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), remaining)
            except TimeoutError:
                break

    def _on_trial(self, batch: list[Pending[asyncio.Future]]) -> list[int]:
        """Which requests of the batch the challenger writes (their indices)."""
        challenger, route = self._challenger, self._route
        if challenger is None or route is None:
            return []
        trial = challenger.model_versions
        return [i for i, p in enumerate(batch)  # p.key[0]: the parsed generator name
                if p.key[0] in trial and route(p.key[0], p.request.route_key or f"request:{p.seq}")]

    async def _decode(self, batch: list[Pending[asyncio.Future]]) -> None:
        loop = asyncio.get_running_loop()
        poet, challenger, trial = self._poet, self._challenger, self._on_trial(batch)
        done = loop.create_future()
        self._in_flight = ((poet, challenger), done)
        self.batch_sizes[len(batch)] += 1
        self.metrics.batch_size.observe(len(batch))
        t0 = time.perf_counter()
        try:
            results = await loop.run_in_executor(
                self._executor, _write, poet, challenger, trial, [p.request for p in batch]
            )
        except asyncio.CancelledError:
            for p in batch:
                _answer(p.ticket, EngineUnavailable())
            raise
        except Exception as e:  # the whole batch failed: so does every request in it
            log.exception("a batch of %d failed", len(batch))
            for p in batch:
                _answer(p.ticket, e)
        else:
            for p, result in zip(batch, results, strict=True):
                _answer(p.ticket, result)
        finally:
            self.metrics.batch_seconds.observe(time.perf_counter() - t0)
            self._in_flight = None
            done.set_result(None)

    def _fail_pending(self, error: YinshiError, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Fail the waiting requests (only those of `loop` when given)."""
        keep: list[Pending[asyncio.Future]] = []
        failing: list[Pending[asyncio.Future]] = []
        for p in self._pending:
            (keep if loop is not None and p.ticket.get_loop() is not loop else failing).append(p)
        self._pending = keep
        for p in failing:
            owner = p.ticket.get_loop()
            if owner.is_closed():
                continue
            if owner is _running_loop():
                _answer(p.ticket, error)
            else:
                owner.call_soon_threadsafe(_answer, p.ticket, error)


def _write(poet: Poet, challenger: Poet | None, trial: list[int], requests: list[PoemRequest]) -> list:
    """The batch's poems (in the decode thread): the requests at `trial` by the challenger, the rest
    by the champions, in the batch's order. A challenger that fails has its share written by the
    champions (and is logged): a broken model on trial never fails a request."""
    if challenger is None or not trial:
        return _generate(poet, requests)
    out: list = [None] * len(requests)
    theirs = set(trial)
    mine = [i for i in range(len(requests)) if i not in theirs]
    try:
        written = _generate(challenger, [requests[i] for i in trial])
    except Exception:
        log.exception("the challenger failed a batch of %d; the champions write them", len(trial))
        mine, written, trial = list(range(len(requests))), [], []
    for i, r in zip(trial, written, strict=True):
        out[i] = r
    if mine:
        for i, r in zip(mine, _generate(poet, [requests[i] for i in mine]), strict=True):
            out[i] = r
    return out


def _generate(poet: Poet, requests: list[PoemRequest]) -> list:
    results = poet.generate_batch(requests)
    if len(results) != len(requests):
        raise RuntimeError(f"generate_batch answered {len(results)} of {len(requests)} requests")
    return results


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _answer(future: asyncio.Future, outcome: PoemResult | BaseException) -> None:
    """Resolve a caller's future unless it has gone (cancelled, timed out) or was answered already."""
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
