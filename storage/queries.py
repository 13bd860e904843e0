"""Plain query functions. Each takes a Session (never creates one) and keyword-only arguments.

Functions that write commit before they return, so a caller may tell the user it is saved.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass, field

from sqlalchemy import Table, delete, func, insert, or_, text
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Session, col, select

from storage.models import Decoding, ModelVersion, Poem, Rating, User, utcnow

log = logging.getLogger(__name__)
USERS: Table = User.__table__  # type: ignore[attr-defined]
POEMS: Table = Poem.__table__  # type: ignore[attr-defined]
MAX_ID = 2**31 - 1  # the largest id the id columns hold on every database (PostgreSQL INTEGER)


def hash_user_id(*, platform: str, user_id: str, salt: str) -> str:
    """HMAC-SHA256 of "platform:user_id" keyed by the salt, as hex: the only form a user id is stored in."""
    msg = f"{platform}:{user_id}".encode()
    return hmac.new(salt.encode(), msg, hashlib.sha256).hexdigest()


def find_user(*, session: Session, platform: str, user_id: str, salt: str) -> User | None:
    h = hash_user_id(platform=platform, user_id=user_id, salt=salt)
    return session.exec(select(User).where(User.platform == platform, User.user_hash == h)).first()


def get_or_create_user(*, session: Session, platform: str, user_id: str, salt: str) -> User:
    user = find_user(session=session, platform=platform, user_id=user_id, salt=salt)
    if user is not None:
        return user
    user = User(platform=platform, user_hash=hash_user_id(platform=platform, user_id=user_id, salt=salt))
    session.add(user)
    try:
        session.commit()
    except IntegrityError:  # created meanwhile by a concurrent request
        session.rollback()
        found = find_user(session=session, platform=platform, user_id=user_id, salt=salt)
        assert found is not None
        return found
    session.refresh(user)
    return user


def set_preferences(*, session: Session, user: User, card: bool | None = None, script: str | None = None) -> User:
    """Store a user's preferences (/card on|off, /script 繁|简); an argument left None is left as is."""
    if card is not None:
        user.card = card
    if script is not None:
        user.script = script
    session.add(user)
    session.commit()
    session.refresh(user)
    return user


@dataclass(frozen=True)
class NewPoem:
    """A poem to store, all but its user. `decoding`: the settings it was written with (None:
    unknown sampling settings, the default scheme and strict)."""

    text: str
    keyword: str
    form: str
    model: str
    model_version: str
    seed: int
    acrostic: bool = False
    latent: list[float] | tuple[float, ...] | None = None
    decoding: Decoding | None = None

    def row(self, user: User) -> Poem:
        return Poem(**self.columns(user.id, user.platform))  # type: ignore[arg-type]

    def columns(self, user_id: int | None, platform: str) -> dict:
        """The poems row's columns but its id and created_at."""
        fields = {f: getattr(self, f) for f in ("text", "keyword", "form", "model", "model_version", "seed", "acrostic")}
        latent = list(self.latent) if self.latent is not None else None
        decoding = (self.decoding or Decoding()).model_dump()
        return {**decoding, **fields, "latent": latent, "user_id": user_id, "platform": platform}


def add_poem(*, session: Session, user: User, **fields) -> Poem:
    """Store a poem of `user`; `fields` are NewPoem's."""
    poem = NewPoem(**fields).row(user)
    session.add(poem)
    session.commit()
    session.refresh(poem)
    return poem


def add_poems(*, session: Session, poems: list[tuple[str, str, NewPoem]], salt: str) -> list[int]:
    """Store poems, each (platform, raw user id, poem), in one transaction (one disk flush for them
    all), creating their users as needed; their ids, in order. IntegrityError when another
    connection created one of the users meanwhile (nothing is stored then: try again).

    Rows go in as one multi-row INSERT … RETURNING per table (no ORM objects: the bot stores every
    poem it writes through here, and the ORM's unit of work cost more than the database)."""
    hashes = {(pl, uid): hash_user_id(platform=pl, user_id=uid, salt=salt) for pl, uid, _ in poems}
    user_ids: dict[tuple[str, str], int] = {}
    for platform in {platform for platform, _ in hashes}:
        wanted = [h for (pl, _), h in hashes.items() if pl == platform]
        found = session.execute(
            select(User.user_hash, User.id).where(User.platform == platform, col(User.user_hash).in_(wanted))
        )
        user_ids.update({(platform, h): uid for h, uid in found})
    now = utcnow()
    missing = sorted({(pl, h) for (pl, _), h in hashes.items()} - user_ids.keys())
    if missing:
        made = session.execute(
            insert(USERS).returning(USERS.c.platform, USERS.c.user_hash, USERS.c.id, sort_by_parameter_order=True),
            [{"platform": pl, "user_hash": h, "created_at": now} for pl, h in missing],
        )
        user_ids.update({(pl, h): uid for pl, h, uid in made})
    rows = [{**poem.columns(user_ids[pl, hashes[pl, uid]], pl), "created_at": now} for pl, uid, poem in poems]
    ids = list(session.execute(insert(POEMS).returning(POEMS.c.id, sort_by_parameter_order=True), rows).scalars())
    session.commit()
    return ids


def get_poem(*, session: Session, poem_id: int) -> Poem | None:
    """The poem, or None; an id no id column can hold is no poem (not an OverflowError)."""
    if not 0 < poem_id <= MAX_ID:
        return None
    return session.get(Poem, poem_id)


def last_poem_of_user(*, session: Session, user: User) -> Poem | None:
    stmt = select(Poem).where(Poem.user_id == user.id).order_by(col(Poem.id).desc()).limit(1)
    return session.exec(stmt).first()


def get_rating(*, session: Session, user: User, poem_id: int) -> Rating | None:
    stmt = select(Rating).where(Rating.user_id == user.id, Rating.poem_id == poem_id)
    return session.exec(stmt).first()


def rate_poem(*, session: Session, user: User, poem_id: int, score: int) -> Rating:
    """Store the user's rating of a poem (1–5); a second rating of the same poem replaces the first.

    Commits before returning. ValueError for a score outside 1–5; IntegrityError for a missing poem.
    """
    if not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 5:
        raise ValueError(f"score must be an integer from 1 to 5, got {score!r}")
    for _ in range(2):  # a concurrent first rating of the same poem makes the insert fail once
        rating = get_rating(session=session, user=user, poem_id=poem_id)
        if rating is None:
            rating = Rating(user_id=user.id, poem_id=poem_id, score=score)
        else:
            rating.score = score
            rating.updated_at = utcnow()
        session.add(rating)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            if get_poem(session=session, poem_id=poem_id) is None:
                raise
            continue
        session.refresh(rating)
        return rating
    raise RuntimeError("could not store the rating")  # pragma: no cover - needs two lost races


@dataclass(frozen=True)
class Forgotten:
    poems: int  # poems deleted
    ratings: int  # ratings deleted: the user's own and any of their poems
    user: bool  # whether a user row existed


def forget_user(*, session: Session, platform: str, user_id: str, salt: str) -> Forgotten:
    """Delete everything stored about a user: their ratings, their poems (with any ratings of
    those poems) and the user row. Other users' rows and poems are untouched."""
    user = find_user(session=session, platform=platform, user_id=user_id, salt=salt)
    if user is None:
        return Forgotten(poems=0, ratings=0, user=False)
    own_poems = select(Poem.id).where(Poem.user_id == user.id)
    ratings = session.execute(
        delete(Rating).where(or_(Rating.user_id == user.id, col(Rating.poem_id).in_(own_poems)))
    )
    poems = session.execute(delete(Poem).where(Poem.user_id == user.id))
    session.execute(delete(User).where(User.id == user.id))
    session.commit()
    purge_deleted(session)
    return Forgotten(poems=poems.rowcount, ratings=ratings.rowcount, user=True)


FORGET_TABLES = ("ratings", "poems", "users")  # what forget_user deletes from


def purge_deleted(session: Session) -> None:
    """After forget_user: clear the deleted rows out of where the database still keeps them.
    SQLite: copy the write-ahead log into the database file and empty it (in the file itself
    `secure_delete` has zeroed them; storage/db.py). PostgreSQL: VACUUM the tables, which prunes the
    dead row versions from their pages (a plain VACUUM: it blocks no reader or writer, and the space
    it frees is reused by the next rows written there)."""
    bind = session.get_bind()
    if bind.dialect.name == "sqlite":
        busy, _, _ = session.execute(text("PRAGMA wal_checkpoint(TRUNCATE)")).one()
        if busy:  # a reader held on past the busy timeout; the next checkpoint empties the log
            log.warning("the SQLite write-ahead log could not be emptied after /forget; it will be soon")
    elif bind.dialect.name == "postgresql":
        try:  # VACUUM cannot run inside a transaction
            with bind.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql(f"VACUUM {', '.join(FORGET_TABLES)}")
        except SQLAlchemyError as e:  # the rows are deleted all the same; autovacuum prunes them later
            log.warning("VACUUM after /forget failed (%s); autovacuum will prune the rows later", type(e).__name__)


@dataclass(frozen=True)
class ModelVersionStats:
    model: str
    model_version: str
    count: int
    mean: float
    distribution: dict[int, int] = field(default_factory=dict)  # score -> number of ratings


def ratings_by_model_version(*, session: Session) -> list[ModelVersionStats]:
    """Number, mean and 1–5 distribution of ratings per (model, version), for /stats."""
    stmt = (
        select(Poem.model, Poem.model_version, Rating.score, func.count())
        .join(Rating, col(Rating.poem_id) == Poem.id)
        .group_by(Poem.model, Poem.model_version, Rating.score)
    )
    dists: dict[tuple[str, str], dict[int, int]] = {}
    for model, version, score, n in session.exec(stmt).all():
        dists.setdefault((model, version), {s: 0 for s in range(1, 6)})[score] = n
    out = []
    for (model, version), dist in sorted(dists.items()):
        count = sum(dist.values())
        mean = sum(s * n for s, n in dist.items()) / count
        out.append(ModelVersionStats(model, version, count, mean, dist))
    return out


@dataclass(frozen=True)
class RatedPoem:
    poem_id: int
    text: str
    form: str
    keyword: str
    model: str
    model_version: str
    acrostic: bool
    mean_rating: float
    n_ratings: int


def rated_poems_for_training(
    *, session: Session, model: str | None = None, min_ratings: int = 1
) -> list[RatedPoem]:
    """Every poem with at least `min_ratings` ratings and its mean rating (what fine-tuning reads)."""
    mean = func.avg(Rating.score)
    count = func.count(col(Rating.id))
    stmt = (
        select(Poem, mean, count)
        .join(Rating, col(Rating.poem_id) == Poem.id)
        .group_by(col(Poem.id))
        .having(count >= min_ratings)
        .order_by(col(Poem.id))
    )
    if model is not None:
        stmt = stmt.where(Poem.model == model)
    return [
        RatedPoem(
            poem_id=p.id,
            text=p.text,
            form=p.form,
            keyword=p.keyword,
            model=p.model,
            model_version=p.model_version,
            acrostic=p.acrostic,
            mean_rating=float(m),
            n_ratings=int(n),
        )
        for p, m, n in session.exec(stmt).all()
    ]


def register_model_version(
    *, session: Session, name: str, version: str, path: str, notes: str = "", active: bool = True
) -> ModelVersion:
    """Record a checkpoint (or update the record of the same name and version). With active=True it
    becomes the only active version of that model."""
    mv = session.exec(
        select(ModelVersion).where(ModelVersion.name == name, ModelVersion.version == version)
    ).first()
    if mv is None:
        mv = ModelVersion(name=name, version=version, path=path, notes=notes)
    else:
        mv.path, mv.notes = path, notes
    if active:
        for other in session.exec(
            select(ModelVersion).where(ModelVersion.name == name, col(ModelVersion.active))
        ).all():
            other.active = False
            session.add(other)
    mv.active = active
    session.add(mv)
    session.commit()
    session.refresh(mv)
    return mv


def active_model_version(*, session: Session, name: str) -> ModelVersion | None:
    stmt = select(ModelVersion).where(ModelVersion.name == name, col(ModelVersion.active))
    return session.exec(stmt.order_by(col(ModelVersion.created_at).desc())).first()
