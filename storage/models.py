"""The database tables: users (with their preferences), poems, ratings and model versions.

Users are stored as a salted hash of their platform id, never the raw id. The schema is made by the
Alembic migrations in storage/migrations (storage/db.py runs them); a change here needs a new revision
there, and tests/storage/test_migrations.py fails until the two agree.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, BigInteger, CheckConstraint, Column, DateTime, UniqueConstraint, true
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def _time_field() -> datetime:
    return Field(default_factory=utcnow, sa_type=DateTime(timezone=True), nullable=False)


class User(SQLModel, table=True):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("platform", "user_hash"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=32)  # telegram | discord | console | http
    user_hash: str = Field(max_length=64, index=True)  # HMAC-SHA256(salt, "platform:user_id"), hex
    created_at: datetime = _time_field()
    # preferences (/card on|off, /script 繁|简); NULL: never chosen, the bot's default
    card: bool | None = None  # poems as a card (PNG) with the text, or text only
    script: str | None = Field(default=None, max_length=16)  # simplified | traditional


class Decoding(SQLModel):
    """How a poem was decoded: the fields of engine.request.PoemRequest of the same names
    (engine.request.DECODING), so that a rating can be tied to the settings that produced the poem.

    Poems stored before migration 0002 read scheme 'pingshui' and strict true (the defaults every
    front end used then) and NULL sampling settings: unknown, never guessed. `script` is the script
    the poem was shown in (its text is stored as the model wrote it, simplified); poems stored
    before migration 0003 read 'simplified', the only one there was. `candidates` is how many poems
    were drawn for the one kept (engine/decoding/rerank.py); poems stored before migration 0005 read 1,
    the only number there was; NULL: unknown. `words` and `plan` are the corpus-word and per-line plan
    weights; poems stored before migration 0006 read 0, as they were decoded.
    """

    scheme: str = Field(default="pingshui", max_length=16, sa_column_kwargs={"server_default": "pingshui"})
    strict: bool = Field(default=True, sa_column_kwargs={"server_default": true()})
    temperature: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    min_p: float | None = None
    theme: float | None = None
    parallel: float | None = None
    words: float | None = None
    plan: float | None = None
    candidates: int | None = None
    script: str = Field(default="simplified", max_length=16, sa_column_kwargs={"server_default": "simplified"})


class Poem(Decoding, table=True):
    __tablename__ = "poems"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    platform: str = Field(max_length=32)
    text: str
    keyword: str = Field(max_length=32)  # the keyword used (acrostic: the line heads)
    form: str = Field(max_length=16)  # wujue | qijue | wulv | qilv
    model: str = Field(max_length=16)  # gan | vae
    model_version: str = Field(max_length=64)
    acrostic: bool = False
    seed: int = Field(sa_type=BigInteger)  # 64-bit: any seed below engine.request.MAX_SEED (2^63)
    latent: list[float] | None = Field(default=None, sa_column=Column(JSON))  # VAE latent, for /more
    created_at: datetime = _time_field()


class Rating(SQLModel, table=True):
    __tablename__ = "ratings"
    __table_args__ = (
        UniqueConstraint("user_id", "poem_id"),
        CheckConstraint("score BETWEEN 1 AND 5", name="score_1_to_5"),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    poem_id: int = Field(foreign_key="poems.id", index=True, ondelete="CASCADE")
    score: int = Field(ge=1, le=5)
    created_at: datetime = _time_field()
    updated_at: datetime = _time_field()


class ModelVersion(SQLModel, table=True):
    """A trained checkpoint; the fine-tuning jobs register each one they write."""

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("name", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=16)  # gan | vae
    version: str = Field(max_length=64)
    path: str
    notes: str = ""
    active: bool = False
    created_at: datetime = _time_field()
