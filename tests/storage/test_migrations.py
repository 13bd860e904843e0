"""Migrations: a database of the first release (create_all, no alembic_version) is upgraded in place
with no row lost; a fresh database is exactly storage/models.py; the same on PostgreSQL when one
answers (the `postgres_url` fixture of tests/conftest.py: a fresh schema per test)."""

from __future__ import annotations

import sqlite3

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect, text
from sqlmodel import Session, SQLModel, select

from storage import queries as q
from storage.db import make_engine, migrate
from storage.models import Decoding, Poem, Rating, User

HEAD = "0006"  # the newest revision in storage/migrations/versions

# What SQLModel.metadata.create_all wrote on SQLite before the migrations (storage/models.py at the
# first release), verbatim.
FIRST_RELEASE_SQLITE = """
CREATE TABLE users (
	id INTEGER NOT NULL, platform VARCHAR(32) NOT NULL, user_hash VARCHAR(64) NOT NULL,
	created_at DATETIME NOT NULL, PRIMARY KEY (id), UNIQUE (platform, user_hash)
);
CREATE INDEX ix_users_user_hash ON users (user_hash);
CREATE TABLE model_versions (
	id INTEGER NOT NULL, name VARCHAR(16) NOT NULL, version VARCHAR(64) NOT NULL, path VARCHAR NOT NULL,
	notes VARCHAR NOT NULL, active BOOLEAN NOT NULL, created_at DATETIME NOT NULL, PRIMARY KEY (id),
	UNIQUE (name, version)
);
CREATE TABLE poems (
	id INTEGER NOT NULL, user_id INTEGER NOT NULL, platform VARCHAR(32) NOT NULL, text VARCHAR NOT NULL,
	keyword VARCHAR(32) NOT NULL, form VARCHAR(16) NOT NULL, model VARCHAR(16) NOT NULL,
	model_version VARCHAR(64) NOT NULL, acrostic BOOLEAN NOT NULL, seed INTEGER NOT NULL, latent JSON,
	created_at DATETIME NOT NULL, PRIMARY KEY (id),
	FOREIGN KEY(user_id) REFERENCES users (id) ON DELETE CASCADE
);
CREATE INDEX ix_poems_user_id ON poems (user_id);
CREATE TABLE ratings (
	id INTEGER NOT NULL, user_id INTEGER NOT NULL, poem_id INTEGER NOT NULL, score INTEGER NOT NULL,
	created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL, PRIMARY KEY (id), UNIQUE (user_id, poem_id),
	CONSTRAINT score_1_to_5 CHECK (score BETWEEN 1 AND 5),
	FOREIGN KEY(user_id) REFERENCES users (id) ON DELETE CASCADE,
	FOREIGN KEY(poem_id) REFERENCES poems (id) ON DELETE CASCADE
);
CREATE INDEX ix_ratings_user_id ON ratings (user_id);
CREATE INDEX ix_ratings_poem_id ON ratings (poem_id);
"""
NOW = "2025-06-01 12:00:00.000000"
FIRST_RELEASE_ROWS = [
    "INSERT INTO users VALUES (1, 'telegram', 'aa', :now), (2, 'discord', 'bb', :now)",
    "INSERT INTO poems VALUES (1, 1, 'telegram', '春眠不觉晓，\n处处闻啼鸟。', '春', 'wujue', 'gan', 'gan-1', FALSE, 7,"
    " NULL, :now), (2, 1, 'telegram', '明月', '月', 'qijue', 'vae', 'vae-1', TRUE, 8, '[0.5, -1.0]', :now),"
    " (3, 2, 'discord', '秋', '秋', 'wulv', 'gan', 'gan-1', FALSE, 9, NULL, :now)",
    "INSERT INTO ratings VALUES (1, 1, 1, 5, :now, :now), (2, 2, 1, 3, :now, :now), (3, 2, 3, 4, :now, :now)",
    "INSERT INTO model_versions VALUES (1, 'gan', 'gan-1', 'models/gan', '', TRUE, :now)",
]


def rows(engine: Engine) -> dict[str, list[tuple]]:
    """Every row of the first release's columns, per table."""
    old_columns = {
        "users": "id, platform, user_hash",
        "poems": "id, user_id, platform, text, keyword, form, model, model_version, acrostic, seed, latent",
        "ratings": "id, user_id, poem_id, score",
        "model_versions": "id, name, version, path, notes, active",
    }
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT {c} FROM {t} ORDER BY id")).all() for t, c in old_columns.items()}


def write_first_release_rows(engine: Engine) -> None:
    with engine.begin() as conn:
        for statement in FIRST_RELEASE_ROWS:
            conn.execute(text(statement), {"now": NOW})


def assert_schema_is_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata)
    assert diff == []


def assert_upgraded_in_place(old: Engine, url: str) -> None:
    """make_engine(url) upgrades the first release's database behind `old` to the models, keeping
    every row; the bot's queries then work on old and new poems alike."""
    before = rows(old)
    old.dispose()
    engine = make_engine(url)
    try:
        assert version(engine) == HEAD
        assert_schema_is_the_models(engine)
        assert rows(engine) == before  # no row lost or changed
        check_old_and_new_poems(engine)
    finally:
        engine.dispose()


def check_old_and_new_poems(engine: Engine) -> None:
    with Session(engine) as s:
        old = s.exec(select(Poem).order_by(Poem.id)).all()
        assert [(p.scheme, p.strict, p.temperature, p.top_k) for p in old] == [("pingshui", True, None, None)] * 3
        assert [p.candidates for p in old] == [1] * 3  # every poem before 0005 was its request's only one
        assert [(p.words, p.plan) for p in old] == [(0.0, 0.0)] * 3  # none before 0006 had the word bonus or a plan
        assert old[1].latent == [0.5, -1.0]
        user = s.get(User, 1)
        assert q.last_poem_of_user(session=s, user=user).id == 2
        stats = {(st.model, st.model_version): st.count for st in q.ratings_by_model_version(session=s)}
        assert stats == {("gan", "gan-1"): 3}
        new = q.add_poem(session=s, user=user, text="江", keyword="江", form="wujue", model="gan",
                         model_version="gan-2", seed=1, decoding=Decoding(scheme="xinyun", strict=False,
                                                                          temperature=0.9, top_k=0,
                                                                          candidates=4))
        assert (new.id, new.scheme, new.strict, new.temperature, new.candidates) == (4, "xinyun", False, 0.9, 4)
        forgotten = q.forget_user(session=s, platform="telegram", user_id="x", salt="s")
        assert forgotten.user is False  # hashes differ: nothing of the old users is touched
        s.delete(s.get(Poem, 1))
        s.commit()
        assert s.get(Rating, 1) is None and s.get(Rating, 3) is not None  # ON DELETE CASCADE still holds


def version(engine: Engine) -> str:
    with engine.connect() as conn:
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()


# -- SQLite -------------------------------------------------------------------------------------


def test_a_first_release_database_is_upgraded_in_place(tmp_path):
    path = tmp_path / "yinshi.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(FIRST_RELEASE_SQLITE)
    url = f"sqlite:///{path}"
    old = create_engine(url)
    write_first_release_rows(old)
    assert_upgraded_in_place(old, url)


def test_revision_0001_is_the_first_release_schema(tmp_path):
    with sqlite3.connect(tmp_path / "old.db") as conn:
        conn.executescript(FIRST_RELEASE_SQLITE)
    old, new = create_engine(f"sqlite:///{tmp_path / 'old.db'}"), create_engine(f"sqlite:///{tmp_path / 'new.db'}")
    migrate(new, "0001")

    def schema(engine: Engine) -> dict:
        i = inspect(engine)
        return {
            t: (
                [(c["name"], str(c["type"]), c["nullable"]) for c in i.get_columns(t)],
                sorted((x["name"], tuple(x["column_names"])) for x in i.get_indexes(t)),
                sorted(tuple(u["column_names"]) for u in i.get_unique_constraints(t)),
                sorted((tuple(f["constrained_columns"]), f["referred_table"], f["options"].get("ondelete"))
                       for f in i.get_foreign_keys(t)),
                sorted((c["name"], c["sqltext"]) for c in i.get_check_constraints(t)),
            )
            for t in sorted(set(i.get_table_names()) - {"alembic_version"})
        }

    assert schema(new) == schema(old)
    old.dispose()
    new.dispose()


def test_a_fresh_database_is_exactly_the_models(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    try:
        assert version(engine) == HEAD
        assert_schema_is_the_models(engine)
    finally:
        engine.dispose()


def test_a_second_start_changes_nothing(tmp_path):
    url = f"sqlite:///{tmp_path / 'yinshi.db'}"
    make_engine(url).dispose()
    engine = make_engine(url)
    try:
        assert version(engine) == HEAD
    finally:
        engine.dispose()


# -- PostgreSQL ---------------------------------------------------------------------------------


def test_postgres_fresh_database_is_exactly_the_models(postgres_url):
    engine = make_engine(postgres_url)
    try:
        assert version(engine) == HEAD
        assert_schema_is_the_models(engine)
    finally:
        engine.dispose()


def test_postgres_first_release_database_is_upgraded_in_place(postgres_url):
    old = create_engine(postgres_url)
    migrate(old, "0001")  # the first release's tables, as create_all made them: no alembic_version
    with old.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))
    write_first_release_rows(old)
    with old.begin() as conn:  # the rows above chose their ids; let the sequences follow
        for table in ("users", "poems", "ratings", "model_versions"):
            conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"))
    assert_upgraded_in_place(old, postgres_url)
