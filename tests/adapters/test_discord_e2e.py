"""The real discord.py bot against a fake Discord (REST + gateway on 127.0.0.1).

A user's `/poem 春` arrives as an INTERACTION_CREATE on the gateway; the bot must defer, then post
the poem with five ★ buttons; a tap on ★4 must store the rating and answer privately; a new bot
process must still handle taps on an old message; bad input must get a private bilingual answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator

import discord
import pytest
import pytest_asyncio
from sqlmodel import Session

from adapters.discord_adapter import run_discord
from app.settings import Settings
from bot.replies import APOLOGY
from bot.service import BotService
from engine.errors import YinshiError
from engine.prosody.forms import FORMS
from engine.serving.async_engine import AsyncEngine
from storage import queries
from storage.db import make_engine
from tests.bot.helpers import SALT
from tests.conftest import engine_options
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.discord_wire import EPHEMERAL, Recorded, custom_ids
from tests.fakes.gated_poet import Gate

pytestmark = pytest.mark.asyncio(loop_scope="session")  # the loop tiny_engine's batcher runs on

HAN_CHAR = r"[\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0003ffff]"  # CJK extensions too: the vocabulary has rare characters
HAN = re.compile(HAN_CHAR)
LATIN = re.compile(r"[A-Za-z]{3,}")
USER = "4242"
ADMIN = "777"
COMMANDS = {"poem", "acrostic", "check", "more", "card", "script", "forget", "help", "stats"}


def bilingual(text: str) -> bool:
    return bool(HAN.search(text)) and bool(LATIN.search(text))


def poem_lines(text: str) -> list[str]:
    """The verse lines of a rendered poem: Chinese characters ending in ， or 。."""
    return [line for line in text.splitlines() if re.fullmatch(HAN_CHAR + r"{5,7}[，。]", line)]


@pytest_asyncio.fixture(loop_scope="session")
async def fake(monkeypatch) -> AsyncIterator[FakeDiscord]:
    monkeypatch.setattr(discord.http.Route, "BASE", discord.http.Route.BASE)  # restored afterwards
    async with FakeDiscord(heartbeat_interval_ms=300) as server:
        yield server
    assert server.unknown == [], "the bot called routes the fake does not know"


@pytest.fixture
def settings(fake: FakeDiscord, tmp_path) -> Settings:
    return Settings(
        _env_file=None,
        discord_bot_token="test-token",
        discord_api_base_url=fake.api_base,
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'yinshi.db'}",
        user_id_salt=SALT,
        rate_limit_per_minute=1000,
        admin_ids=[f"discord:{ADMIN}"],
        cards=False,  # poems as text here; cards: test_*_cards.py
    )


@pytest.fixture
def db(settings: Settings):
    engine = make_engine(settings.resolved_database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def service(tiny_engine, db, settings: Settings) -> BotService:
    return BotService(tiny_engine, db, settings)


@contextlib.asynccontextmanager
async def running_bot(fake: FakeDiscord, service: BotService, settings: Settings) -> AsyncIterator[None]:
    """A bot connected to the fake (identified, READY received) until the block ends."""
    stop = asyncio.Event()
    before = len(fake.identified)
    bot = asyncio.create_task(run_discord(service, settings, stop, guild_ready_timeout=0.1))
    ready = asyncio.create_task(fake.wait_until(lambda: len(fake.identified) > before))
    await asyncio.wait({bot, ready}, return_when=asyncio.FIRST_COMPLETED)
    if bot.done():
        ready.cancel()
        bot.result()  # raises why the bot stopped
    await ready
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(bot, 10)


async def slash(
    fake: FakeDiscord, name: str, options: dict | None = None, *, user: str = USER
) -> tuple[list[Recorded], dict]:
    """Invoke `/name options` and wait for the bot's answer (the interaction's response, or after a
    defer its followup); returns the REST calls on that interaction and its payload."""
    interaction = fake.slash(name, options, user_id=user)
    start = len(fake.requests)
    await fake.dispatch_interaction(interaction)
    await fake.answer_to(interaction["token"])
    calls = [r for r in fake.requests[start:] if interaction["token"] in r.path]
    return calls, interaction


async def tap(fake: FakeDiscord, message: dict, custom_id: str) -> Recorded:
    """Tap a button on a stored message; returns the bot's interaction callback."""
    interaction = fake.button(message, custom_id, user_id=USER)
    start = len(fake.requests)
    await fake.dispatch_interaction(interaction)
    return await fake.wait_for("POST", rf"/interactions/{interaction['id']}/.+/callback", after=start)


def stored_rating(service: BotService, poem_id: int) -> int | None:
    with Session(service.db) as session:
        user = queries.find_user(
            session=session, platform="discord", user_id=USER, salt=service.settings.user_id_salt
        )
        rating = user and queries.get_rating(session=session, user=user, poem_id=poem_id)
        return rating.score if rating else None


async def write_poem(fake: FakeDiscord) -> tuple[dict, int]:
    """`/poem 春`; returns the posted message and the poem id its buttons carry."""
    calls, interaction = await slash(fake, "poem", {"keyword": "春"})
    assert calls[0].method == "POST" and calls[0].path.endswith("/callback")
    assert calls[0].body["type"] == 4, "a poem ready within a second is the response itself"
    assert len(calls) == 1, "one request per poem"
    [message] = fake.visible_messages(interaction["token"])
    ids = custom_ids(message)
    assert len(ids) == 5
    poem_id = int(ids[0].split(":")[2])
    assert ids == [f"yinshi:rate:{poem_id}:{n}" for n in range(1, 6)]
    return message, poem_id


async def test_tree_sync_registers_the_commands_with_their_choices(fake, service, settings):
    async with running_bot(fake, service, settings):
        pass
    commands = {c["name"]: c for c in fake.commands}
    assert set(commands) == COMMANDS
    options = {o["name"]: o for o in commands["poem"]["options"]}
    assert options["keyword"]["required"] is True
    assert not options["form"].get("required") and not options["model"].get("required")
    assert [c["value"] for c in options["form"]["choices"]] == list(FORMS)  # wujue, qijue, wulv, qilv
    assert "五绝" in options["form"]["choices"][0]["name"]
    assert [c["value"] for c in options["model"]["choices"]] == ["gan", "vae"]
    heads = {o["name"]: o for o in commands["acrostic"]["options"]}
    assert heads["heads"]["required"] is True
    assert {"五言", "七言"} <= {c["value"] for c in heads["form"]["choices"]}
    assert [o["name"] for o in commands["check"]["options"]] == ["poem"]
    assert all(len(c["description"]) <= 100 for c in fake.commands)


async def test_poem_is_posted_with_star_buttons_and_a_tap_stores_the_rating(fake, service, settings):
    async with running_bot(fake, service, settings):
        message, poem_id = await write_poem(fake)
        assert not message["flags"] & EPHEMERAL, "a poem is posted for everyone"
        assert "「春」" in message["content"]
        assert len(poem_lines(message["content"])) == 4, message["content"]  # a 五绝 by default
        assert stored_rating(service, poem_id) is None

        ack = await tap(fake, message, f"yinshi:rate:{poem_id}:4")

        assert ack.body["type"] == 4 and ack.body["data"]["flags"] & EPHEMERAL
        assert bilingual(ack.body["data"]["content"])
        assert stored_rating(service, poem_id) == 4


async def test_a_new_bot_process_still_handles_taps_on_an_old_message(fake, service, settings, tiny_engine):
    async with running_bot(fake, service, settings):
        message, poem_id = await write_poem(fake)
    # A fresh bot and service over the same database file: it has never seen the message.
    fresh = BotService(tiny_engine, make_engine(settings.resolved_database_url), settings)
    async with running_bot(fake, fresh, settings):
        ack = await tap(fake, message, f"yinshi:rate:{poem_id}:5")
    assert ack.body["data"]["flags"] & EPHEMERAL
    assert stored_rating(fresh, poem_id) == 5


@pytest.mark.parametrize(
    ("command", "options"),
    [
        ("poem", {"keyword": "春夏秋冬雨"}),  # five characters: a keyword has at most four
        ("acrostic", {"heads": "春夏"}),  # needs 4 or 8 heads
        ("check", {"poem": "x" * 5000}),  # over the input limit
        ("more", None),  # no poem yet
    ],
)
async def test_bad_input_gets_a_private_bilingual_answer(fake, service, settings, command, options):
    async with running_bot(fake, service, settings):
        calls, interaction = await slash(fake, command, options)
    assert calls[0].body["type"] == 4  # answered at once, privately
    [answer] = fake.visible_messages(interaction["token"])
    assert answer["flags"] & EPHEMERAL, "others in the channel must not see the error"
    assert bilingual(answer["content"])
    assert custom_ids(answer) == [], "an error has no rating buttons"


async def test_a_stale_choice_gets_a_private_bilingual_answer(fake, service, settings):
    """Discord only sends listed choices, but a client may still show last deploy's list."""
    async with running_bot(fake, service, settings):
        calls, interaction = await slash(fake, "poem", {"keyword": "春", "form": "sonnet"})
    assert calls[0].body["type"] == 4  # answered at once, privately
    [answer] = fake.visible_messages(interaction["token"])
    assert answer["flags"] & EPHEMERAL and bilingual(answer["content"])
    assert "sonnet" in answer["content"] and "Unknown form" in answer["content"]


async def test_a_failing_send_gets_the_apology_and_the_bot_goes_on(fake, service, settings):
    async with running_bot(fake, service, settings):
        fake.fail_next("POST", r"/interactions/\d+/[^/]+/callback")  # the poem's response
        calls, interaction = await slash(fake, "poem", {"keyword": "云"})
        apology = await fake.answer_to(interaction["token"])
        message, _ = await write_poem(fake)
    assert [c.body["type"] for c in calls] == [4, 4]  # the poem, refused; then the apology
    assert apology.body["data"]["content"] == APOLOGY and apology.body["data"]["flags"] & EPHEMERAL
    assert "「春」" in message["content"]


async def test_a_slow_poem_is_deferred_within_discords_three_seconds_then_posted(fake, settings, db, tiny_poet):
    """A reply not ready within a second: "thinking…" first (Discord drops an interaction not
    answered within 3 s), then the poem replaces it, for everyone, with its buttons."""
    gate = Gate(tiny_poet)
    engine = AsyncEngine(gate, engine_options())
    service = BotService(engine, db, settings)
    try:
        async with running_bot(fake, service, settings):
            interaction = fake.slash("poem", {"keyword": "春"}, user_id=USER)
            sent = await fake.dispatch_interaction(interaction)
            await gate.wait_entered()
            token = interaction["token"]
            deferred = await fake.wait_until(lambda: fake.callbacks.get(token), timeout=10)
            assert deferred.body["type"] == 5 and deferred.at - sent < 3.0
            gate.opened.set()
            posted = await fake.answer_to(token, timeout=30)
    finally:
        gate.opened.set()
        await engine.close()
    assert posted.path.endswith(token)  # a followup
    [message] = fake.visible_messages(token)
    assert not message["flags"] & EPHEMERAL and len(poem_lines(message["content"])) == 4
    assert len(custom_ids(message)) == 5


async def test_a_tap_for_an_unknown_poem_is_answered_privately(fake, service, settings):
    async with running_bot(fake, service, settings):
        message, poem_id = await write_poem(fake)
        missing = poem_id + 1000
        button = {"type": 2, "style": 2, "label": "☆3", "custom_id": f"yinshi:rate:{missing}:3"}
        shown = {**message, "components": [{"type": 1, "components": [button]}]}
        ack = await tap(fake, shown, f"yinshi:rate:{missing}:3")
    assert ack.body["data"]["flags"] & EPHEMERAL and bilingual(ack.body["data"]["content"])
    assert str(missing) in ack.body["data"]["content"]
    assert stored_rating(service, missing) is None


async def test_help_and_forget_answer_privately(fake, service, settings):
    async with running_bot(fake, service, settings):
        calls, _ = await slash(fake, "help")
        assert calls[0].body["type"] == 4 and calls[0].body["data"]["flags"] & EPHEMERAL
        assert "/poem" in calls[0].body["data"]["content"]

        message, poem_id = await write_poem(fake)
        await tap(fake, message, f"yinshi:rate:{poem_id}:2")
        assert stored_rating(service, poem_id) == 2
        calls, interaction = await slash(fake, "forget")
    assert calls[0].body["type"] == 4 and calls[0].body["data"]["flags"] & EPHEMERAL
    [answer] = fake.visible_messages(interaction["token"])
    assert answer["flags"] & EPHEMERAL and bilingual(answer["content"])
    assert stored_rating(service, poem_id) is None


async def test_stats_are_private_and_for_admins_only(fake, service, settings):
    async with running_bot(fake, service, settings):
        message, poem_id = await write_poem(fake)
        await tap(fake, message, f"yinshi:rate:{poem_id}:3")
        _, as_admin = await slash(fake, "stats", user=ADMIN)
        _, as_user = await slash(fake, "stats")
    [stats] = fake.visible_messages(as_admin["token"])
    assert stats["flags"] & EPHEMERAL and "n=1" in stats["content"] and "3★:1" in stats["content"]
    [refused] = fake.visible_messages(as_user["token"])
    assert refused["flags"] & EPHEMERAL and bilingual(refused["content"]) and "n=1" not in refused["content"]


async def test_run_discord_without_a_token_explains_in_both_languages(tiny_engine, tmp_path):
    settings = Settings(_env_file=None, discord_bot_token=None, data_dir=tmp_path)
    with pytest.raises(YinshiError) as err:
        await run_discord(object(), settings, asyncio.Event())  # type: ignore[arg-type]
    assert HAN.search(err.value.zh) and "DISCORD_BOT_TOKEN" in err.value.en


@pytest.mark.parametrize("status", [502, 429])
async def test_a_storm_of_errors_loses_no_reply_and_doubles_none(fake, service, settings, status):
    """Discord answers the next 2 × users REST calls with 502 (an outage) or 429 (a rate limit)
    while five users ask for a poem at once: each gets its poem exactly once, and no apology."""
    users = [str(5000 + i) for i in range(5)]
    async with running_bot(fake, service, settings):
        fake.storm(2 * len(users), status)
        interactions = [fake.slash("poem", {"keyword": "江"}, user_id=u) for u in users]
        for interaction in interactions:
            await fake.dispatch_interaction(interaction)
        await asyncio.gather(*(fake.answer_to(i["token"], timeout=60) for i in interactions))
        assert fake.storm_left == 0, "the storm hit the replies"
        await slash(fake, "help")  # whatever the storm left in flight has been sent by now
    for interaction in interactions:
        [poem] = fake.visible_messages(interaction["token"])  # one message: none lost, none doubled
        assert len(poem_lines(poem["content"])) == 4 and len(custom_ids(poem)) == 5
        assert APOLOGY not in poem["content"]


@pytest.mark.parametrize("code", [4000, 1000])
async def test_a_gateway_disconnect_is_survived_and_the_next_command_answered(fake, service, settings, code):
    """The gateway closes the socket (4000: unknown error; 1000: a clean close Discord sends too):
    discord.py resumes the session, and the next /poem and ★ tap are answered."""
    async with running_bot(fake, service, settings):
        await write_poem(fake)
        identified = len(fake.identified)
        await fake.disconnect(0, code)
        await fake.wait_until(lambda: fake.resumed or len(fake.identified) > identified, timeout=30)
        assert len(fake.resumed) == 1 and len(fake.identified) == identified  # the same session, resumed
        message, poem_id = await write_poem(fake)
        ack = await tap(fake, message, f"yinshi:rate:{poem_id}:4")
    assert bilingual(ack.body["data"]["content"]) and stored_rating(service, poem_id) == 4
