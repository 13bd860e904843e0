"""The bot with the tiny engine from tests/conftest.py: poems rendered and stored, forms and models
by any name, ratings, /more, acrostics, /forget, and the console's poem-then-rating."""

from __future__ import annotations

import io
import random

import pytest
from sqlmodel import Session, select

from adapters.console_adapter import run_console
from bot.render import render_poem
from bot.replies import APOLOGY, Reply, UserRef
from bot.service import BotService
from engine.request import PoemRequest, PoemResult
from engine.text.han import is_han
from storage import queries
from storage.models import Poem, Rating
from tests.bot.helpers import ADMIN, ALICE, assert_bilingual_error


@pytest.fixture
def bot_database_url(database_url) -> str:
    """Every test here runs on SQLite and on PostgreSQL (tests/conftest.py)."""
    return database_url



class Recording:
    """The real engine, remembering the requests the service sent it."""

    def __init__(self, engine):
        self.engine = engine
        self.model_versions = engine.model_versions
        self.requests: list[PoemRequest] = []

    async def generate(self, request: PoemRequest):
        self.requests.append(request)
        return await self.engine.generate(request)


@pytest.fixture
def engine(tiny_engine) -> Recording:
    return Recording(tiny_engine)


@pytest.fixture
def service(engine, db, settings) -> BotService:
    return BotService(engine, db, settings, rng=random.Random(0))


def poem_body(reply: Reply) -> list[str]:
    """The poem's lines: the block between the title and the model tag."""
    return reply.text.split("\n\n")[1].splitlines()


def han_count(line: str) -> int:
    """Chinese characters in a line, rare ones (CJK extensions) included."""
    return sum(map(is_han, line))


def stored_poems(db) -> list[Poem]:
    with Session(db) as s:
        return list(s.exec(select(Poem).order_by(Poem.id)).all())


async def test_poem_is_rendered_and_stored(service, engine, db, settings):
    reply = await service.handle_text(ALICE, "/poem 春")
    assert not reply.error, reply.text
    assert reply.poem_id is not None and reply.rating is None
    title, *_ = reply.text.splitlines()
    assert title == "「春」· 五言绝句"
    lines = poem_body(reply)
    assert len(lines) == 4 and all(han_count(line) == 5 for line in lines)
    tag = reply.text.split("\n\n")[2]
    assert tag.startswith("— gan v") and engine.model_versions["gan"].removeprefix("gan-") in tag
    [poem] = stored_poems(db)
    assert poem.id == reply.poem_id
    assert (poem.keyword, poem.form, poem.model, poem.platform) == ("春", "wujue", "gan", "telegram")
    assert poem.text.splitlines() == lines
    assert poem.model_version == engine.model_versions["gan"]
    with Session(db) as s:
        owner = queries.find_user(
            session=s, platform="telegram", user_id=ALICE.user_id, salt=settings.user_id_salt
        )
        assert owner is not None and poem.user_id == owner.id


async def test_form_and_model_by_any_name(service, engine, db):
    reply = await service.handle_text(ALICE, "/poem 月 七律")
    assert not reply.error, reply.text
    assert "七言律诗" in reply.text.splitlines()[0]
    lines = poem_body(reply)
    assert len(lines) == 8 and all(han_count(line) == 7 for line in lines)
    same = await service.poem(ALICE, "月", form="七言律诗", model="gan")
    assert not same.error and "七言律诗" in same.text
    if "vae" in engine.model_versions:
        vae = await service.handle_text(ALICE, "山 变分 五律")
        assert not vae.error, vae.text
        assert "— vae" in vae.text and len(poem_body(vae)) == 8
        assert stored_poems(db)[-1].latent  # kept for /more


async def test_keyword_outside_the_vocabulary(service):
    for kw in ("cat", "🌸", "zz"):
        reply = await service.handle_text(ALICE, f"/poem {kw}")
        if reply.error:  # the engine refused it: UnknownKeyword, in both languages
            assert_bilingual_error(reply)
        else:  # the engine wrote on a related keyword or a fallback theme and says so
            assert reply.poem_id is not None
            assert kw in reply.text and ("instead" in reply.text or "Wrote about" in reply.text)


async def test_an_english_keyword_is_the_same_rule_as_everywhere(service):
    reply = await service.handle_text(ALICE, "/poem spring")  # not "too long": the engine's rule
    assert not reply.error, reply.text
    assert "「春」" in reply.text and "spring" in reply.text


async def test_rating_is_stored_and_updated(service, db, settings):
    poem = await service.handle_text(ALICE, "/poem 花")
    rated = await service.rate(ALICE, poem.poem_id, 4)
    assert not rated.error and rated.poem_id == poem.poem_id and rated.rating == 4
    assert "★★★★☆" in rated.text and "Thank you" in rated.text
    again = await service.handle_text(ALICE, "/rate 2")  # the last poem
    assert again.rating == 2 and again.poem_id == poem.poem_id
    bob = await service.handle_text(UserRef("telegram", "2002"), f"/rate {poem.poem_id} 5")
    assert bob.rating == 5
    with Session(db) as s:
        assert sorted(r.score for r in s.exec(select(Rating)).all()) == [2, 5]
    stats = await service.stats(ADMIN)
    assert not stats.error and "n=2" in stats.text and "mean=3.50" in stats.text


async def test_more_varies_the_last_poem(service, engine, db):
    first = await service.handle_text(ALICE, "/poem 山 七绝")
    more = await service.handle_text(ALICE, "/more")
    assert not more.error, more.text
    assert more.poem_id not in (None, first.poem_id)
    assert more.text.splitlines()[0] == first.text.splitlines()[0] == "「山」· 七言绝句"
    last = engine.requests[-1]
    assert (last.keyword, last.form, last.model, last.seed, last.latent) == ("山", "qijue", "gan", None, None)
    if "vae" in engine.model_versions:
        vae = await service.poem(ALICE, "山", model="vae")
        latent = stored_poems(db)[-1].latent
        again = await service.more(ALICE)
        assert not vae.error and not again.error
        assert engine.requests[-1].latent == tuple(latent)  # sampled near the last poem


async def test_acrostic_heads_open_the_lines(service):
    reply = await service.handle_text(ALICE, "/acrostic 春夏秋冬 七言")
    assert not reply.error, reply.text
    assert "藏头" in reply.text.splitlines()[0] and "七言绝句" in reply.text
    lines = poem_body(reply)
    assert [line[0] for line in lines] == list("春夏秋冬")
    assert all(han_count(line) == 7 for line in lines)
    eight = await service.acrostic(ALICE, "春 夏 秋 冬 花 鸟 风 月", form="wulv")
    assert not eight.error, eight.text
    assert [line[0] for line in poem_body(eight)] == list("春夏秋冬花鸟风月")
    drawn = await service.acrostic(ALICE, "山水田园")
    assert {han_count(line) for line in poem_body(drawn)} in ({5}, {7}), drawn.text


async def test_forget_removes_the_users_poems_and_ratings(service, db):
    bob = UserRef("discord", "77")
    mine = await service.handle_text(ALICE, "/poem 雪")
    await service.rate(ALICE, mine.poem_id, 5)
    theirs = await service.handle_text(bob, "/poem 雨")
    await service.rate(bob, theirs.poem_id, 3)
    reply = await service.forget(ALICE)
    assert not reply.error and "poems: 1, ratings: 1" in reply.text
    assert [p.id for p in stored_poems(db)] == [theirs.poem_id]
    assert_bilingual_error(await service.handle_text(ALICE, "/more"))
    assert_bilingual_error(await service.handle_text(ALICE, "/rate 5"))
    assert not (await service.more(bob)).error


async def test_console_poem_then_rating(service, db, settings):
    out = io.StringIO()
    user = UserRef("console", "tester")
    stdin = io.StringIO("/poem 春\n5\n/quit\n/poem 月\n")
    await run_console(service, stdin=stdin, stdout=out, user=user)
    text = out.getvalue()
    assert "「春」· 五言绝句" in text and "★★★★★" in text
    poems = stored_poems(db)
    assert len(poems) == 1  # nothing after /quit ran
    with Session(db) as s:
        owner = queries.find_user(session=s, platform="console", user_id="tester", salt=settings.user_id_salt)
        assert queries.get_rating(session=s, user=owner, poem_id=poems[0].id).score == 5


def test_render_poem_title_lines_tag_and_note():
    result = PoemResult(
        lines=["春眠不觉晓，", "处处闻啼鸟。", "夜来风雨声，", "花落知多少。"],
        form="wujue",
        model="gan",
        model_version="gan-2026.11.22",
        keyword="春",
        seed=1,
        note="「cat」不在古典诗词字库中，改以「春」为题。 / 'cat' is not in the vocabulary; wrote about 「春」 instead.",
    )
    assert render_poem(result).split("\n") == [
        "「春」· 五言绝句",
        "",
        *result.lines,
        "",
        "— gan v2026.11.22",
        "",
        "「cat」不在古典诗词字库中，改以「春」为题。",
        "'cat' is not in the vocabulary; wrote about 「春」 instead.",
    ]
    acrostic = PoemResult(["春" * 7 + "，"] * 4, "qijue", "vae", "v3", "春夏秋冬", 2, acrostic=True)
    text = render_poem(acrostic)
    assert text.startswith("「春夏秋冬」· 藏头 · 七言绝句") and "— vae v3 · 藏头 acrostic" in text


async def test_a_keyword_with_a_lone_surrogate_gets_an_answer_every_platform_can_send(service, db):
    for text in ("/poem \ud800", "\udfff", "/poem 春\udc00", "/acrostic 春夏秋\ud800"):
        reply = await service.handle_text(ALICE, text)
        reply.text.encode("utf-8")  # a lone surrogate raises here, and in every platform's client
        assert reply.text != APOLOGY, text
    for poem in stored_poems(db):
        poem.keyword.encode("utf-8")
