"""SIGTERM answers the requests in flight: `yinshi run` serving the fake Telegram in a subprocess is
sent SIGTERM right after it took twenty /poem messages (confirmed them: Telegram would not send them
again); each gets its poem before the process exits, cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import pytest
import pytest_asyncio

from tests.bot.helpers import SALT
from tests.fakes.telegram_server import FakeTelegram

pytestmark = pytest.mark.asyncio(loop_scope="session")
ROOT = Path(__file__).resolve().parents[2]
USERS = range(60_000, 60_020)


@pytest_asyncio.fixture(loop_scope="session")
async def fake():
    async with FakeTelegram() as server:
        yield server


async def test_sigterm_answers_every_request_in_flight_before_exit(fake, tiny_model_dir, tmp_path):
    env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": fake.token,
        "TELEGRAM_API_BASE_URL": fake.base_url,
        "YINSHI_MODEL_DIR": str(tiny_model_dir),
        "YINSHI_DATA_DIR": str(tmp_path),
        "YINSHI_USER_ID_SALT": SALT,
        "YINSHI_RATE_LIMIT_PER_MINUTE": "1000",
        "YINSHI_DEVICE": "cpu",
    }
    bot = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "from app.cli import app; app()", "run",
        cwd=tmp_path, env={**env, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    started = time.perf_counter()
    try:
        await fake.wait_for("deleteWebhook", timeout=120)  # polling has started
        print(f"started in {time.perf_counter() - started:.1f}s")
        mark = len(fake.calls)
        for user in USERS:
            fake.user_says(user, "/poem 月")
        last = fake.confirmed + len(USERS)
        await fake.wait_until(lambda: fake.confirmed >= last, timeout=30)  # the bot has them: Telegram forgets them
        terminated = time.perf_counter()
        bot.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(bot.communicate(), 60)
    finally:
        if bot.returncode is None:
            bot.kill()
    log = output.decode(errors="replace")
    assert bot.returncode == 0, log[-3000:]
    replies = {
        c.params["chat_id"]: c
        for c in fake.calls[mark:]
        if c.method in ("sendMessage", "sendPhoto") and c.error is None and c.params["chat_id"] in USERS  # cards on
    }
    assert sorted(replies) == list(USERS), f"no reply for {set(USERS) - set(replies)}\n{log[-3000:]}"
    assert all("reply_markup" in c.result for c in replies.values())  # poems, not apologies
    after = sum(c.at > terminated for c in replies.values())
    print(f"{after} of {len(USERS)} replies were sent after SIGTERM")
