"""Poem cards on Discord, end to end: the real discord.py bot against the fake Discord (REST and
gateway, tests/fakes/discord_server.py) with the real BotService, tiny engine and SQLite database.

A poem is posted with its text, an embed showing the card uploaded with it (multipart: payload_json
and files[0], `attachment://poem.png`) and the persistent ★ buttons; a tap stores the rating and
answers privately; /card and /script are slash commands answered privately."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image
from sqlmodel import Session

from app.settings import Settings
from bot.service import BotService
from engine.text.script import to_traditional
from storage.models import Poem
from tests.adapters import test_discord_e2e as e2e
from tests.adapters.test_discord_e2e import USER, bilingual, poem_lines, running_bot, stored_rating
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.discord_wire import EPHEMERAL, Recorded, custom_ids

pytestmark = pytest.mark.asyncio(loop_scope="session")


# The end-to-end tests' fixtures: the fake Discord, the database, the bot's service; their settings (poems as text) as
# `text_settings`, with cards on below.
fake, db, service, text_settings = e2e.fake, e2e.db, e2e.service, e2e.settings


@pytest.fixture
def settings(text_settings: Settings) -> Settings:
    """The end-to-end tests' settings with cards on, as they are by default."""
    return text_settings.model_copy(update={"cards": True})


def card_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        assert image.format == "PNG"
        return image.size


async def slash(fake: FakeDiscord, name: str, options: dict | None = None) -> tuple[dict, dict]:
    """Invoke `/name options`; the bot's answer as posted (its message body and uploaded files: the
    interaction's response, or after a "thinking…" defer its first followup) and the message the
    user then sees."""
    interaction = fake.slash(name, options, user_id=USER)
    token = interaction["token"]
    await fake.dispatch_interaction(interaction)

    def answer() -> Recorded | None:
        response = fake.callbacks.get(token)
        if response is not None and response.body["type"] == 4:
            return response
        return next(iter(fake.followups.get(token, [])), None)

    posted: Recorded = await fake.wait_until(answer, timeout=30)
    body = posted.body["data"] if posted.path.endswith("/callback") else posted.body
    [message] = fake.visible_messages(token)
    return {"body": body, "files": posted.files}, message


async def tap(fake: FakeDiscord, message: dict, custom_id: str) -> Recorded:
    """Tap a button on a stored message; returns the bot's interaction response."""
    interaction = fake.button(message, custom_id, user_id=USER)
    await fake.dispatch_interaction(interaction)
    return await fake.wait_until(lambda: fake.callbacks.get(interaction["token"]))


async def write_poem(fake: FakeDiscord, options: dict) -> tuple[dict, dict, int]:
    """`/poem ...`: the answer as posted (its body and uploads), the message as shown, the poem id."""
    post, message = await slash(fake, "poem", options)
    return post, message, int(custom_ids(message)[0].split(":")[2])


def stored_poem(service: BotService, poem_id: int) -> Poem:
    with Session(service.db) as s:
        poem = s.get(Poem, poem_id)
        assert poem is not None
        return poem


async def test_a_poem_comes_with_its_card_in_an_embed_and_a_tap_stores_the_rating(fake, service, settings):
    async with running_bot(fake, service, settings):
        post, message, poem_id = await write_poem(fake, {"keyword": "春", "form": "qijue"})
        [(filename, data)] = post["files"]  # uploaded as files[0]
        assert filename == "poem.png" and card_size(data) == (1088, 1080)
        body = post["body"]
        assert body["embeds"][0]["image"]["url"] == "attachment://poem.png"
        assert body["attachments"][0]["description"] == body["content"]  # the text, as the image's alt text
        assert "「春」· 七言绝句" in message["content"] and len(poem_lines(message["content"])) == 4
        assert not message["flags"] & EPHEMERAL
        [attachment] = message["attachments"]
        assert (attachment["width"], attachment["height"]) == (1088, 1080)
        assert message["embeds"][0]["image"]["url"] == attachment["url"]
        assert custom_ids(message) == [f"yinshi:rate:{poem_id}:{n}" for n in range(1, 6)]

        ack = await tap(fake, message, f"yinshi:rate:{poem_id}:4")
        assert ack.body["type"] == 4 and ack.body["data"]["flags"] & EPHEMERAL
        assert "★★★★☆" in ack.body["data"]["content"]
        assert stored_rating(service, poem_id) == 4
        assert stored_poem(service, poem_id).text == "\n".join(poem_lines(message["content"]))


async def test_card_and_script_are_private_slash_commands_applied_to_the_next_poems(fake, service, settings):
    async with running_bot(fake, service, settings):
        _, answer = await slash(fake, "card", {"choice": "off"})
        assert answer["flags"] & EPHEMERAL and bilingual(answer["content"]) and "Cards off" in answer["content"]
        post, message, _ = await write_poem(fake, {"keyword": "月"})
        assert post["files"] == [] and not message.get("embeds") and len(poem_lines(message["content"])) == 4

        _, answer = await slash(fake, "script", {"choice": "traditional"})
        assert answer["flags"] & EPHEMERAL and "traditional" in answer["content"]
        await slash(fake, "card", {"choice": "on"})
        post, message, poem_id = await write_poem(fake, {"keyword": "秋", "form": "wulv"})
        assert card_size(post["files"][0][1]) == (1440, 1080)
        assert re.search(r"「秋」· 五言律詩", message["content"])
        stored = stored_poem(service, poem_id)
        assert stored.script == "traditional"
        assert poem_lines(message["content"]) == [to_traditional(line) for line in stored.text.split("\n")]
        assert stored.text != "\n".join(poem_lines(message["content"]))  # stored simplified, as written

        _, answer = await slash(fake, "script")  # no choice: the current setting
        assert "繁體" in answer["content"]
