"""The asyncio front of the generators: requests from many users are decoded together in batches.

Each `generate` call becomes a waiting record and a Future. One background task (the batcher)
waits for work, gives late-comers up to `max_wait_ms` to join, takes a batch (engine.serving.batching),
runs `Poet.generate_batch` in the engine's single decode thread and answers each Future with its
poem or its own error; a failure of the whole batch fails every request of that batch. The queue is
bounded (a full queue answers Overloaded at once) and every request has a deadline
(RequestTimeout). `check` runs prosody checks on their own small thread pool with its own bound
(a full one answers Overloaded), so a flood of checks cannot starve the poems. `swap` replaces the
models while serving: the batch in flight finishes on the old poet, later batches use the new one.
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

    def set_models(self, versions: dict[str, str]) -> None:
        self.model_info.clear()
        for model, version in versions.items():
            self.model_info.labels(model=model, version=version).set(1)


def _gone(p: Pending[asyncio.Future]) -> bool:
    return p.ticket.done()  # cancelled (caller left or timed out) or already answered


class AsyncEngine:
    """Batched, non-blocking poem generation over a `Poet`. Use `async with AsyncEngine(poet):`."""

    def __init__(self, poet: Poet, options: EngineOptions | None = None):
        self.options = options or EngineOptions()
        self._poet = poet
        self._pending: list[Pending[asyncio.Future]] = []
        self._seq = itertools.count()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="yinshi-decode")
        self._checker = ThreadPoolExecutor(self.options.check_workers, thread_name_prefix="yinshi-check")
        self._check_slots = threading.BoundedSemaphore(self.options.max_checks)  # released by the worker
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self._wakeup: asyncio.Event | None = None
        self._in_flight: tuple[Poet, asyncio.Future] | None = None  # (its poet, done when it ends)
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

    async def swap(self, new_poet: Poet) -> Poet:
        """Serve later batches with `new_poet`; returns the old poet once no batch uses it any more."""
        old, self._poet = self._poet, new_poet
        self.metrics.set_models(new_poet.model_versions)
        in_flight = self._in_flight
        if in_flight is not None and in_flight[0] is old and in_flight[1].get_loop() is self._loop:
            await asyncio.shield(in_flight[1])
        log.info("models swapped: %s -> %s", old.model_versions, new_poet.model_versions)
        return old

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

    async def _decode(self, batch: list[Pending[asyncio.Future]]) -> None:
        loop = asyncio.get_running_loop()
        poet = self._poet
        done = loop.create_future()
        self._in_flight = (poet, done)
        self.batch_sizes[len(batch)] += 1
        self.metrics.batch_size.observe(len(batch))
        t0 = time.perf_counter()
        try:
            results = await loop.run_in_executor(
                self._executor, poet.generate_batch, [p.request for p in batch]
            )
            if len(results) != len(batch):
                raise RuntimeError(f"generate_batch answered {len(results)} of {len(batch)} requests")
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
