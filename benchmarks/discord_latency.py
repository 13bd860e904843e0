"""Benchmark: Discord end-to-end latency against the local fake Discord (no network).

Each request is a `/poem <keyword>` INTERACTION_CREATE sent on the fake gateway; its latency is the
time until the fake receives the poem with its ★ buttons (the interaction's response, or a followup
after a defer). The time to the first response is reported too (Discord wants it within 3 s). `--users N` users each send their requests one
after another, all N at once. The real bot stack runs: discord.py, the adapter, BotService, the
batching AsyncEngine over the trained models in `--model-dir` (default: settings.model_dir), and a
SQLite database in a temporary directory. `--engine replay` replays each keyword's first poem
(benchmarks/engines.py): what remains is the time a reply spends outside the model. Each row
carries the CPU time per reply and the load average, as the host may be shared. The fake Discord
and its users run in a process of their own, so that `cpu_ms_per_reply` is the bot's own (all its
threads) and the fake's is `fake_cpu_ms_per_reply`; `--same-process` runs them all in one process
(the fake then takes CPU and GIL time from the bot, and `cpu_ms_per_reply` counts both).

    python benchmarks/discord_latency.py --users 1 --users 50 --requests 200
    python benchmarks/discord_latency.py --engine replay --users 50 --requests 2000
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

import typer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.discord_adapter import run_discord  # noqa: E402
from app.settings import Settings, get_settings  # noqa: E402
from benchmarks.engines import engine_from  # noqa: E402
from bot.service import BotService  # noqa: E402
from storage.db import make_engine  # noqa: E402
from tests.fakes.discord_server import FakeDiscord  # noqa: E402

KEYWORDS = "春夏秋冬山水月风花雪江天云雨"


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0–100), linear between closest ranks."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


async def one_poem(fake: FakeDiscord, user: int, keyword: str, timeout: float) -> tuple[float, float]:
    """(seconds to the first response, seconds to the poem) for one `/poem keyword`."""
    interaction = fake.slash("poem", {"keyword": keyword}, user_id=str(10_000 + user), user_name=f"u{user}")
    token = interaction["token"]
    sent = await fake.dispatch_interaction(interaction)
    answer = await fake.answer_to(token, timeout)
    poem = answer.body.get("data", answer.body)  # a response carries its message in "data"
    if not poem.get("components"):
        raise RuntimeError(f"no poem for {keyword!r}: {poem.get('content', '')!r}")
    return fake.callbacks[token].at - sent, answer.at - sent


async def run_level(fake: FakeDiscord, users: int, requests: int, timeout: float) -> dict:
    per_user = max(1, requests // users)

    async def user_loop(u: int) -> list[tuple[float, float]]:
        return [
            await one_poem(fake, u, KEYWORDS[(u + i) % len(KEYWORDS)], timeout) for i in range(per_user)
        ]

    started, cpu = time.perf_counter(), time.process_time()
    results = [r for rs in await asyncio.gather(*(user_loop(u) for u in range(users))) for r in rs]
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    first = [d * 1000 for d, _ in results]
    total = [t * 1000 for _, t in results]
    return {
        "users": users,
        "requests": len(results),
        "reply_p50_ms": round(statistics.median(total), 1),
        "reply_p95_ms": round(percentile(total, 95), 1),
        "reply_max_ms": round(max(total), 1),
        "first_response_p50_ms": round(statistics.median(first), 1),
        "first_response_p95_ms": round(percentile(first, 95), 1),
        "throughput_per_s": round(len(results) / wall, 1),
        "cpu_ms_per_reply": round(cpu * 1000 / len(results), 2),  # of the process that runs the users
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


def drive(conn: Connection, levels: list[int], requests: int, warmup: int, timeout: float) -> None:
    """The users' side, in its own process: the fake Discord and the requests, so that the bot's
    process spends its CPU (and its GIL) on the bot alone. Sends the fake's API base, then for each
    level ("start", users) and ("row", row), waiting for the bot's CPU after each; ("done", None)."""

    async def users() -> None:
        async with FakeDiscord(heartbeat_interval_ms=41250) as fake:
            conn.send(("api", fake.api_base))
            await fake.wait_ready(timeout=30)
            await run_level(fake, 1, warmup, timeout)
            for n in levels:
                conn.send(("start", n))
                conn.recv()  # the bot's process has taken its CPU reading
                row = await run_level(fake, n, requests, timeout)
                row["fake_cpu_ms_per_reply"] = row.pop("cpu_ms_per_reply")
                conn.send(("row", row))
                conn.recv()
        conn.send(("done", None))

    try:
        asyncio.run(users())
    except BaseException as exc:
        conn.send(("failed", repr(exc)))
        raise


def bench_settings(settings: Settings, api_base: str, tmp: str, cards: bool) -> Settings:
    return settings.model_copy(
        update={
            "discord_bot_token": "bench-token",
            "discord_api_base_url": api_base,
            "database_url": f"sqlite:///{Path(tmp) / 'bench.db'}",
            "rate_limit_per_minute": 10**9,  # measure serving, not the per-user limiter
            "user_id_salt": "benchmark-salt-0123456789abcdef",  # the public default is refused
            "cards": cards,  # a picture card per poem (engine/cards), or text replies only
        }
    )


async def bench_split(
    settings: Settings, levels: list[int], requests: int, warmup: int, timeout: float, engine_spec: str,
    cards: bool,
) -> list[dict]:
    """The bot in this process, the fake Discord and its users in another (`drive`); each row's
    cpu_ms_per_reply is this process's: the bot's own."""
    here, there = multiprocessing.get_context("spawn").Pipe()
    users = multiprocessing.get_context("spawn").Process(
        target=drive, args=(there, levels, requests, warmup, timeout), daemon=True
    )
    users.start()

    async def receive() -> tuple[str, object]:
        kind, value = await asyncio.to_thread(here.recv)
        if kind == "failed":
            raise RuntimeError(f"the benchmark's users failed: {value}")
        return kind, value

    rows: list[dict] = []
    async with engine_from(engine_spec, settings) as engine:
        with tempfile.TemporaryDirectory() as tmp:
            _, api_base = await receive()
            s = bench_settings(settings, str(api_base), tmp, cards)
            db = make_engine(s.resolved_database_url)
            stop = asyncio.Event()
            bot = asyncio.create_task(run_discord(BotService(engine, db, s), s, stop))
            try:
                while (message := await receive())[0] != "done":
                    if message[0] == "start":
                        cpu = time.process_time()
                    else:
                        row = dict(message[1])  # type: ignore[call-overload]
                        row["cpu_ms_per_reply"] = round((time.process_time() - cpu) * 1000 / row["requests"], 2)
                        rows.append(row)
                    here.send(None)
            finally:
                stop.set()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(bot, 10)
                db.dispose()
                users.join(10)
    return rows


async def bench(
    settings: Settings, levels: list[int], requests: int, warmup: int, timeout: float, engine_spec: str,
    cards: bool,
) -> list[dict]:
    """Bot, fake Discord and users in this one process: cpu_ms_per_reply counts the fake's too."""
    async with FakeDiscord(heartbeat_interval_ms=41250) as fake, engine_from(engine_spec, settings) as engine:
        with tempfile.TemporaryDirectory() as tmp:
            s = bench_settings(settings, fake.api_base, tmp, cards)
            db = make_engine(s.resolved_database_url)
            stop = asyncio.Event()
            bot = asyncio.create_task(run_discord(BotService(engine, db, s), s, stop))
            try:
                await fake.wait_ready(timeout=30)
                await run_level(fake, 1, warmup, timeout)
                return [await run_level(fake, n, requests, timeout) for n in levels]
            finally:
                stop.set()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(bot, 10)
                db.dispose()


def main(
    users: list[int] = typer.Option([1, 50], help="concurrent users, one run per value"),
    requests: int = typer.Option(200, help="requests per run (split evenly over the users)"),
    warmup: int = typer.Option(10, help="requests before measuring"),
    model_dir: Path | None = typer.Option(None, help="trained models (default: settings.model_dir)"),
    device: str | None = typer.Option(None, help="cpu | cuda | auto (default: settings.device)"),
    timeout: float = typer.Option(60.0, help="seconds to wait for one poem"),
    engine: str = typer.Option("models", help="models | replay | module:callable(settings)"),
    cards: bool = typer.Option(False, help="a picture card with each poem (the bot's default) or text only"),
    same_process: bool = typer.Option(
        False, help="run the fake Discord and its users in the bot's process (they then share its CPU and GIL)"
    ),
) -> None:
    settings = get_settings()
    update = {k: v for k, v in {"model_dir": model_dir, "device": device}.items() if v is not None}
    settings = settings.model_copy(update=update)
    run = bench if same_process else bench_split
    for row in asyncio.run(run(settings, users, requests, warmup, timeout, engine, cards)):
        print(json.dumps(row, ensure_ascii=False))


if __name__ == "__main__":
    typer.run(main)
