"""The database engine: SQLite in WAL mode by default, any SQLAlchemy URL otherwise; its schema comes
from the Alembic migrations in storage/migrations, run on every start.

Calls through it are synchronous. The bot runs each database call in a worker thread
(`asyncio.to_thread`), one short Session per call, so the event loop never waits on disk.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection, Engine, event, inspect
from sqlalchemy.engine import make_url
from sqlmodel import create_engine

BUSY_TIMEOUT_MS = 5000
MIGRATIONS = Path(__file__).with_name("migrations")
FIRST_REVISION = "0001"  # the schema releases before the migrations made with create_all
MIGRATION_LOCK = 0x79696E736869  # PostgreSQL advisory lock: bots starting together migrate one at a time


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """Create the engine for `url` and bring its schema to the newest revision (`migrate`).

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
    migrate(engine)
    return engine


def migrate(engine: Engine, revision: str = "head") -> None:
    """`alembic upgrade` to `revision`, configured in code (no alembic.ini). A database made by a
    release before the migrations (its tables, no alembic_version) is first stamped at 0001, the
    schema it has. On SQLite foreign keys are off meanwhile: a batch migration copies tables, and
    dropping the old copy must not cascade. On PostgreSQL the whole upgrade is one transaction under
    an advisory lock."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    is_sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        if is_sqlite:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        elif engine.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
        try:
            config.attributes["connection"] = conn
            if _made_by_create_all(conn):
                command.stamp(config, FIRST_REVISION)
            command.upgrade(config, revision)
            conn.commit()
        finally:
            conn.rollback()  # after a failure; nothing to undo after the commit
            if is_sqlite:
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")


def _made_by_create_all(conn: Connection) -> bool:
    tables = set(inspect(conn).get_table_names())
    return "poems" in tables and "alembic_version" not in tables


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cur = dbapi_connection.cursor()
    try:
        cur.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
        # synchronous stays FULL (the default): a committed rating survives a power cut.
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA secure_delete=ON")  # deleted rows are zeroed, not left in free pages (/forget)
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    finally:
        cur.close()
