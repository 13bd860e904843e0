"""Migration 0003 (user preferences, the script a poem was shown in): a database at 0002 with users,
poems and ratings is upgraded in place with no row lost; old users have no preference yet (the bot's
defaults apply), old poems read 'simplified'; preferences then store and /forget removes them."""

from __future__ import annotations

from sqlalchemy import create_engine
from sqlmodel import Session

from storage import queries as q
from storage.db import make_engine, migrate
from storage.models import Poem, User
from tests.storage.test_migrations import assert_upgraded_in_place, write_first_release_rows


def test_a_database_at_0002_is_upgraded_keeping_every_row(tmp_path):
    url = f"sqlite:///{tmp_path / 'yinshi.db'}"
    old = create_engine(url)
    migrate(old, "0001")
    write_first_release_rows(old)
    migrate(old, "0002")
    assert_upgraded_in_place(old, url)  # to 0003 and the models, every row kept, old and new poems work

    engine = make_engine(url)
    try:
        with Session(engine) as s:
            users = [s.get(User, i) for i in (1, 2)]
            assert [(u.card, u.script) for u in users] == [(None, None), (None, None)]  # never chosen
            assert [s.get(Poem, i).script for i in (2, 3, 4)] == ["simplified"] * 3  # (1 was deleted there)

            q.set_preferences(session=s, user=users[0], card=False)
            q.set_preferences(session=s, user=users[0], script="traditional")  # card stays off
            s.expire_all()
            assert (s.get(User, 1).card, s.get(User, 1).script) == (False, "traditional")
            assert (s.get(User, 2).card, s.get(User, 2).script) == (None, None)
    finally:
        engine.dispose()


def test_forget_takes_the_preferences_with_the_user(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'yinshi.db'}")
    try:
        with Session(engine) as s:
            user = q.get_or_create_user(session=s, platform="telegram", user_id="9", salt="s")
            q.set_preferences(session=s, user=user, card=False, script="traditional")
            assert q.forget_user(session=s, platform="telegram", user_id="9", salt="s").user
            again = q.get_or_create_user(session=s, platform="telegram", user_id="9", salt="s")
            assert (again.card, again.script) == (None, None)
    finally:
        engine.dispose()
