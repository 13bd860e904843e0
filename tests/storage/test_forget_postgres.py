"""/forget on PostgreSQL: the deleted rows are gone from the table's pages, not only invisible (a
VACUUM prunes the dead row versions; storage.queries.purge_deleted). Read with pageinspect, the
server's view of the raw pages; skipped where the extension cannot be created."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session, select

from storage import queries as q
from storage.db import make_engine
from storage.models import Poem, Rating

SALT = "test-salt"
MARK = "FORGOTTENPOEM"  # ASCII, so its bytes are plain in the page


def pages_hold(engine: Engine, table: str, needle: bytes) -> bool:
    with engine.connect() as conn:
        n = conn.execute(text(f"SELECT pg_relation_size('{table}') / current_setting('block_size')::int")).scalar()
        return any(needle in conn.execute(text(f"SELECT public.get_raw_page('{table}', {i})")).scalar()
                   for i in range(n))


@pytest.fixture
def pg(postgres_url) -> Engine:
    engine = make_engine(postgres_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS pageinspect SCHEMA public"))
    except Exception as e:  # noqa: BLE001 (any refusal: not a superuser, extension not shipped)
        engine.dispose()
        pytest.skip(f"pageinspect is not available: {e}")
    yield engine
    engine.dispose()


def test_forget_leaves_no_trace_of_the_poems_in_the_pages(pg):
    with Session(pg) as s:
        me = q.get_or_create_user(session=s, platform="telegram", user_id="me", salt=SALT)
        other = q.get_or_create_user(session=s, platform="telegram", user_id="other", salt=SALT)
        mine = q.add_poem(session=s, user=me, text=f"{MARK}春眠不觉晓", keyword="春", form="wujue",
                          model="gan", model_version="v1", seed=1)
        for i in range(20):  # rows written after mine: the page is compacted over it
            q.add_poem(session=s, user=other, text=f"处处闻啼鸟{i}", keyword="鸟", form="wujue",
                       model="gan", model_version="v1", seed=i)
        q.rate_poem(session=s, user=me, poem_id=mine.id, score=5)
        assert pages_hold(pg, "poems", MARK.encode())  # the check can see a poem

        gone = q.forget_user(session=s, platform="telegram", user_id="me", salt=SALT)

        assert gone.user and gone.poems == 1 and gone.ratings == 1
        assert len(s.exec(select(Poem)).all()) == 20 and s.exec(select(Rating)).all() == []
    assert not pages_hold(pg, "poems", MARK.encode())
