"""SIGKILL during ratings: every rating the bot acknowledged is in the database afterwards.

A subprocess (tests/bot/rating_writer.py) rates poems through BotService with four concurrent users
and prints each acknowledgement once `rate` returned it; it is killed at a random moment, twice.
Afterwards each (user, poem) holds its last acknowledged score, or the score of the one rating that
user had in flight (stored, not yet acknowledged: allowed).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

from sqlmodel import Session, select

from bot.records import Records
from bot.replies import UserRef
from engine.request import PoemRequest, PoemResult
from storage import queries
from storage.db import make_engine
from storage.models import Rating, User
from tests.bot.helpers import SALT
from tests.bot.rating_writer import POEMS, USERS, score

ROOT = Path(__file__).resolve().parents[2]
ROUNDS = 2


def stored_scores(db) -> dict[tuple[int, int], int]:
    """(user, poem id) -> stored score, users by their number in rating_writer."""
    hashes = {
        queries.hash_user_id(platform="telegram", user_id=str(u), salt=SALT): u for u in range(USERS)
    }
    with Session(db) as s:
        rows = s.exec(select(User.user_hash, Rating.poem_id, Rating.score).join(Rating)).all()
    return {(hashes[h], poem): n for h, poem, n in rows}


def test_every_acknowledged_rating_survives_sigkill(tmp_path):
    url = f"sqlite:///{tmp_path / 'yinshi.db'}"
    db = make_engine(url)
    records = Records(db, SALT)
    owner = UserRef("telegram", "poet")
    poem_ids = [
        records.store_poem(owner, PoemRequest("春"), PoemResult(["春眠不觉晓，"], "wujue", "gan", "v", "春", i))
        for i in range(POEMS)
    ]
    rng = random.Random(os.getpid())
    acknowledged = 0
    for round_ in range(ROUNDS):
        before = stored_scores(db)
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.bot.rating_writer", url, SALT, str(round_), *map(str, poem_ids)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        assert child.stdout.readline() == "ready\n"
        kill_after = rng.randrange(50, 400)
        acks: list[tuple[int, int, int]] = []
        for line in child.stdout:
            kind, *fields = line.split()
            assert kind == "ack", line
            acks.append(tuple(map(int, fields)))
            if len(acks) == kill_after:
                child.send_signal(signal.SIGKILL)
                break
        child.wait(10)
        rest = child.stdout.read().split("\n")  # lines printed before the kill, not yet read
        acks += [tuple(map(int, line.split()[1:])) for line in rest if line.startswith("ack ")]
        acknowledged += len(acks)

        stored = stored_scores(db)
        expected = dict(before)
        per_user_count = {u: 0 for u in range(USERS)}
        for user, poem, n in acks:
            expected[user, poem] = n
            per_user_count[user] += 1
        for (user, poem), n in stored.items():
            k = per_user_count[user]  # the rating this user had in flight when killed
            in_flight = (poem_ids[k % POEMS], score(user, k, round_))
            assert n == expected.get((user, poem)) or (poem, n) == in_flight, (
                f"round {round_}: user {user} poem {poem} stored {n}, acknowledged {expected.get((user, poem))}"
            )
        assert set(expected) <= set(stored), "an acknowledged rating is missing"
    assert acknowledged >= ROUNDS * 50
    db.dispose()
