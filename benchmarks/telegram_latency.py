"""Benchmark: Telegram end-to-end latency, command in -> reply out.

The real python-telegram-bot Application (`build_application`), BotService, poem engine and a SQLite
database, against the fake Bot API server on 127.0.0.1. A latency is the time from a user's
`/poem <keyword>` being queued at the fake server to the bot's `sendMessage` reaching it. Each round,
`users` users send at the same moment; the first round is a warm-up and is not counted.

    python benchmarks/telegram_latency.py                       # 1 and 50 users, trained models
    python benchmarks/telegram_latency.py --users 1 10 50 --rounds 30
    python benchmarks/telegram_latency.py --no-rate-limiter     # without Telegram flood-limit pacing
    python benchmarks/telegram_latency.py --engine replay --no-rate-limiter
    python benchmarks/telegram_latency.py --engine mypkg.mod:factory

`--engine` names a callable taking Settings and returning a poem engine or an async context manager
that yields one (default `models`: `app.poets:open_engine`, the trained models in settings.model_dir;
`replay`: benchmarks/engines.py, each keyword's first poem replayed, so that what remains is the
time a reply spends outside the model). Each row carries the CPU time per reply (this process: bot
and fake server) and the load average, as the host may be shared.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.telegram_adapter import build_application, run_telegram  # noqa: E402
from app.settings import get_settings  # noqa: E402
from benchmarks.engines import engine_from  # noqa: E402
from bot.service import BotService  # noqa: E402
from storage.db import make_engine  # noqa: E402
from tests.fakes.telegram_server import FakeTelegram  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation."""
    return (
        statistics.quantiles(values, n=100, method="inclusive")[round(q) - 1]
        if len(values) > 1
        else values[0]
    )


async def one_round(fake: FakeTelegram, user_ids: range, keyword: str, cards: bool = False) -> list[float]:
    """All users send at once; the seconds until each one's reply reached the server."""
    mark = len(fake.calls)
    sent: dict[int, float] = {}
    for user in user_ids:
        sent[user] = time.perf_counter()
        fake.user_says(user, f"/poem {keyword}")
    replies = await asyncio.gather(
        *(
            fake.wait_for(
                "sendPhoto" if cards else "sendMessage",
                lambda c, u=user: c.params.get("chat_id") == u,
                after=mark,
                timeout=120,
            )
            for user in user_ids
        )
    )
    if any("reply_markup" not in r.result for r in replies):  # an error reply instead of a poem
        bad = next(r.result["text"] for r in replies if "reply_markup" not in r.result)
        raise RuntimeError(f"the bot did not answer with a poem: {bad!r}")
    return [reply.at - sent[user] for reply, user in zip(replies, user_ids, strict=True)]


async def bench(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with FakeTelegram() as fake:
            settings = get_settings().model_copy(
                update={
                    "telegram_bot_token": fake.token,
                    "telegram_api_base_url": fake.base_url,
                    "telegram_webhook_url": None,
                    "database_url": f"sqlite:///{Path(tmp) / 'bench.db'}",
                    "rate_limit_per_minute": 10**9,  # the per-user limit would refuse a benchmark
                    "user_id_salt": "benchmark-salt-0123456789abcdef",  # the public default is refused
                    "cards": args.cards,  # a picture card per poem (sendPhoto), or text replies only
                }
            )
            db = make_engine(settings.resolved_database_url)
            async with engine_from(args.engine, settings) as engine:
                service = BotService(engine, db, settings)
                options = {"rate_limiter": None} if args.no_rate_limiter else {}
                app = build_application(service, settings, **options)
                stop = asyncio.Event()
                task = asyncio.create_task(run_telegram(service, settings, stop, app=app))
                await fake.wait_for("deleteWebhook")
                print(
                    f"engine {args.engine} {getattr(engine, 'model_versions', '')}; "
                    f"rate limiter {'off' if args.no_rate_limiter else 'AIORateLimiter (30 msg/s)'}"
                )
                print(
                    f"{'users':>5} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'replies/s':>10} "
                    f"{'cpu ms/reply':>12} {'load':>6}"
                )
                for users in args.users:
                    user_ids = range(100_000, 100_000 + users)
                    await one_round(fake, user_ids, args.keyword, args.cards)  # warm-up
                    latencies: list[float] = []
                    started, cpu = time.perf_counter(), time.process_time()
                    for _ in range(args.rounds):
                        latencies += await one_round(fake, user_ids, args.keyword, args.cards)
                    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
                    print(
                        f"{users:>5} {len(latencies):>5} {percentile(latencies, 50) * 1e3:>8.1f} "
                        f"{percentile(latencies, 95) * 1e3:>8.1f} {max(latencies) * 1e3:>8.1f} "
                        f"{len(latencies) / elapsed:>10.1f} {cpu * 1000 / len(latencies):>12.2f} "
                        f"{os.getloadavg()[0]:>6.2f}"
                    )
                stop.set()
                await task
            db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, nargs="+", default=[1, 50], help="concurrent users per round")
    parser.add_argument("--rounds", type=int, default=20, help="measured rounds per user count")
    parser.add_argument("--keyword", default="春")
    parser.add_argument("--engine", default="models", help="models | replay | module:callable(settings) -> engine")
    parser.add_argument("--cards", action="store_true", help="a picture card with each poem (the bot's default)")
    parser.add_argument("--no-rate-limiter", action="store_true", help="build the bot without AIORateLimiter")
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
