"""Group commit (bot/group_commit.py): poems stored while another group is being written share one
transaction; each request still gets its own poem id, and a row that cannot be stored fails alone.
On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from bot.group_commit import GroupCommit
from bot.records import Records
from bot.replies import UserRef
from engine.request import PoemRequest, PoemResult
from storage import queries
from storage.models import Poem, User
from tests.bot.helpers import SALT

USERS = [UserRef("telegram", str(7000 + i)) for i in range(40)]


@pytest.fixture
def bot_database_url(database_url) -> str:
    return database_url


def poem_for(user: UserRef, n: int) -> tuple[UserRef, PoemRequest, PoemResult]:
    text = f"第{n}首，"
    return user, PoemRequest("春"), PoemResult([text], "wujue", "gan", "v-test", "春", n)


async def test_concurrent_poems_share_commits_and_each_gets_its_own_id(db):
    records = Records(db, SALT)
    writer = GroupCommit(records.store_poems)
    ids = await asyncio.gather(*(writer.write(poem_for(u, n)) for n, u in enumerate(USERS)))
    assert len(set(ids)) == len(USERS)
    assert sum(writer.groups) == len(USERS) and len(writer.groups) < len(USERS)  # some rows shared a commit
    with Session(db) as s:
        for n, (user, poem_id) in enumerate(zip(USERS, ids, strict=True)):
            poem = s.get(Poem, poem_id)
            owner = queries.find_user(session=s, platform=user.platform, user_id=user.user_id, salt=SALT)
            assert poem.text == f"第{n}首，" and poem.user_id == owner.id  # each poem to its own user
        assert len(s.exec(select(User)).all()) == len(USERS)  # one row per user, made in the group


async def test_a_row_that_cannot_be_stored_fails_alone(db):
    records = Records(db, SALT)
    writer = GroupCommit(records.store_poems)
    bad = (USERS[0], PoemRequest("春"), PoemResult(["x"], None, "gan", "v", "春", 1))  # type: ignore[arg-type]
    good = [poem_for(u, n) for n, u in enumerate(USERS[1:6])]
    results = await asyncio.gather(writer.write(bad), *(writer.write(g) for g in good), return_exceptions=True)
    assert isinstance(results[0], IntegrityError)  # a poem without a form: NOT NULL
    assert all(isinstance(r, int) for r in results[1:])
    with Session(db) as s:
        assert sorted(p.text for p in s.exec(select(Poem)).all()) == sorted(g[2].text for g in good)
