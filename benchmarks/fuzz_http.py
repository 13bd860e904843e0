"""Benchmark: fuzz the HTTP API of `yinshi serve` with hostile requests and count what comes back.

The requests come from tests/engine/serving/http_fuzz.py (seeded: the same --seed sends the same
requests). Without --url a `yinshi serve` is started on a free port of 127.0.0.1 over --model-dir,
its log captured; with --url an already running server is fuzzed (pass its log with --log).
Printed: answers by status, 5xx, answers that are not strict JSON (text/plain, bare NaN), error
bodies without both a Chinese and an English message, and the server's log: lines, bytes, ERROR
lines and tracebacks.

    python benchmarks/fuzz_http.py --n 100000 --concurrency 32
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import typer
from yarl import URL

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.engine.serving.http_fuzz import FuzzRequest, fuzz_requests, problems  # noqa: E402


async def send(session: aiohttp.ClientSession, base: str, req: FuzzRequest, tally: dict, samples: dict) -> None:
    url = URL(base + req.path, encoded=True)
    try:
        async with session.request(req.method, url, data=req.body,
                                   headers={"Content-Type": "application/json"}) as resp:
            status, ctype, raw = resp.status, resp.content_type, await resp.read()
    except (aiohttp.ClientError, TimeoutError) as e:
        tally["connection errors"] += 1
        samples.setdefault("connection error", (req, repr(e)))
        return
    tally[f"HTTP {status}"] += 1
    for problem in problems(req, status, ctype, raw):
        tally[problem] += 1
        samples.setdefault(problem, (req, raw[:300]))


async def fuzz(base: str, requests: list[FuzzRequest], concurrency: int) -> tuple[collections.Counter, dict]:
    tally: collections.Counter = collections.Counter()
    samples: dict = {}
    queue = iter(requests)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        async def worker() -> None:
            for req in queue:
                await send(session, base, req, tally, samples)
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return tally, samples


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model_dir: Path, log: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "YINSHI_MODEL_DIR": str(model_dir), "YINSHI_HTTP_HOST": "127.0.0.1"}
    cmd = [sys.executable, "-c", "from app.cli import app; app()", "serve", "--port", str(port)]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)


async def wait_healthy(base: str, server: subprocess.Popen | None, limit_s: float = 300) -> None:
    started = time.monotonic()
    async with aiohttp.ClientSession() as session:
        while time.monotonic() - started < limit_s:
            if server is not None and server.poll() is not None:
                raise SystemExit(f"the server exited with {server.returncode}")
            try:
                async with session.get(base + "/healthz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.5)
    raise SystemExit("the server never became healthy")


def log_figures(text: str) -> dict:
    lines = text.splitlines()
    return {
        "lines": len(lines),
        "bytes": len(text.encode("utf-8", "replace")),
        "ERROR lines": sum(" ERROR " in ln for ln in lines),
        "tracebacks": text.count("Traceback (most recent call last)"),
    }


@contextlib.contextmanager
def a_server(url: str | None, model_dir: Path | None, log: Path | None = None):
    """Yields (base URL, its log file): `url` as it is, or a `yinshi serve` started for the duration."""
    if url is not None:
        asyncio.run(wait_healthy(url, None))
        yield url, log
        return
    from app.settings import get_settings

    port = free_port()
    log = Path(tempfile.mkdtemp(prefix="yinshi-bench-")) / "serve.log"
    server = start_server(model_dir or get_settings().model_dir, log, port)
    try:
        asyncio.run(wait_healthy(f"http://127.0.0.1:{port}", server))
        yield f"http://127.0.0.1:{port}", log
    finally:
        server.terminate()
        server.wait(30)


def main(
    n: int = typer.Option(10_000, help="requests to send"),
    seed: int = typer.Option(0, help="seed of the request generator"),
    concurrency: int = typer.Option(16, help="requests in flight at once"),
    url: str = typer.Option(None, help="fuzz this running server instead of starting one"),
    log: Path = typer.Option(None, help="with --url: the server's log file, to count its lines"),
    model_dir: Path = typer.Option(None, help="models of the started server (default: settings.model_dir)"),
) -> None:
    requests = fuzz_requests(n, seed)
    with a_server(url, model_dir, log) as (base, log_path):
        before = log_path.stat().st_size if log_path and log_path.exists() else 0
        started = time.perf_counter()
        tally, samples = asyncio.run(fuzz(base, requests, concurrency))
        elapsed = time.perf_counter() - started
    kinds = collections.Counter(r.kind for r in requests)
    print(f"{n} requests (seed {seed}, {dict(kinds)}) in {elapsed:.1f}s, {n / elapsed:.0f}/s")
    for key, count in sorted(tally.items()):
        print(f"  {key:26s} {count}")
    if log_path is not None and log_path.exists():
        with log_path.open("rb") as f:
            f.seek(before)
            text = f.read().decode("utf-8", "replace")
        print("server log:", ", ".join(f"{k} {v}" for k, v in log_figures(text).items()))
    for what, (req, detail) in samples.items():
        print(f"first {what}: {req.method} {req.path} {req.body[:120]!r} -> {detail!r}")


if __name__ == "__main__":
    typer.run(main)
