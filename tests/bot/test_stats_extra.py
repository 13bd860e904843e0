"""Admins' /stats ends with what the app adds (the learning loop: last cycles, online trial);
others never see it, and a failing addition leaves the ratings part answering."""

from __future__ import annotations

from bot.service import BotService
from tests.bot.helpers import ADMIN, ALICE, UnreachableEngine, assert_bilingual_error


async def test_admins_see_the_extra_lines_after_the_ratings(settings, db):
    calls = []

    async def extra() -> list[str]:
        calls.append(1)
        return ["微调 · Fine-tuning cycles (latest last)", "  gan gan-x: ratings 240, reward AUC 0.712, promoted"]

    service = BotService(UnreachableEngine(), db, settings, stats_extra=extra)
    reply = await service.stats(ADMIN)
    assert not reply.error and reply.ephemeral
    assert reply.text.splitlines()[-2:] == ["微调 · Fine-tuning cycles (latest last)",
                                             "  gan gan-x: ratings 240, reward AUC 0.712, promoted"]
    assert_bilingual_error(await service.stats(ALICE))
    assert calls == [1]  # not asked for a user who is no admin


async def test_a_failing_extra_leaves_the_ratings_answering(settings, db):
    async def broken() -> list[str]:
        raise RuntimeError("registry unreadable")

    reply = await BotService(UnreachableEngine(), db, settings, stats_extra=broken).stats(ADMIN)
    assert not reply.error and "No ratings yet" in reply.text
