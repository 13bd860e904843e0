"""Every poem request the bot sends carries the user's salted hash as its route key (a model on
trial writes for the same users throughout, learning/online.py), never the raw user id."""

from __future__ import annotations

from bot.service import BotService
from engine.request import PoemRequest
from storage.queries import hash_user_id
from tests.bot.helpers import ADMIN, ALICE, SALT


class Recording:
    def __init__(self, engine):
        self.engine, self.model_versions = engine, engine.model_versions
        self.requests: list[PoemRequest] = []

    async def generate(self, request: PoemRequest):
        self.requests.append(request)
        return await self.engine.generate(request)


async def test_requests_carry_the_salted_user_hash(tiny_engine, db, settings):
    settings = settings.model_copy(update={"user_id_salt": SALT, "cards": False})
    engine = Recording(tiny_engine)
    service = BotService(engine, db, settings)
    for user, text in ((ALICE, "/poem 春"), (ALICE, "/more"), (ALICE, "/acrostic 春夏秋冬"), (ADMIN, "月")):
        assert not (await service.handle_text(user, text)).error
    keys = [r.route_key for r in engine.requests]
    alice = hash_user_id(platform=ALICE.platform, user_id=ALICE.user_id, salt=SALT)
    assert keys[:3] == [alice] * 3
    assert keys[3] == hash_user_id(platform=ADMIN.platform, user_id=ADMIN.user_id, salt=SALT) != alice
    assert all(ALICE.user_id not in k for k in keys[:3])
