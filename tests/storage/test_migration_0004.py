"""Migration 0004 (poems.seed a 64-bit integer): every seed a request may take (engine.request:
0 <= seed < MAX_SEED = 2^63) is stored and read back, on SQLite and PostgreSQL; a database at 0003 is
upgraded keeping every row and then stores large seeds too."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlmodel import Session

from engine.request import MAX_SEED
from storage import queries as q
from storage.db import make_engine, migrate
from storage.models import Poem
from tests.storage.test_migrations import (
    HEAD,
    assert_schema_is_the_models,
    rows,
    version,
    write_first_release_rows,
)

LARGE_SEEDS = [2**31, 2**62, MAX_SEED - 1]  # INTEGER on PostgreSQL stops below 2^31


def store_and_read_seeds(url: str) -> list[int]:
    engine = make_engine(url)
    try:
        with Session(engine) as s:
            user = q.get_or_create_user(session=s, platform="telegram", user_id="1", salt="s")
            ids = [q.add_poem(session=s, user=user, text="春", keyword="春", form="wujue", model="gan",
                              model_version="v1", seed=seed).id for seed in LARGE_SEEDS]
        with Session(engine) as s:  # a fresh session: read back from the database, not the identity map
            return [s.get(Poem, i).seed for i in ids]
    finally:
        engine.dispose()


def test_every_seed_a_request_may_take_is_stored_and_read_back(database_url):
    assert store_and_read_seeds(database_url) == LARGE_SEEDS


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_a_database_at_0003_is_upgraded_keeping_every_row(database_url):
    old = create_engine(database_url)
    migrate(old, "0001")
    write_first_release_rows(old)
    if old.dialect.name == "postgresql":  # the rows above chose their ids; let the sequences follow
        with old.begin() as conn:
            for table in ("users", "poems", "ratings", "model_versions"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                  f"(SELECT max(id) FROM {table}))"))
    migrate(old, "0003")
    before = rows(old)
    old.dispose()

    engine = make_engine(database_url)  # upgrades to the newest revision
    try:
        assert version(engine) == HEAD
        assert_schema_is_the_models(engine)
        assert rows(engine) == before  # no row lost or changed, old seeds included
    finally:
        engine.dispose()
    assert store_and_read_seeds(database_url) == LARGE_SEEDS
