"""A user's preferences, /card on|off and /script 繁|简: stored per user, applied to every poem (its
text and its card), kept apart between users, forgotten by /forget; the console writes each card."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from PIL import Image
from sqlmodel import Session

from adapters.console_adapter import run_console
from bot.replies import Reply, UserRef
from bot.service import BotService
from engine.request import PoemRequest, PoemResult
from engine.text.script import to_traditional
from storage import queries
from storage.models import Poem
from tests.bot.helpers import ALICE, assert_bilingual_error

BOB = UserRef("discord", "2002", "bob")


@pytest.fixture
def bot_database_url(database_url) -> str:
    """Every test here runs on SQLite and on PostgreSQL (tests/conftest.py)."""
    return database_url


class Recording:
    """The real engine, remembering what it answered."""

    def __init__(self, engine):
        self.engine = engine
        self.model_versions = engine.model_versions
        self.results: list[PoemResult] = []

    async def generate(self, request: PoemRequest) -> PoemResult:
        self.results.append(await self.engine.generate(request))
        return self.results[-1]


@pytest.fixture
def engine(tiny_engine) -> Recording:
    return Recording(tiny_engine)


@pytest.fixture
def service(engine, db, settings) -> BotService:
    return BotService(engine, db, settings)


def png_size(card: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(card)) as image:
        image.load()
        assert image.format == "PNG"
        return image.size


def lines_of(reply: Reply) -> list[str]:
    return reply.text.split("\n\n")[1].splitlines()


def stored(db, poem_id: int) -> Poem:
    with Session(db) as s:
        poem = s.get(Poem, poem_id)
        assert poem is not None
        return poem


async def test_poems_come_with_a_card_until_the_user_says_card_off(service):
    reply = await service.handle_text(ALICE, "/poem 春 七绝")
    assert not reply.error and reply.card is not None
    assert png_size(reply.card) == (1088, 1080)  # 七绝: four lines, the title, the seal
    assert "「春」· 七言绝句" in reply.text  # the text stays, for copying and screen readers

    off = await service.handle_text(ALICE, "/card off")
    assert not off.error and off.ephemeral and "text only" in off.text
    assert (await service.handle_text(ALICE, "/poem 春")).card is None
    assert (await service.more(ALICE)).card is None
    assert (await service.handle_text(BOB, "/poem 春")).card is not None  # Bob never said

    shown = await service.handle_text(ALICE, "/card")
    assert "关" in shown.text and "off" in shown.text
    assert not (await service.handle_text(ALICE, "/card 开")).error
    assert (await service.handle_text(ALICE, "/acrostic 春夏秋冬")).card is not None


async def test_the_default_for_users_who_never_chose_comes_from_the_settings(tiny_engine, db, settings):
    service = BotService(tiny_engine, db, settings.model_copy(update={"cards": False}))
    assert (await service.handle_text(ALICE, "/poem 月")).card is None
    await service.handle_text(ALICE, "/card on")
    assert (await service.handle_text(ALICE, "/poem 月")).card is not None


async def test_script_traditional_shows_text_and_card_in_traditional_and_stores_what_the_model_wrote(
    service, engine, db
):
    plain = await service.handle_text(ALICE, "/poem 秋 五律")
    assert not (await service.handle_text(ALICE, "/script 繁")).error
    reply = await service.handle_text(ALICE, "/poem 秋 五律")
    assert reply.text.startswith("「秋」· 五言律詩")  # the title in traditional too
    lines = lines_of(reply)
    poem = stored(db, reply.poem_id)
    assert poem.script == "traditional"
    written = engine.results[-1]
    assert written.lines == lines and poem.text == written.simplified_text != written.text  # simplified stored
    assert [to_traditional(line) for line in poem.text.splitlines()] == lines  # stored simplified, shown s2t
    assert stored(db, plain.poem_id).script == "simplified"
    assert reply.card is not None and png_size(reply.card) == (1440, 1080)
    assert reply.card != plain.card

    again = await service.more(ALICE)  # /more keeps the script
    assert stored(db, again.poem_id).script == "traditional"
    assert "「秋」· 五言律詩" in again.text
    await service.handle_text(ALICE, "/script simplified")
    assert "五言律诗" in (await service.more(ALICE)).text


@pytest.mark.parametrize("words", ["繁體", "traditional", "Trad", "正體"])
async def test_script_takes_its_names_in_either_script_and_english(service, words):
    reply = await service.handle_text(ALICE, f"/script {words}")
    assert not reply.error and "traditional" in reply.text
    assert "繁體" in (await service.handle_text(ALICE, "/script")).text


@pytest.mark.parametrize("text", ["/card maybe", "/card on off", "/script 草书", "/script fan ti"])
async def test_a_setting_it_cannot_read_is_refused_bilingually_and_changes_nothing(service, db, text):
    reply = await service.handle_text(ALICE, text)
    assert_bilingual_error(reply)
    assert "/card" in reply.text or "/script" in reply.text  # says how
    with Session(db) as s:
        assert queries.find_user(session=s, platform="telegram", user_id="1001", salt=service.records.salt) is None


async def test_forget_takes_the_preferences_too(service):
    await service.handle_text(ALICE, "/card off")
    await service.handle_text(ALICE, "/script 繁")
    await service.handle_text(ALICE, "/poem 雪")
    assert not (await service.forget(ALICE)).error
    reply = await service.handle_text(ALICE, "/poem 雪")
    assert reply.card is not None and "五言绝句" in reply.text  # the defaults again


async def test_the_console_writes_each_card_and_prints_where(service, tmp_path):
    out = io.StringIO()
    cards = tmp_path / "cards"
    stdin = io.StringIO("/poem 春\n/card off\n/poem 月\n/card on\n/script 繁\n/poem 山\n")
    await run_console(service, stdin=stdin, stdout=out, user=UserRef("console", "tester"), cards_dir=cards)
    paths = [Path(p) for p in re.findall(r"诗卡 card: (\S+)", out.getvalue())]
    assert len(paths) == 2  # not for the poem written with cards off
    assert [p.parent for p in paths] == [cards, cards] and all(re.fullmatch(r"\d+\.png", p.name) for p in paths)
    assert [png_size(p.read_bytes()) for p in paths] == [(1203, 1080)] * 2
    assert "「山」· 五言絕句" in out.getvalue()
