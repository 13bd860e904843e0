"""Storage: ratings, privacy (hashed ids, forgetting) and durability, each test on a fresh SQLite file
and a fresh PostgreSQL schema (tests/conftest.py `database_url`; SQLite's file layout on SQLite only)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, func, select

from storage import queries as q
from storage.db import make_engine
from storage.models import Poem, Rating, User

SALT = "test-salt"
RAW_ID = "tg-user-98765432123"


sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def db(database_url) -> Engine:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def _user(s: Session, user_id: str = RAW_ID, platform: str = "telegram") -> User:
    return q.get_or_create_user(session=s, platform=platform, user_id=user_id, salt=SALT)


def _poem(s: Session, user: User, **kw) -> Poem:
    args = dict(
        text="春眠不觉晓，\n处处闻啼鸟。",
        keyword="春",
        form="wujue",
        model="gan",
        model_version="v1",
        seed=7,
    )
    args.update(kw)
    return q.add_poem(session=s, user=user, **args)


def _count(s: Session, model) -> int:
    return s.exec(select(func.count()).select_from(model)).one()


def test_sqlite_file_in_wal_mode_with_foreign_keys(tmp_path):
    db = make_engine(f"sqlite:///{tmp_path / 'sub' / 'yinshi.db'}")
    assert (tmp_path / "sub" / "yinshi.db").exists()  # the directory was created
    with db.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() > 0
        assert conn.execute(text("PRAGMA secure_delete")).scalar() == 1
    db.dispose()


def test_get_or_create_user_is_stable_and_per_platform(db):
    with Session(db) as s:
        a = _user(s)
        assert _user(s).id == a.id
        other = _user(s, platform="discord")
        assert other.id != a.id
        assert _count(s, User) == 2


@sqlite_only
def test_raw_user_id_never_stored(db, tmp_path):
    with Session(db) as s:
        user = _user(s)
        poem = _poem(s, user)
        q.rate_poem(session=s, user=user, poem_id=poem.id, score=4)
        assert user.user_hash != RAW_ID and len(user.user_hash) == 64
        assert user.user_hash == q.hash_user_id(platform="telegram", user_id=RAW_ID, salt=SALT)
        assert user.user_hash != q.hash_user_id(platform="telegram", user_id=RAW_ID, salt="other-salt")
    db.dispose()  # checkpoint the WAL into the file
    blob = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    assert RAW_ID.encode() not in blob
    assert b"98765432123" not in blob


def test_rating_upsert_one_per_user_and_poem(db):
    with Session(db) as s:
        user = _user(s)
        poem = _poem(s, user)
        first = q.rate_poem(session=s, user=user, poem_id=poem.id, score=2)
        created, updated = first.created_at, first.updated_at
        again = q.rate_poem(session=s, user=user, poem_id=poem.id, score=5)
        assert again.id == first.id
        assert again.score == 5
        assert again.created_at == created  # the first rating's time is kept
        assert again.updated_at > updated
        assert _count(s, Rating) == 1
        assert q.get_rating(session=s, user=user, poem_id=poem.id).score == 5
        # another user's rating of the same poem is a separate row
        q.rate_poem(session=s, user=_user(s, "someone-else"), poem_id=poem.id, score=1)
        assert _count(s, Rating) == 2


def test_duplicate_rating_rejected_by_database(db):
    with Session(db) as s:
        user = _user(s)
        poem = _poem(s, user)
        q.rate_poem(session=s, user=user, poem_id=poem.id, score=3)
        s.add(Rating(user_id=user.id, poem_id=poem.id, score=4))
        with pytest.raises(IntegrityError):
            s.commit()


@pytest.mark.parametrize("score", [0, 6, -1, 3.5, True])
def test_rating_out_of_range_rejected(db, score):
    with Session(db) as s:
        user = _user(s)
        poem = _poem(s, user)
        with pytest.raises(ValueError):
            q.rate_poem(session=s, user=user, poem_id=poem.id, score=score)
        assert _count(s, Rating) == 0


def test_rating_a_missing_poem_fails(db):
    with Session(db) as s:
        with pytest.raises(IntegrityError):
            q.rate_poem(session=s, user=_user(s), poem_id=999, score=3)


def test_ratings_survive_reopening(database_url):
    first = make_engine(database_url)
    with Session(first) as s:
        user = _user(s)
        poem = _poem(s, user, latent=[0.25, -1.5])
        q.rate_poem(session=s, user=user, poem_id=poem.id, score=4)
        poem_id = poem.id
    first.dispose()
    second = make_engine(database_url)
    with Session(second) as s:
        user = _user(s)
        assert q.get_rating(session=s, user=user, poem_id=poem_id).score == 4
        assert q.last_poem_of_user(session=s, user=user).latent == [0.25, -1.5]
    second.dispose()


def test_forget_deletes_everything_about_the_user_and_nothing_else(db):
    with Session(db) as s:
        me, other = _user(s, "me"), _user(s, "other")
        my_poems = [_poem(s, me), _poem(s, me, keyword="月")]
        other_poem = _poem(s, other, keyword="山")
        q.rate_poem(session=s, user=me, poem_id=my_poems[0].id, score=5)
        q.rate_poem(session=s, user=me, poem_id=other_poem.id, score=2)
        q.rate_poem(session=s, user=other, poem_id=other_poem.id, score=4)
        q.rate_poem(session=s, user=other, poem_id=my_poems[1].id, score=3)  # a rating of my poem
        other_id, other_poem_id = other.id, other_poem.id

        gone = q.forget_user(session=s, platform="telegram", user_id="me", salt=SALT)

        assert gone.user and gone.poems == 2 and gone.ratings == 3
        s.expire_all()
        assert q.find_user(session=s, platform="telegram", user_id="me", salt=SALT) is None
        assert [u.id for u in s.exec(select(User)).all()] == [other_id]
        assert [p.id for p in s.exec(select(Poem)).all()] == [other_poem_id]
        remaining = s.exec(select(Rating)).all()
        assert [(r.user_id, r.poem_id, r.score) for r in remaining] == [(other_id, other_poem_id, 4)]
        # forgetting again is harmless; the user can come back as a new row
        assert q.forget_user(session=s, platform="telegram", user_id="me", salt=SALT).user is False
        assert q.last_poem_of_user(session=s, user=_user(s, "me")) is None


def test_last_poem_of_user(db):
    with Session(db) as s:
        me = _user(s)
        assert q.last_poem_of_user(session=s, user=me) is None
        _poem(s, me, keyword="春")
        _poem(s, _user(s, "other"), keyword="秋")
        newest = _poem(s, me, keyword="月", model="vae")
        assert q.last_poem_of_user(session=s, user=me).id == newest.id


def test_ratings_by_model_version(db):
    with Session(db) as s:
        users = [_user(s, f"u{i}") for i in range(3)]
        gan = _poem(s, users[0], model="gan", model_version="v1")
        vae = _poem(s, users[0], model="vae", model_version="v2")
        for u, score in zip(users, (5, 4, 4), strict=True):
            q.rate_poem(session=s, user=u, poem_id=gan.id, score=score)
        q.rate_poem(session=s, user=users[1], poem_id=vae.id, score=1)
        _poem(s, users[2], model="gan", model_version="v0")  # unrated: not listed
        stats = {(r.model, r.model_version): r for r in q.ratings_by_model_version(session=s)}
        assert set(stats) == {("gan", "v1"), ("vae", "v2")}
        g = stats["gan", "v1"]
        assert g.count == 3 and g.mean == pytest.approx(13 / 3)
        assert g.distribution == {1: 0, 2: 0, 3: 0, 4: 2, 5: 1}
        assert stats["vae", "v2"].distribution[1] == 1


def test_rated_poems_for_training(db):
    with Session(db) as s:
        a, b = _user(s, "a"), _user(s, "b")
        p1 = _poem(s, a, text="一", model="gan")
        p2 = _poem(s, a, text="二", model="vae", acrostic=True, keyword="春夏秋冬")
        _poem(s, a, text="三")  # unrated
        q.rate_poem(session=s, user=a, poem_id=p1.id, score=2)
        q.rate_poem(session=s, user=b, poem_id=p1.id, score=5)
        q.rate_poem(session=s, user=b, poem_id=p2.id, score=4)
        rows = q.rated_poems_for_training(session=s)
        assert [(r.text, r.mean_rating, r.n_ratings) for r in rows] == [("一", 3.5, 2), ("二", 4.0, 1)]
        assert rows[1].keyword == "春夏秋冬" and rows[1].acrostic and rows[1].form == "wujue"
        assert [r.text for r in q.rated_poems_for_training(session=s, model="vae")] == ["二"]
        assert [r.text for r in q.rated_poems_for_training(session=s, min_ratings=2)] == ["一"]


def test_register_model_version_keeps_one_active(db):
    with Session(db) as s:
        v1 = q.register_model_version(session=s, name="gan", version="v1", path="/m/gan1.pt")
        q.register_model_version(session=s, name="vae", version="v1", path="/m/vae1.pt")
        v2 = q.register_model_version(
            session=s, name="gan", version="v2", path="/m/gan2.pt", notes="fine-tuned"
        )
        s.refresh(v1)
        assert not v1.active and v2.active
        assert q.active_model_version(session=s, name="gan").version == "v2"
        assert q.active_model_version(session=s, name="vae").version == "v1"
        again = q.register_model_version(session=s, name="gan", version="v2", path="/m/gan2b.pt")
        assert again.id == v2.id and again.path == "/m/gan2b.pt"


@pytest.mark.parametrize("poem_id", [0, -1, 2**31, 2**63, 10**40])
def test_an_id_no_id_column_can_hold_is_no_poem(db, poem_id):
    """Not an OverflowError (SQLite, 2^63) or a NumericValueOutOfRange (PostgreSQL INTEGER, 2^31)."""
    with Session(db) as s:
        assert q.get_poem(session=s, poem_id=poem_id) is None
