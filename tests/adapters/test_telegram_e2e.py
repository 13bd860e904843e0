"""End to end: the real python-telegram-bot Application (from `build_application`) against a fake
Telegram Bot API server on 127.0.0.1, with the real BotService, poem engine and SQLite database."""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import socket

import aiohttp
import pytest
import pytest_asyncio
from sqlmodel import Session, select

from adapters.telegram_adapter import run_telegram
from app.settings import Settings
from bot.replies import APOLOGY
from bot.service import BotService
from storage import queries
from storage.db import make_engine
from storage.models import Rating
from tests.bot.helpers import SALT
from tests.fakes.telegram_server import FakeTelegram

pytestmark = pytest.mark.asyncio(loop_scope="session")

USER = 4242
ADMIN = 777
GROUP = -1001234567890
HAN_CHAR = r"[\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0003ffff]"  # CJK extensions too: the vocabulary has rare characters
HAN = re.compile(HAN_CHAR)
LATIN_WORD = re.compile(r"[A-Za-z]{3,}")


@pytest_asyncio.fixture(loop_scope="session")
async def fake():
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
def settings(fake, tmp_path):
    return Settings(
        _env_file=None,
        telegram_bot_token=fake.token,
        telegram_api_base_url=fake.base_url,
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'yinshi.db'}",
        user_id_salt=SALT,
        admin_ids=[f"telegram:{ADMIN}"],
        cards=False,  # poems as text here; cards: test_*_cards.py
    )


@pytest.fixture
def db(settings):
    engine = make_engine(settings.resolved_database_url)
    yield engine
    engine.dispose()


@pytest_asyncio.fixture(loop_scope="session")
async def bot(fake, tiny_engine, db, settings):
    """The bot polling the fake server; stopped (and checked to stop cleanly) after the test."""
    service = BotService(tiny_engine, db, settings)
    stop = asyncio.Event()
    task = asyncio.create_task(run_telegram(service, settings, stop))
    try:
        await fake.wait_for("deleteWebhook")  # start_polling's bootstrap: updates are fetched next
    except TimeoutError:
        if task.done():
            task.result()  # surface the start-up error
        raise
    yield service
    stop.set()
    await asyncio.wait_for(task, 10)


def labels(message: dict) -> list[str]:
    return [b["text"] for row in message.get("reply_markup", {}).get("inline_keyboard", []) for b in row]


def poem_lines(text: str) -> list[str]:
    """The verse lines of a rendered poem: Chinese characters ending in ， or 。."""
    return [line for line in text.splitlines() if re.fullmatch(HAN_CHAR + r"{5,7}[，。]", line)]


def is_bilingual(text: str) -> bool:
    return bool(HAN.search(text) and LATIN_WORD.search(text))


def stored_rating(db, settings, user_id: int, poem_id: int) -> list[int]:
    """Every stored score of this user for this poem (one row at most, if ratings replace)."""
    with Session(db) as session:
        user = queries.find_user(
            session=session, platform="telegram", user_id=str(user_id), salt=settings.user_id_salt
        )
        if user is None:
            return []
        rows = session.exec(select(Rating).where(Rating.user_id == user.id, Rating.poem_id == poem_id))
        return [r.score for r in rows]


async def ask(fake: FakeTelegram, text: str, user: int = USER, chat: int | None = None) -> dict:
    """Send a message as a user and return the bot's next message in that chat."""
    mark = len(fake.calls)
    fake.user_says(user, text, chat_id=chat)
    return await fake.reply_to(chat if chat is not None else user, after=mark)


async def tap(fake: FakeTelegram, message: dict, stars: int, user: int = USER) -> tuple[str, dict]:
    """Tap the n-th ★ button; returns the query id and the message after the bot edited its buttons."""
    data = message["reply_markup"]["inline_keyboard"][0][stars - 1]["callback_data"]
    mark = len(fake.calls)
    query_id = fake.tap(user, message, data)
    await fake.wait_for("editMessageReplyMarkup", after=mark)
    return query_id, fake.message(message["chat"]["id"], message["message_id"])


async def test_poem_has_star_buttons_and_taps_store_and_show_the_rating(fake, bot, db, settings):
    poem = await ask(fake, "/poem 春")
    assert "春" in poem["text"]
    assert len(poem_lines(poem["text"])) == 4  # 五言绝句 by default
    assert labels(poem) == ["☆1", "☆2", "☆3", "☆4", "☆5"]
    poem_id = int(poem["reply_markup"]["inline_keyboard"][0][0]["callback_data"].split(":")[1])

    query_id, edited = await tap(fake, poem, 4)
    answers = [c for c in fake.calls_to("answerCallbackQuery") if c.params["callback_query_id"] == query_id]
    assert len(answers) == 1
    edit = fake.calls_to("editMessageReplyMarkup")[-1]
    assert answers[0].at <= edit.at  # the spinner is stopped before the rating is shown
    assert labels(edited) == ["★1", "★2", "★3", "★4", "☆5"]
    assert stored_rating(db, settings, USER, poem_id) == [4]

    _, edited = await tap(fake, edited, 2)  # a second tap changes the rating
    assert labels(edited) == ["★1", "★2", "☆3", "☆4", "☆5"]
    assert stored_rating(db, settings, USER, poem_id) == [2]


async def test_same_star_tapped_twice_is_answered_and_keeps_the_rating(fake, bot, db, settings):
    poem = await ask(fake, "/poem 月")
    poem_id = int(poem["reply_markup"]["inline_keyboard"][0][0]["callback_data"].split(":")[1])
    _, edited = await tap(fake, poem, 5)
    mark = len(fake.calls)
    query_id = fake.tap(USER, edited, f"rate:{poem_id}:5")
    await fake.wait_for(
        "answerCallbackQuery", lambda c: c.params["callback_query_id"] == query_id, after=mark
    )
    follow_up = await ask(fake, "/poem 山")  # the bot is still answering
    assert labels(follow_up) == ["☆1", "☆2", "☆3", "☆4", "☆5"]
    assert labels(fake.message(USER, poem["message_id"])) == ["★1", "★2", "★3", "★4", "★5"]
    assert stored_rating(db, settings, USER, poem_id) == [5]
    assert not [c for c in fake.calls[mark:] if c.method == "sendMessage" and c.params["text"] == APOLOGY]


def shown_rating(message: dict) -> int:
    return sum(label.startswith("★") for label in labels(message))


async def test_two_stars_tapped_at_once_the_last_tap_wins_on_screen_and_in_the_database(fake, bot, db, settings):
    """A quick double tap (★2 then ★5, both in one poll): the buttons show what is stored, and that is
    the second tap. Ten users at once, five rounds each: fifty pairs."""
    users = range(20_000, 20_010)
    poems = await asyncio.gather(*(ask(fake, "/poem 春", user=u) for u in users))
    rng = random.Random(7)
    wrong = []
    for _ in range(5):
        mark = len(fake.calls)
        last = {}
        for user, poem in zip(users, poems, strict=True):
            first, second = rng.sample(range(1, 6), 2)
            message = fake.message(user, poem["message_id"])
            poem_id = int(message["reply_markup"]["inline_keyboard"][0][0]["callback_data"].split(":")[1])
            fake.tap(user, message, f"rate:{poem_id}:{first}")
            fake.tap(user, message, f"rate:{poem_id}:{second}")
            last[user] = (poem_id, second)

        def edits_done(mark: int = mark) -> bool:  # each tap ends in one edit: done, or refused as "not modified"
            edits = [c for c in fake.calls[mark:] if c.method == "editMessageReplyMarkup"]
            return len(edits) == 2 * len(users)

        await fake.wait_until(edits_done, timeout=30)
        for user, poem in zip(users, poems, strict=True):
            poem_id, tapped = last[user]
            shown = shown_rating(fake.message(user, poem["message_id"]))
            stored = stored_rating(db, settings, user, poem_id)
            if not shown == tapped or stored != [tapped]:
                wrong.append((tapped, shown, stored))
    assert wrong == [], f"{len(wrong)} of 50 double taps: (last tap, shown, stored) {wrong}"


async def test_a_tap_whose_query_is_too_old_is_still_stored_and_shown(fake, bot, db, settings):
    """Taps queued while the bot was down reach it with expired queries: answering them fails (400),
    but the rating counts and the buttons show it."""
    poem = await ask(fake, "/poem 霜")
    poem_id = int(poem["reply_markup"]["inline_keyboard"][0][0]["callback_data"].split(":")[1])
    mark = len(fake.calls)
    fake.tap(USER, poem, f"rate:{poem_id}:3", too_old=True)
    await fake.wait_for("editMessageReplyMarkup", after=mark)
    assert [c.error for c in fake.calls[mark:] if c.method == "answerCallbackQuery"] == [400]
    assert stored_rating(db, settings, USER, poem_id) == [3]
    assert labels(fake.message(USER, poem["message_id"])) == ["★1", "★2", "★3", "☆4", "☆5"]
    assert not [c for c in fake.calls[mark:] if c.method == "sendMessage"]  # no apology


async def test_command_menu_is_announced_at_start_up(fake, bot):
    await fake.wait_for("setMyCommands")
    assert fake.commands == [{"command": c, "description": d} for c, d in BotService.COMMANDS]
    assert {"poem", "acrostic", "check", "more", "forget", "stats", "help", "start"} <= {
        c["command"] for c in fake.commands
    }


@pytest.mark.parametrize("text", ["/poem", "/poem 春夏秋冬雨", "/poem 春 八绝", "/acrostic 春夏", "/nonsense"])
async def test_bad_input_gets_a_bilingual_message_without_buttons(fake, bot, text):
    reply = await ask(fake, text)
    assert is_bilingual(reply["text"]), reply["text"]
    assert "reply_markup" not in reply
    assert reply["text"] != APOLOGY  # a clear explanation, not the generic apology


async def test_plain_text_in_a_private_chat_is_a_keyword(fake, bot):
    reply = await ask(fake, "秋")
    assert "秋" in reply["text"] and len(poem_lines(reply["text"])) == 4
    assert labels(reply)


async def test_group_command_addressed_to_the_bot_quotes_the_user(fake, bot):
    mark = len(fake.calls)
    asked = fake.user_says(USER, "/poem@yinshi_test_bot 雪 七绝", chat_id=GROUP)
    reply = await fake.reply_to(GROUP, after=mark)
    assert reply["reply_to_message"]["message_id"] == asked["message_id"]
    assert [len(line) for line in poem_lines(reply["text"])] == [8, 8, 8, 8]  # 七言: 7 characters + mark


async def test_more_writes_another_poem_with_buttons(fake, bot):
    first = await ask(fake, "/poem 花")
    again = await ask(fake, "/more")
    assert "花" in again["text"] and labels(again)
    assert again["message_id"] != first["message_id"]


async def test_admin_stats_asked_in_a_group_go_to_the_private_chat(fake, bot):
    await ask(fake, "/start", user=ADMIN)  # the admin has opened a private chat with the bot
    mark = len(fake.calls)
    fake.user_says(ADMIN, "/stats", chat_id=GROUP)
    reply = await fake.reply_to(ADMIN, after=mark)
    assert is_bilingual(reply["text"]) or "★" in reply["text"]
    assert not [c for c in fake.calls[mark:] if c.method == "sendMessage" and c.params["chat_id"] == GROUP]


async def test_a_429_on_send_is_waited_out_and_the_poem_still_arrives(fake, bot):
    fake.fail_next("sendMessage", retry_after=1)
    mark = len(fake.calls)
    poem = await ask(fake, "/poem 风")
    sends = [c for c in fake.calls[mark:] if c.method == "sendMessage"]
    assert [c.error for c in sends] == [429, None]
    assert sends[1].at - sends[0].at >= 1.0  # it waited retry_after before sending again
    assert sends[0].params["text"] == sends[1].params["text"] == poem["text"]
    assert labels(poem)


async def test_a_bad_gateway_on_send_is_retried(fake, bot):
    fake.error_next("sendMessage", 502, "Bad Gateway")
    poem = await ask(fake, "/poem 雨")
    assert "雨" in poem["text"] and labels(poem)


@pytest.mark.parametrize("code", [502, 429])
async def test_a_storm_of_errors_loses_no_reply_and_doubles_none(fake, bot, db, settings, code):
    """Telegram answers the next 2 × users calls with 502 (an outage) or 429 (a flood limit) while
    eight users ask for a poem, then again while they tap a star: every poem and every rating
    arrives exactly once, and nobody gets the apology."""
    users = range(30_000 + code * 10, 30_000 + code * 10 + 8)
    mark = len(fake.calls)
    fake.storm(2 * len(users), code)
    for user in users:
        fake.user_says(user, "/poem 江")
    poems = await asyncio.gather(*(fake.reply_to(user, after=mark, timeout=60) for user in users))
    assert fake.storm_left == 0, "the storm hit the replies"

    taps = len(fake.calls)
    fake.storm(2 * len(users), code)
    for user, poem in zip(users, poems, strict=True):
        poem_id = int(poem["reply_markup"]["inline_keyboard"][0][0]["callback_data"].split(":")[1])
        fake.tap(user, poem, f"rate:{poem_id}:{user % 5 + 1}")
    pairs = list(zip(users, poems, strict=True))
    await fake.wait_until(
        lambda: all(shown_rating(fake.message(u, p["message_id"])) == u % 5 + 1 for u, p in pairs), timeout=60
    )
    await ask(fake, "/help")  # whatever the storm left in flight has been sent by now

    done = [c for c in fake.calls[mark:] if c.error is None]
    for user, poem in zip(users, poems, strict=True):
        sent = [c for c in done if c.method == "sendMessage" and c.params["chat_id"] == user]
        assert [c.result["text"] for c in sent] == [poem["text"]], "a reply was lost, doubled or an apology"
        assert len(poem_lines(poem["text"])) == 4
        poem_id = int(poem["reply_markup"]["inline_keyboard"][0][0]["callback_data"].split(":")[1])
        assert stored_rating(db, settings, user, poem_id) == [user % 5 + 1]
        edits = [c for c in fake.calls[taps:] if c.method == "editMessageReplyMarkup" and c.params["chat_id"] == user]
        assert [c.error for c in edits][-1:] == [None] and sum(c.error is None for c in edits) == 1


async def test_a_failing_send_tells_the_user_something_went_wrong_and_the_bot_goes_on(fake, bot):
    fake.error_next("sendMessage", 400, "Bad Request: can't parse entities")
    reply = await ask(fake, "/poem 云")
    assert reply["text"] == APOLOGY and is_bilingual(APOLOGY)
    poem = await ask(fake, "/poem 云")
    assert "云" in poem["text"] and labels(poem)


async def test_fifty_users_at_once_each_get_their_own_poem(fake, bot):
    users = range(10_000, 10_050)
    mark = len(fake.calls)
    for user in users:
        fake.user_says(user, "/poem 夜")
    replies = await asyncio.gather(*(fake.reply_to(user, after=mark) for user in users))
    assert [r["chat"]["id"] for r in replies] == list(users)
    assert all(len(poem_lines(r["text"])) == 4 and labels(r) for r in replies)


async def test_webhook_mode_registers_the_hook_and_answers_posted_updates(fake, tiny_engine, db, settings):
    with socket.socket() as s:  # a free local port for the webhook server
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    hooked = settings.model_copy(
        update={"telegram_webhook_url": f"http://127.0.0.1:{port}/tg-hook", "telegram_webhook_port": port}
    )
    stop = asyncio.Event()
    task = asyncio.create_task(run_telegram(BotService(tiny_engine, db, hooked), hooked, stop))
    try:
        registered = await fake.wait_for("setWebhook")
        assert registered.params["url"] == hooked.telegram_webhook_url
        secret = registered.params["secret_token"]
        mark = len(fake.calls)
        message = fake.user_says(USER, "/poem 梅")  # queued at the fake; delivered here by webhook instead
        update = {"update_id": 1, "message": message}
        async with aiohttp.ClientSession() as http:
            for _ in range(100):  # setWebhook may come just before the server listens
                with contextlib.suppress(OSError):
                    _, probe = await asyncio.open_connection("127.0.0.1", port)
                    probe.close()
                    break
                await asyncio.sleep(0.05)
            forged = await http.post(f"http://127.0.0.1:{port}/tg-hook", json=update)
            assert forged.status == 403  # no secret header: refused
            async with http.post(
                f"http://127.0.0.1:{port}/tg-hook",
                json=update,
                headers={"X-Telegram-Bot-Api-Secret-Token": secret},
            ) as posted:
                assert posted.status == 200
        reply = await fake.reply_to(USER, after=mark)
        assert "梅" in reply["text"] and labels(reply)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
