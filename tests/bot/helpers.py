"""What the bot tests share: two users, what a bilingual error reply looks like, an engine never reached."""

from __future__ import annotations

import re

from bot.replies import Reply, UserRef
from engine.request import PoemRequest

HAN_CHAR = r"[\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0003ffff]"  # CJK extensions too: the vocabulary has rare characters
HAN = re.compile(HAN_CHAR)
SALT = "tests-only-salt-5f0c2a9e7d"  # a chat platform refuses the public default (bot.records.PUBLIC_SALTS)
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
