"""A form or model name the bot does not know is quoted back short (engine.errors.echo), however long."""

from __future__ import annotations

from tests.bot.helpers import ALICE, assert_bilingual_error


async def test_an_unknown_form_or_model_is_quoted_short(offline):
    long = "x" * 10_000
    replies = [
        await offline.poem(ALICE, "春", form=long),
        await offline.poem(ALICE, "春", model=long),
        await offline.acrostic(ALICE, "春夏秋冬", form=long),
        await offline.acrostic(ALICE, "春夏秋冬", model=long),
    ]
    for reply in replies:
        assert_bilingual_error(reply)
        assert "x" * 12 in reply.text and "x" * 13 not in reply.text and len(reply.text) < 300, reply.text[:400]
