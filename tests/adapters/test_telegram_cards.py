"""Poem cards on Telegram, end to end: the real python-telegram-bot Application against the fake Bot
API (tests/fakes/telegram_server.py), with the real BotService, tiny engine and SQLite database.

A poem is an uploaded photo (multipart sendPhoto) whose caption is the poem's text, the ★ buttons
under it; a tap stores the rating and redraws the buttons on the photo (editMessageReplyMarkup);
/card off gives text; /script 繁 gives the caption and the card in traditional script."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from sqlmodel import Session

from app.settings import Settings
from engine.text.script import to_traditional
from storage.models import Poem
from tests.adapters import test_telegram_e2e as e2e
from tests.adapters.test_telegram_e2e import labels, poem_lines, stored_rating
from tests.fakes.telegram_server import FakeTelegram
from tests.fakes.telegram_wire import Call

pytestmark = pytest.mark.asyncio(loop_scope="session")

USER = 5151
GROUP = -1005555555555


# The end-to-end tests' fixtures: the fake Bot API, the database, the bot polling it; their
# settings (poems as text) as `text_settings`, with cards on below.
fake, db, bot, text_settings = e2e.fake, e2e.db, e2e.bot, e2e.settings


@pytest.fixture
def settings(text_settings: Settings) -> Settings:
    """The end-to-end tests' settings with cards on, as they are by default."""
    return text_settings.model_copy(update={"cards": True})


async def say(fake: FakeTelegram, text: str) -> str:
    """A message from the user; the text of the bot's answer (settings are answered in text)."""
    mark = len(fake.calls)
    fake.user_says(USER, text)
    return (await fake.reply_to(USER, after=mark))["text"]


async def ask_for_photo(fake: FakeTelegram, text: str, chat: int = USER) -> Call:
    mark = len(fake.calls)
    fake.user_says(USER, text, chat_id=None if chat == USER else chat)
    return await fake.photo_to(chat, after=mark)


def card_size(photo: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(photo)) as image:
        image.load()
        assert image.format == "PNG"
        return image.size


def poem_id_of(message: dict) -> int:
    return int(message["reply_markup"]["inline_keyboard"][0][0]["callback_data"].split(":")[1])


def stored_text(db, poem_id: int) -> tuple[str, str]:
    with Session(db) as s:
        poem = s.get(Poem, poem_id)
        assert poem is not None
        return poem.text, poem.script


async def test_a_poem_is_a_photo_of_its_card_captioned_with_its_text_and_a_tap_stores_the_rating(
    fake, bot, db, settings
):
    mark = len(fake.calls)
    sent = await ask_for_photo(fake, "/poem 春")
    message = sent.result
    assert card_size(sent.params["photo"]) == (1203, 1080)  # the uploaded bytes: a 五绝 card
    assert "photo" in message and "text" not in message
    caption = message["caption"]
    assert caption.startswith("「春」· 五言绝句") and len(poem_lines(caption)) == 4
    assert labels(message) == ["☆1", "☆2", "☆3", "☆4", "☆5"]
    poem_id = poem_id_of(message)
    assert stored_text(db, poem_id) == ("\n".join(poem_lines(caption)), "simplified")
    assert not [c for c in fake.calls[mark:] if c.method == "sendMessage"]  # one message: the photo

    tap = len(fake.calls)
    fake.tap(USER, message, f"rate:{poem_id}:4")
    await fake.wait_for("editMessageReplyMarkup", after=tap)
    edited = fake.message(USER, message["message_id"])
    assert labels(edited) == ["★1", "★2", "★3", "★4", "☆5"]
    assert edited["caption"] == caption and "text" not in edited  # only the buttons changed
    assert stored_rating(db, settings, USER, poem_id) == [4]
    assert [c.method for c in fake.calls[tap:] if c.method.startswith("edit")] == ["editMessageReplyMarkup"]

    again = len(fake.calls)  # the same star again: Telegram refuses the identical markup, quietly
    fake.tap(USER, edited, f"rate:{poem_id}:4")
    edits = await fake.wait_until(lambda: [c for c in fake.calls[again:] if c.method == "editMessageReplyMarkup"])
    assert [c.error for c in edits] == [400]  # "message is not modified"
    assert stored_rating(db, settings, USER, poem_id) == [4]
    assert not [c for c in fake.calls[again:] if c.method in ("sendMessage", "sendPhoto")]  # no apology


async def test_card_off_gives_text_and_card_on_the_photo_again(fake, bot):
    assert "Cards off" in await say(fake, "/card off")

    mark = len(fake.calls)
    fake.user_says(USER, "/poem 月")
    text = await fake.reply_to(USER, after=mark)
    assert len(poem_lines(text["text"])) == 4 and labels(text)
    assert not fake.calls_to("sendPhoto") or fake.calls_to("sendPhoto")[-1].at < fake.calls[mark].at

    assert "Cards on" in await say(fake, "/card on")
    sent = await ask_for_photo(fake, "/poem 月")
    assert labels(sent.result)


async def test_script_traditional_gives_the_caption_and_the_card_in_traditional(fake, bot, db):
    plain = await ask_for_photo(fake, "/poem 秋 七律")
    assert "traditional" in await say(fake, "/script 繁")
    sent = await ask_for_photo(fake, "/poem 秋 七律")
    caption = sent.result["caption"]
    assert caption.startswith("「秋」· 七言律詩")
    text, script = stored_text(db, poem_id_of(sent.result))
    assert script == "traditional"
    assert poem_lines(caption) == [to_traditional(line) for line in text.split("\n")]  # stored as written:
    assert text != "\n".join(poem_lines(caption))  # simplified
    assert card_size(sent.params["photo"]) == card_size(plain.params["photo"]) == (1440, 1080)
    assert sent.params["photo"] != plain.params["photo"]
    assert "simplified" in await say(fake, "/script 简")


async def test_in_a_group_the_photo_quotes_the_users_message(fake, bot):
    mark = len(fake.calls)
    asked = fake.user_says(USER, "/poem@yinshi_test_bot 雪 七绝", chat_id=GROUP)
    sent = await fake.photo_to(GROUP, after=mark)
    assert sent.result["reply_to_message"]["message_id"] == asked["message_id"]
    assert [len(line) for line in poem_lines(sent.result["caption"])] == [8, 8, 8, 8]


async def test_a_429_on_the_upload_is_waited_out_and_the_same_card_arrives(fake, bot):
    fake.fail_next("sendPhoto", retry_after=1)
    mark = len(fake.calls)
    sent = await ask_for_photo(fake, "/poem 风")
    uploads = [c for c in fake.calls[mark:] if c.method == "sendPhoto"]
    assert [c.error for c in uploads] == [429, None]
    assert uploads[0].params["photo"] == uploads[1].params["photo"] == sent.params["photo"]
    assert labels(sent.result)
