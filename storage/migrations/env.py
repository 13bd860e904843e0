"""Alembic environment of the Yinshi database: the tables of storage/models.py (SQLModel.metadata).

At run time storage/db.py passes the connection in (no alembic.ini needed). To write a revision
after changing storage/models.py, autogenerate it against a database at the newest revision and
read it over before committing:

    .venv/bin/alembic -c storage/migrations/alembic.ini -x url=sqlite:///data/yinshi.db \\
        revision --autogenerate -m "poems: what changed"
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine
from sqlmodel import SQLModel

from storage import models  # noqa: F401  (registers the tables on SQLModel.metadata)

config = context.config
OPTIONS = dict(target_metadata=SQLModel.metadata, render_as_batch=True, compare_type=True)  # batch: SQLite


def run(connection) -> None:
    context.configure(connection=connection, **OPTIONS)
    with context.begin_transaction():
        context.run_migrations()


def database_url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("name the database: alembic -x url=sqlite:///data/yinshi.db ...")
    return url


if config.attributes.get("connection") is not None:
    run(config.attributes["connection"])
elif context.is_offline_mode():
    context.configure(url=database_url(), literal_binds=True, **OPTIONS)
    with context.begin_transaction():
        context.run_migrations()
else:
    with create_engine(database_url()).connect() as connection:
        run(connection)
        connection.commit()
