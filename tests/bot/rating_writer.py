"""The process tests/bot/test_durability.py kills: USERS users rate POEMS poems through BotService as
fast as they can, and each acknowledgement the service returns is printed ("ack USER POEM SCORE")
only after `rate` returned it, as an adapter would send it.

    python -m tests.bot.rating_writer DATABASE_URL SALT ROUND
"""

from __future__ import annotations

import asyncio
import sys

from app.settings import Settings
from bot.replies import UserRef
from bot.service import BotService
from storage.db import make_engine
from tests.bot.helpers import UnreachableEngine

USERS = 4
POEMS = 8


def score(user: int, k: int, round_: int) -> int:
    """Consecutive ratings of a poem by a user differ, so a lost one shows."""
    return (k + user + round_) % 5 + 1


async def rate_forever(service: BotService, user: int, poem_ids: list[int], round_: int) -> None:
    ref = UserRef("telegram", str(user))
    for k in range(10**9):
        poem_id, n = poem_ids[k % len(poem_ids)], score(user, k, round_)
        reply = await service.rate(ref, poem_id, n)
        if reply.rating != n:
            print(f"error {reply.text!r}", flush=True)
            return
        print(f"ack {user} {poem_id} {n}", flush=True)


async def main(url: str, salt: str, round_: int, poem_ids: list[int]) -> None:
    settings = Settings(_env_file=None, database_url=url, user_id_salt=salt, rate_limit_per_minute=10**9)
    service = BotService(UnreachableEngine(), make_engine(url), settings)
    print("ready", flush=True)
    await asyncio.gather(*(rate_forever(service, u, poem_ids, round_) for u in range(USERS)))


if __name__ == "__main__":
    url, salt, round_, *ids = sys.argv[1:]
    asyncio.run(main(url, salt, int(round_), [int(i) for i in ids]))
