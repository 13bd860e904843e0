"""The bot's database work: poems, ratings, forgetting, statistics (storage.queries).

SQLAlchemy is synchronous, so `BotService` runs each of these in a worker thread
(`asyncio.to_thread`); each opens its own short Session and has committed when it returns.
"""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import Session

from bot.replies import UserRef
from engine.request import PoemRequest, PoemResult
from storage import queries
from storage.models import Decoding, Poem, User


class Records:
    """Queries for one database; user ids are stored as hashes salted with `salt`."""

    def __init__(self, db: Engine, salt: str):
        self.db = db
        self.salt = salt

    def _user(self, session: Session, user: UserRef) -> User:
        return queries.get_or_create_user(
            session=session, platform=user.platform, user_id=user.user_id, salt=self.salt
        )

    def store_poem(self, user: UserRef, request: PoemRequest, result: PoemResult) -> int:
        """Store the poem with the decoding settings of its request (scheme, strict, sampling)."""
        with Session(self.db) as session:
            poem = queries.add_poem(
                session=session,
                user=self._user(session, user),
                text=result.text,
                keyword=result.keyword,
                form=result.form,
                model=result.model,
                model_version=result.model_version,
                seed=result.seed,
                acrostic=result.acrostic,
                latent=result.latent,
                decoding=Decoding.model_validate(request, from_attributes=True),
            )
            assert poem.id is not None
            return poem.id

    def last_poem(self, user: UserRef) -> Poem | None:
        with Session(self.db, expire_on_commit=False) as session:
            return queries.last_poem_of_user(session=session, user=self._user(session, user))

    def rate(self, user: UserRef, poem_id: int | None, score: int) -> tuple[int, int] | None:
        """(poem id, stored score), or None when there is no such poem (or no last poem)."""
        with Session(self.db) as session:
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

    def forget(self, user: UserRef) -> queries.Forgotten:
        with Session(self.db) as session:
            return queries.forget_user(
                session=session, platform=user.platform, user_id=user.user_id, salt=self.salt
            )

    def stats(self) -> list[queries.ModelVersionStats]:
        with Session(self.db) as session:
            return queries.ratings_by_model_version(session=session)
