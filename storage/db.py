"""The database engine: SQLite in WAL mode by default, any SQLAlchemy URL otherwise.

Calls through it are synchronous. The bot runs each database call in a worker thread
(`asyncio.to_thread`), one short Session per call, so the event loop never waits on disk.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel, create_engine

from storage import models  # noqa: F401  (registers the tables on SQLModel.metadata)

BUSY_TIMEOUT_MS = 5000


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """Create the engine for `url` and the tables it lacks.

    For a SQLite file the directory is created, and every connection gets WAL journaling,
    enforced foreign keys and a busy timeout (writers wait instead of failing at once).
    """
    parsed = make_url(url)
    is_sqlite = parsed.get_backend_name() == "sqlite"
    connect_args: dict = {}
    if is_sqlite:
        # The bot's worker threads share the pool; SQLite serialises writers itself.
        connect_args = {"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000}
        if parsed.database and parsed.database != ":memory:" and not parsed.database.startswith("file:"):
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, echo=echo, connect_args=connect_args, pool_pre_ping=not is_sqlite)
    if is_sqlite:
        event.listen(engine, "connect", _sqlite_pragmas)
    SQLModel.metadata.create_all(engine)
    return engine


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cur = dbapi_connection.cursor()
    try:
        cur.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
        # synchronous stays FULL (the default): a committed rating survives a power cut.
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    finally:
        cur.close()
