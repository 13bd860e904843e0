"""The bot's database work: poems, ratings, forgetting, statistics (storage.queries).

SQLAlchemy is synchronous, so `BotService` runs each of these in a worker thread
(`asyncio.to_thread`); each opens its own short Session and has committed when it returns. A
database still locked when its busy timeout runs out is a `DatabaseBusy` saying what was not done,
never a false acknowledgement.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from sqlalchemy import Engine, bindparam, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlmodel import Session, col

from bot.replies import UserRef
from engine.errors import YinshiError
from engine.request import PoemRequest, PoemResult
from storage import queries
from storage.models import Decoding, Poem, User

P = ParamSpec("P")
R = TypeVar("R")
SQLITE_BUSY = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}
# PostgreSQL: lock_not_available, deadlock_detected, serialization_failure, query_canceled (timeouts)
POSTGRES_BUSY = {"55P03", "40P01", "40001", "57014"}


class DatabaseBusy(YinshiError):
    """The database stayed locked (or every connection busy) past the timeout: nothing was written."""


def is_busy(exc: BaseException) -> bool:
    if isinstance(exc, PoolTimeout):
        return True
    if not isinstance(exc, OperationalError):
        return False
    orig = exc.orig
    if isinstance(orig, sqlite3.OperationalError):
        return getattr(orig, "sqlite_errorcode", None) in SQLITE_BUSY or "locked" in str(orig)
    return getattr(orig, "sqlstate", None) in POSTGRES_BUSY


def busy_means(zh: str, en: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """A busy database during this call raises DatabaseBusy(zh, en)."""

    def decorate(call: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(call)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return call(*args, **kwargs)
            except (OperationalError, PoolTimeout) as exc:
                if is_busy(exc):
                    raise DatabaseBusy(zh, en) from exc
                raise

        return wrapper

    return decorate


STORED_RESULT = ("keyword", "form", "model", "model_version", "seed", "acrostic", "latent")  # of a PoemResult
BUSY = ("数据库正忙，请稍后再试。", "The database is busy; please try again in a moment.")
POEM_NOT_SAVED = ("数据库正忙，这首诗没有保存，请再写一次。", "The database is busy: this poem was NOT saved. Please ask again.")
RATING_NOT_SAVED = ("数据库正忙，你的评分没有保存，请再评一次。", "The database is busy: your rating was NOT saved. Please try again.")
PREFERENCE_NOT_SAVED = ("数据库正忙，你的设置没有保存，请再试一次。", "The database is busy: your setting was NOT saved. Please try again.")
NOT_FORGOTTEN = ("数据库正忙，你的数据还没有删除，请再试一次。", "The database is busy: your data was NOT deleted yet. Please try again.")


# Users' /card and /script choices: four columns read on a bare connection (no ORM Session, no User
# entities), as every poem reads them first; concurrent poems read theirs in one query.
PREFERENCES = select(User.platform, User.user_hash, User.card, User.script).where(
    col(User.user_hash).in_(bindparam("hashes", expanding=True))
)

# app.settings' default and .env.example's placeholder: public, so their hashes can be searched
PUBLIC_SALTS = frozenset({"yinshi-default-salt-change-me", "change-me-to-a-long-random-string"})
MIN_SALT_CHARS = 16


class PublicSalt(YinshiError):
    """A chat platform must not start while user ids are hashed with a salt anyone knows."""

    def __init__(self, platform: str) -> None:
        super().__init__(
            f"拒绝启动 {platform}：用户 ID 的盐（YINSHI_USER_ID_SALT）是公开的默认值或太短（少于 {MIN_SALT_CHARS} 个字符），"
            "任何人都能由存下的哈希反查出用户。请在环境变量或 .env 中设置 YINSHI_USER_ID_SALT 为一个随机的秘密值，"
            '例如 python -c "import secrets; print(secrets.token_hex(32))" 的输出；设置后不要再改，否则老用户会变成新用户。',
            f"Refusing to start {platform}: the user-id salt (YINSHI_USER_ID_SALT) is the public default or "
            f"shorter than {MIN_SALT_CHARS} characters, so anyone could find users from their stored hashes. "
            "Set YINSHI_USER_ID_SALT in the environment or .env to a random secret, e.g. the output of "
            'python -c "import secrets; print(secrets.token_hex(32))"; keep it afterwards, or every user '
            "becomes a new one.",
        )


@dataclass(frozen=True)
class Preferences:
    """A user's stored choices; None: never chosen, the bot's default applies."""

    card: bool | None = None  # /card on|off
    script: str | None = None  # /script 繁|简: traditional | simplified


class Records:
    """Queries for one database; user ids are stored as hashes salted with `salt`."""

    def __init__(self, db: Engine, salt: str):
        self.db = db
        self.salt = salt
        # SQLite takes one writer at a time, and a writer that finds it taken sleeps in steps of up to
        # 100 ms; the bot's own writers queue here instead and go as soon as the last one is done.
        self._write_lock = threading.Lock() if db.dialect.name == "sqlite" else None

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        if self._write_lock is None:
            yield
            return
        with self._write_lock:
            yield

    @property
    def salt_is_public(self) -> bool:
        return self.salt in PUBLIC_SALTS or len(self.salt) < MIN_SALT_CHARS

    def _user(self, session: Session, user: UserRef) -> User:
        return queries.get_or_create_user(
            session=session, platform=user.platform, user_id=user.user_id, salt=self.salt
        )

    def store_poem(self, user: UserRef, request: PoemRequest, result: PoemResult) -> int:
        """Store the poem with the decoding settings of its request (scheme, strict, sampling)."""
        return self.store_poems([(user, request, result)])[0]

    @busy_means(*POEM_NOT_SAVED)
    def store_poems(self, poems: list[tuple[UserRef, PoemRequest, PoemResult]]) -> list[int]:
        """Store poems in one transaction (bot.group_commit gathers them); their ids, in order."""
        rows = [
            (
                user.platform,
                user.user_id,
                queries.NewPoem(
                    **{name: getattr(result, name) for name in STORED_RESULT},
                    text=result.simplified_text,  # as the model wrote it; the script shown is in `decoding`
                    decoding=Decoding.model_validate(request, from_attributes=True),
                ),
            )
            for user, request, result in poems
        ]
        for attempt in range(2):  # a user created meanwhile by another connection fails the first
            with self._writing(), Session(self.db) as session:
                try:
                    return queries.add_poems(session=session, poems=rows, salt=self.salt)
                except IntegrityError:
                    if attempt:
                        raise
        raise AssertionError("unreachable")

    def preferences(self, user: UserRef) -> Preferences:
        """The user's /card and /script choices (None where never chosen); a read, no user is created."""
        return self.preferences_of([user])[0]

    @busy_means(*BUSY)
    def preferences_of(self, users: list[UserRef]) -> list[Preferences]:
        """`preferences` of several users in one query (bot.group_commit gathers concurrent poems')."""
        keys = [
            (u.platform, queries.hash_user_id(platform=u.platform, user_id=u.user_id, salt=self.salt)) for u in users
        ]
        with self.db.connect() as conn:
            rows = conn.execute(PREFERENCES, {"hashes": sorted({h for _, h in keys})})
            found = {(platform, h): Preferences(card, script) for platform, h, card, script in rows}
        return [found.get(key, Preferences()) for key in keys]

    @busy_means(*PREFERENCE_NOT_SAVED)
    def set_preferences(self, user: UserRef, *, card: bool | None = None, script: str | None = None) -> Preferences:
        """Store the user's choice (None: unchanged); committed when it returns."""
        with self._writing(), Session(self.db) as session:
            found = queries.set_preferences(session=session, user=self._user(session, user), card=card, script=script)
            return Preferences(found.card, found.script)

    @busy_means(*BUSY)
    def last_poem(self, user: UserRef) -> Poem | None:
        with Session(self.db, expire_on_commit=False) as session:
            return queries.last_poem_of_user(session=session, user=self._user(session, user))

    @busy_means(*RATING_NOT_SAVED)
    def rate(self, user: UserRef, poem_id: int | None, score: int) -> tuple[int, int] | None:
        """(poem id, stored score), or None when there is no such poem (or no last poem)."""
        with self._writing(), Session(self.db) as session:
            db_user = self._user(session, user)
            if poem_id is None:
                last = queries.last_poem_of_user(session=session, user=db_user)
                if last is None:
                    return None
                poem_id = last.id
            elif queries.get_poem(session=session, poem_id=poem_id) is None:
                return None
            rating = queries.rate_poem(session=session, user=db_user, poem_id=poem_id, score=score)
            return poem_id, rating.score

    @busy_means(*NOT_FORGOTTEN)
    def forget(self, user: UserRef) -> queries.Forgotten:
        with self._writing(), Session(self.db) as session:
            return queries.forget_user(
                session=session, platform=user.platform, user_id=user.user_id, salt=self.salt
            )

    @busy_means(*BUSY)
    def stats(self) -> list[queries.ModelVersionStats]:
        with Session(self.db) as session:
            return queries.ratings_by_model_version(session=session)
