"""Ratings become labelled examples: the latest per user and poem, 4-5 ★ liked, 1-2 ★ disliked,
3 ★ neutral; a user who gives one score to everything counts for nothing, a flooder is capped;
the newest ratings are held out."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from learning import data as D
from storage import queries
from storage.db import make_engine


@pytest.fixture
def session(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'y.db'}")
    with Session(engine) as s:
        yield s
    engine.dispose()


def user(session, name):
    return queries.get_or_create_user(session=session, platform="console", user_id=name, salt="s")


def poem(session, who, text="春眠不觉晓，处处闻啼鸟。夜来风雨声，花落知多少。", model="gan"):
    return queries.add_poem(session=session, user=who, text=text, keyword="春", form="wujue", model=model,
                            model_version=f"{model}-v1", seed=1)


def test_labels_and_the_latest_rating_per_user_and_poem(session):
    a, b = user(session, "a"), user(session, "b")
    p1, p2, p3 = poem(session, a), poem(session, a), poem(session, a)
    queries.rate_poem(session=session, user=a, poem_id=p1.id, score=1)
    queries.rate_poem(session=session, user=a, poem_id=p1.id, score=5)  # changed their mind
    queries.rate_poem(session=session, user=b, poem_id=p1.id, score=2)
    queries.rate_poem(session=session, user=a, poem_id=p2.id, score=3)
    queries.rate_poem(session=session, user=b, poem_id=p3.id, score=4)
    ex = D.load_ratings(session=session, model="gan")
    got = {(e.user_id, e.poem_id): (e.score, e.label) for e in ex}
    assert got == {(a.id, p1.id): (5, 1), (b.id, p1.id): (2, 0), (a.id, p2.id): (3, None), (b.id, p3.id): (4, 1)}
    assert D.load_ratings(session=session, model="vae") == []
    assert ex[0].request().keyword == "春" and ex[0].request().seed == 1


def test_a_user_who_gives_one_score_to_everything_counts_for_nothing_and_a_flooder_is_capped(session):
    same, flood = user(session, "same"), user(session, "flood")
    others = [user(session, f"u{i}") for i in range(10)]
    for _ in range(8):
        queries.rate_poem(session=session, user=same, poem_id=poem(session, same).id, score=5)
    for i in range(60):
        queries.rate_poem(session=session, user=flood, poem_id=poem(session, flood).id, score=1 + 4 * (i % 2))
    for i, u in enumerate(others):
        queries.rate_poem(session=session, user=u, poem_id=poem(session, u).id, score=1 + (i % 5))
    rd = D.prepare(D.load_ratings(session=session, model="gan"), heldout_share=0.0)
    w = {e.user_id: e.weight for e in rd.train}
    assert w[same.id] == 0.0
    assert w[flood.id] == pytest.approx(D.FLOOD_FLOOR / 60)
    assert all(w[u.id] == 1.0 for u in others)
    assert rd.report["constant_users"] == 1 and rd.report["capped_users"] == 1


def test_the_newest_ratings_are_held_out_and_their_poems_kept_out_of_training(session):
    users = [user(session, f"u{i}") for i in range(4)]
    poems = [poem(session, users[0]) for _ in range(20)]
    for i, p in enumerate(poems):
        queries.rate_poem(session=session, user=users[i % 4], poem_id=p.id, score=1 if (i // 4) % 2 else 5)
    queries.rate_poem(session=session, user=users[1], poem_id=poems[0].id, score=4)  # an old poem, rated last
    rd = D.prepare(D.load_ratings(session=session, model="gan"), heldout_share=0.2)
    newest = max(e.rated_at for e in rd.train)
    assert all(e.rated_at >= newest for e in rd.heldout)
    assert len(rd.heldout) == 4
    assert poems[0].id not in {e.poem_id for e in rd.train}
