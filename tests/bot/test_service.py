"""The platform-neutral bot: command parsing, bilingual answers to bad input, and (with the tiny
engine from conftest) generation, storage of poems and ratings, /more, /forget and the console REPL."""

from __future__ import annotations

import io
import random
import re
import time

import pytest
from sqlmodel import Session, select

from adapters.console_adapter import run_console
from app.settings import Settings
from bot.ratelimit import RateLimiter
from bot.render import render_poem
from bot.replies import Reply, UserRef
from bot.service import COMMANDS, BotService, parse_options
from engine.decoding.poet import is_han
from engine.request import PoemRequest, PoemResult
from storage import queries
from storage.db import make_engine
from storage.models import Poem, Rating

HAN_CHAR = r"[\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0003ffff]"  # CJK extensions too: the vocabulary has rare characters
HAN = re.compile(HAN_CHAR)
ALICE = UserRef("telegram", "1001", "alice")
ADMIN = UserRef("telegram", "42", "admin")


def assert_bilingual_error(reply: Reply) -> None:
    assert reply.error, reply.text
    zh, _, en = reply.text.partition("\n")
    assert HAN.search(zh), reply.text
    assert len(re.findall(r"[A-Za-z]{2,}", en)) >= 3, reply.text


class UnreachableEngine:
    """For inputs that must be refused before any generation happens."""

    model_versions = {"gan": "v-test"}

    async def generate(self, request: PoemRequest):
        raise AssertionError(f"bad input reached the engine: {request}")


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'bot.db'}",
        admin_ids=[f"{ADMIN.platform}:{ADMIN.user_id}"],
        rate_limit_per_minute=1000,
    )


@pytest.fixture
def db(settings):
    engine = make_engine(settings.resolved_database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def offline(settings, db) -> BotService:
    return BotService(UnreachableEngine(), db, settings)


# ---------------------------------------------------------------- parsing and help


def test_parse_options_any_order_and_chinese_names():
    assert parse_options(["春", "五绝", "vae"]) == (["春"], "wujue", "vae", None)
    assert parse_options(["七言律诗", "对抗", "月"]) == (["月"], "qilv", "gan", None)
    assert parse_options(["QiLv", "变分", "山", "水"]) == (["山", "水"], "qilv", "vae", None)
    assert parse_options(["春夏秋冬", "七言"], line_lengths=True) == (["春夏秋冬"], None, None, 7)
    assert parse_options(["七言"]) == (["七言"], None, None, None)


def test_commands_fit_telegram_and_discord_limits():
    names = [name for name, _ in COMMANDS]
    assert {"poem", "acrostic", "check", "more", "rate", "forget", "stats", "help", "start"} <= set(names)
    for name, desc in COMMANDS:
        assert re.fullmatch(r"[a-z0-9_]{1,32}", name)
        assert 3 <= len(desc) <= 100 and HAN.search(desc) and re.search(r"[A-Za-z]{3}", desc)


async def test_help_lists_every_command(offline):
    for text in ("/help", "/HELP", "/help@YinshiBot"):
        reply = await offline.handle_text(ALICE, text)
        assert not reply.error
        for name, _ in COMMANDS:
            assert f"/{name}" in reply.text
    assert "/poem" in offline.start().text


# ---------------------------------------------------------------- bad input, never reaching the engine


@pytest.mark.parametrize(
    "text",
    [
        "",  # empty message
        "   ",
        "/poem",  # empty keyword
        "/poem 春夏秋冬雨",  # keyword too long
        "/poem phone",  # non-Chinese and too long
        "/poem 春 八绝",  # unknown form
        "/poem 春 bert",  # unknown model
        "/poem 春 vae",  # model not loaded
        "/acrostic",
        "/acrostic 春夏秋",  # 3 heads
        "/acrostic abcd",  # not Chinese
        "/acrostic 春夏秋冬 七律",  # 4 heads, 8-line form
        "/acrostic 春夏秋冬 gpt",
        "/check",
        "/more",  # nothing to vary yet
        "/rate",
        "/rate five",
        "/rate 9",  # out of range
        "/rate 0",
        "/rate 5",  # no poem to rate
        "/rate 12345 5",  # no such poem
        "/stats",  # not an admin
        "/frobnicate",  # unknown command
        "/",
    ],
)
async def test_bad_input_gets_bilingual_message(offline, text):
    assert_bilingual_error(await offline.handle_text(ALICE, text))


async def test_bad_arguments_of_direct_calls(offline):
    assert_bilingual_error(await offline.poem(ALICE, "春", form="qilvv"))
    assert_bilingual_error(await offline.poem(ALICE, "春", model="bert"))
    assert_bilingual_error(await offline.poem(ALICE, ""))
    assert_bilingual_error(await offline.acrostic(ALICE, "春夏秋冬", form="五律"))
    for score in (0, 6, -3):
        assert_bilingual_error(await offline.rate(ALICE, 1, score))
    assert_bilingual_error(await offline.check(ALICE, "   "))


async def test_messages_name_the_problem(offline):
    long_kw = await offline.handle_text(ALICE, "/poem 春夏秋冬雨")
    assert "太长" in long_kw.text and "too long" in long_kw.text
    phone = await offline.handle_text(ALICE, "/poem phone")
    assert "汉字" in phone.text and "Chinese characters" in phone.text
    verse = await offline.handle_text(ALICE, JINGYESI)  # a poem sent as plain text
    assert "/check" in verse.text
    form = await offline.poem(ALICE, "春", form="八绝")
    assert "八绝" in form.text and "Unknown form" in form.text
    option = await offline.handle_text(ALICE, "/poem 春 bert")
    assert "bert" in option.text
    not_loaded = await offline.handle_text(ALICE, "/poem 春 变分")
    assert "vae" in not_loaded.text and "not loaded" in not_loaded.text
    rng = await offline.handle_text(ALICE, "/rate 9")
    assert "1" in rng.text and "5" in rng.text
    unknown = await offline.handle_text(ALICE, "/frobnicate")
    assert "/frobnicate" in unknown.text and "/help" in unknown.text


async def test_huge_input_is_refused_quickly_without_echo(offline):
    huge = "春" * 10_000
    for text in (huge, "/poem " + huge, "/check " + huge, "/acrostic " + huge):
        t0 = time.perf_counter()
        reply = await offline.handle_text(ALICE, text)
        assert time.perf_counter() - t0 < 0.5
        assert_bilingual_error(reply)
        assert len(reply.text) < 300
    reply = await offline.acrostic(ALICE, "春" * 5000)
    assert_bilingual_error(reply)
    assert len(reply.text) < 300


async def test_rate_limit_says_slow_down(settings, db):
    service = BotService(UnreachableEngine(), db, settings, limiter=RateLimiter(1, clock=lambda: 0.0))
    assert service.limiter.allow(f"{ALICE.platform}:{ALICE.user_id}")  # the one token is spent
    reply = await service.handle_text(ALICE, "/poem 春")
    assert_bilingual_error(reply)
    assert "慢" in reply.text and "slow down" in reply.text and "60" in reply.text
    # another user is not affected by Alice's bucket (their bad input is answered normally)
    other = await service.handle_text(UserRef("telegram", "2"), "/poem 春 bert")
    assert "bert" in other.text


async def test_stats_for_admin_without_ratings(offline):
    reply = await offline.stats(ADMIN)
    assert not reply.error and "No ratings yet" in reply.text


async def test_forget_unknown_user(offline):
    reply = await offline.forget(UserRef("discord", "nobody"))
    assert not reply.error and "no data" in reply.text


async def test_unexpected_engine_failure_is_an_apology_not_a_crash(settings, db):
    class Broken:
        model_versions = {"gan": "v-test"}

        async def generate(self, request):
            raise RuntimeError("GPU on fire")

    reply = await BotService(Broken(), db, settings).handle_text(ALICE, "春")
    assert_bilingual_error(reply)
    assert "GPU" not in reply.text


# ---------------------------------------------------------------- /check (no generator needed)

JINGYESI = "床前明月光，疑是地上霜。举头望明月，低头思故乡。"


async def test_check_reports_on_a_poem(offline):
    for text in (f"/check {JINGYESI}", f"/check\n{JINGYESI}"):
        reply = await offline.handle_text(ALICE, text)
        assert not reply.error, reply.text
        assert "五绝" in reply.text and "阳" in reply.text  # form and the rhyme group 下平七阳
        assert reply.poem_id is None


async def test_check_rejects_latin_text_bilingually(offline):
    assert_bilingual_error(await offline.handle_text(ALICE, "/check hello world"))


# ---------------------------------------------------------------- console REPL without generation


async def test_console_answers_piped_lines_and_stops_at_eof(offline):
    out = io.StringIO()
    await run_console(offline, stdin=io.StringIO("/help\n\n/poem 春 bert\n"), stdout=out, user=ALICE)
    text = out.getvalue()
    assert "/acrostic" in text  # the help
    assert "bert" in text and "Cannot understand" in text  # the bad option, answered, not fatal


# ---------------------------------------------------------------- generation (tiny engine from conftest)


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
        else:  # the engine wrote on a fallback theme and says so
            assert reply.poem_id is not None
            assert kw in reply.text and "instead" in reply.text


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
