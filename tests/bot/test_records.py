"""A stored poem carries the decoding settings of the request that wrote it, so a rating can be tied
to them (engine.request.DECODING: scheme, strict and the sampling settings)."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
from sqlmodel import Session, select

from bot.records import DatabaseBusy, Records
from bot.replies import UserRef
from bot.service import BotService
from engine.request import DECODING, PoemRequest, PoemResult
from storage import queries
from storage.db import make_engine
from storage.models import Decoding, Poem, Rating
from tests.bot.helpers import ALICE, UnreachableEngine, assert_bilingual_error

BOB = UserRef("telegram", "2002", "bob")
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def bot_database_url(database_url) -> str:
    """Every test here runs on SQLite and on PostgreSQL (tests/conftest.py)."""
    return database_url


def test_the_poem_row_records_every_decoding_field_of_its_request(tiny_poet, db, settings):
    assert tuple(Decoding.model_fields) == DECODING  # one column per declared field
    request = PoemRequest("江", form="qijue", model="vae", scheme="xinyun", strict=False, temperature=0.8,
                          top_k=20, top_p=0.95, min_p=0.05, theme=0.5, parallel=0.0, words=2.5, plan=1.0, seed=5)
    [result] = tiny_poet.generate_batch([request])
    poem_id = Records(db, settings.user_id_salt).store_poem(ALICE, request, result)
    with Session(db) as s:
        poem = s.get(Poem, poem_id)
        assert poem is not None and poem.text == result.text
        assert {name: getattr(poem, name) for name in DECODING} == {name: getattr(request, name) for name in DECODING}


VERSE = ["孤舟蓑笠翁，", "独钓寒江雪。", "千山鸟飞绝，", "万径人踪灭。"]


@sqlite_only
async def test_forget_leaves_nothing_of_the_user_in_the_database_files(tmp_path, settings, db):
    """After /forget, neither the SQLite file nor its write-ahead log holds the user's poem or hash,
    while the bot keeps running (no checkpoint at shutdown to rely on)."""
    service = BotService(UnreachableEngine(), db, settings)
    records = service.records
    request = PoemRequest("雪", form="wujue")
    result = PoemResult(VERSE, "wujue", "gan", "v-test", "雪", 1)
    poem_id = await asyncio.to_thread(records.store_poem, ALICE, request, result)
    assert not (await service.rate(ALICE, poem_id, 5)).error
    other = await asyncio.to_thread(records.store_poem, BOB, request, PoemResult(["其他"], "wujue", "gan", "v", "雪", 2))
    user_hash = queries.hash_user_id(platform=ALICE.platform, user_id=ALICE.user_id, salt=settings.user_id_salt)
    files = [tmp_path / "yinshi.db", tmp_path / "yinshi.db-wal"]
    assert VERSE[0].encode() in b"".join(f.read_bytes() for f in files if f.exists())  # where to look

    reply = await service.forget(ALICE)

    assert not reply.error and "poems: 1" in reply.text
    for f in files:
        blob = f.read_bytes() if f.exists() else b""
        for line in VERSE:
            assert line.encode() not in blob, f"{line} is still in {f.name}"
        assert user_hash.encode() not in blob, f"the user's hash is still in {f.name}"
    with Session(db) as s:
        assert s.get(Poem, other) is not None  # the other user's poem is untouched


@sqlite_only
async def test_a_database_locked_past_the_busy_timeout_says_the_rating_was_not_saved(
    tmp_path, settings, monkeypatch
):
    monkeypatch.setattr("storage.db.BUSY_TIMEOUT_MS", 200)  # instead of 5 s
    db = make_engine(settings.resolved_database_url)
    service = BotService(UnreachableEngine(), db, settings)
    request = PoemRequest("雪", form="wujue")
    poem_id = await asyncio.to_thread(
        service.records.store_poem, ALICE, request, PoemResult(VERSE, "wujue", "gan", "v-test", "雪", 1)
    )
    assert (await service.rate(ALICE, poem_id, 2)).rating == 2
    writer = sqlite3.connect(tmp_path / "yinshi.db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another process holds the write lock for longer than the timeout
    try:
        rated = await service.rate(ALICE, poem_id, 5)
        forgot = await service.forget(ALICE)
        with pytest.raises(DatabaseBusy) as poem:  # BotService answers a poem request with this
            await service.poems.write((ALICE, request, PoemResult(VERSE, "wujue", "gan", "v-test", "雪", 2)))
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert "poem was NOT saved" in poem.value.en and "没有保存" in poem.value.zh
    for reply, what in ((rated, "rating was NOT saved"), (forgot, "NOT deleted")):
        assert_bilingual_error(reply)
        assert what in reply.text and "busy" in reply.text and "正忙" in reply.text
    assert rated.rating is None and rated.poem_id is None  # nothing that looks like an acknowledgement
    with Session(db) as s:
        assert s.exec(select(Rating.score)).all() == [2]  # the earlier rating stands
    assert (await service.rate(ALICE, poem_id, 5)).rating == 5  # and once the lock is gone, it works
    db.dispose()


def test_concurrent_poems_read_and_store_each_users_own_rows_in_order(tiny_poet, db, settings):
    """The bot reads preferences and stores poems a group at a time: each user gets their own
    choices (a stranger the defaults), and each poem its own id, in the order asked, users new or not."""
    records = Records(db, settings.user_id_salt)
    carol = UserRef("discord", "2002", "carol")  # BOB's id on another platform: another user
    records.set_preferences(ALICE, card=False, script="traditional")
    records.set_preferences(BOB, script="simplified")
    got = records.preferences_of([BOB, carol, ALICE, BOB])
    assert [(p.card, p.script) for p in got] == [(None, "simplified"), (None, None), (False, "traditional"),
                                                 (None, "simplified")]
    requests = [PoemRequest(k, seed=i) for i, k in enumerate("春夏秋")]
    results = tiny_poet.generate_batch(requests)
    who = [carol, ALICE, carol]  # carol is new: created once, for both of her poems
    ids = records.store_poems(list(zip(who, requests, results, strict=True)))
    assert ids == sorted(ids) and len(set(ids)) == 3
    with Session(db) as s:
        rows = [s.get(Poem, i) for i in ids]
        assert [p.keyword for p in rows if p] == ["春", "夏", "秋"]
        assert [p.text for p in rows if p] == [r.simplified_text for r in results]
        assert rows[0].user_id == rows[2].user_id != rows[1].user_id  # type: ignore[union-attr]
