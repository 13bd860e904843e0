"""Reading messages without writing poems: commands and options, help, bilingual answers to bad
input (which must never reach the engine), rate limits, /check, and the console REPL."""

from __future__ import annotations

import io
import re
import time

import pytest

from adapters.console_adapter import run_console
from bot.menu import COMMANDS
from bot.parsing import parse_options
from bot.ratelimit import RateLimiter
from bot.replies import APOLOGY, UserRef
from bot.service import BotService
from tests.bot.helpers import ADMIN, ALICE, HAN, UnreachableEngine, assert_bilingual_error

# ---------------------------------------------------------------- parsing and help


def test_parse_options_any_order_and_chinese_names():
    assert parse_options(["春", "五绝", "vae"]) == (["春"], "wujue", "vae", None)
    assert parse_options(["七言律诗", "对抗", "月"]) == (["月"], "qilv", "gan", None)
    assert parse_options(["QiLv", "变分", "山", "水"]) == (["山", "水"], "qilv", "vae", None)
    assert parse_options(["春夏秋冬", "七言"], line_lengths=True) == (["春夏秋冬"], None, None, 7)
    assert parse_options(["七言"]) == (["七言"], None, None, None)


def test_commands_fit_telegram_and_discord_limits():
    names = [name for name, _ in COMMANDS]
    assert {"poem", "acrostic", "check", "more", "rate", "forget", "stats", "help", "start"} <= set(names)
    for name, desc in COMMANDS:
        assert re.fullmatch(r"[a-z0-9_]{1,32}", name)
        assert 3 <= len(desc) <= 100 and HAN.search(desc) and re.search(r"[A-Za-z]{3}", desc)


async def test_help_lists_every_command(offline):
    for text in ("/help", "/HELP", "/help@YinshiBot"):
        reply = await offline.handle_text(ALICE, text)
        assert not reply.error
        for name, _ in COMMANDS:
            assert f"/{name}" in reply.text
    assert "/poem" in offline.start().text


# ---------------------------------------------------------------- bad input, never reaching the engine


@pytest.mark.parametrize(
    "text",
    [
        "",  # empty message
        "   ",
        "/poem",  # empty keyword
        "/poem 春夏秋冬雨",  # keyword too long
        "/poem " + "phone" * 14,  # too long (an English word may be a keyword: it is translated)
        "/poem 春 八绝",  # unknown form
        "/poem 春 bert",  # unknown model
        "/poem 春 vae",  # model not loaded
        "/acrostic",
        "/acrostic 春夏秋",  # 3 heads
        "/acrostic abcd",  # not Chinese
        "/acrostic 春夏秋冬 七律",  # 4 heads, 8-line form
        "/acrostic 春夏秋冬 gpt",
        "/check",
        "/more",  # nothing to vary yet
        "/rate",
        "/rate five",
        "/rate 9",  # out of range
        "/rate 0",
        "/rate 5",  # no poem to rate
        "/rate 12345 5",  # no such poem
        "/stats",  # not an admin
        "/frobnicate",  # unknown command
        "/",
    ],
)
async def test_bad_input_gets_bilingual_message(offline, text):
    assert_bilingual_error(await offline.handle_text(ALICE, text))


async def test_bad_arguments_of_direct_calls(offline):
    assert_bilingual_error(await offline.poem(ALICE, "春", form="qilvv"))
    assert_bilingual_error(await offline.poem(ALICE, "春", model="bert"))
    assert_bilingual_error(await offline.poem(ALICE, ""))
    assert_bilingual_error(await offline.acrostic(ALICE, "春夏秋冬", form="五律"))
    for score in (0, 6, -3):
        assert_bilingual_error(await offline.rate(ALICE, 1, score))
    assert_bilingual_error(await offline.check(ALICE, "   "))


async def test_messages_name_the_problem(offline):
    long_kw = await offline.handle_text(ALICE, "/poem 春夏秋冬雨")
    assert "太长" in long_kw.text and "too long" in long_kw.text
    phone = await offline.handle_text(ALICE, "/poem " + "phone" * 14)
    assert "汉字" in phone.text and "Chinese characters" in phone.text
    verse = await offline.handle_text(ALICE, JINGYESI)  # a poem sent as plain text
    assert "/check" in verse.text
    form = await offline.poem(ALICE, "春", form="八绝")
    assert "八绝" in form.text and "Unknown form" in form.text
    option = await offline.handle_text(ALICE, "/poem 春 bert")
    assert "bert" in option.text
    not_loaded = await offline.handle_text(ALICE, "/poem 春 变分")
    assert "vae" in not_loaded.text and "not loaded" in not_loaded.text
    rng = await offline.handle_text(ALICE, "/rate 9")
    assert "1" in rng.text and "5" in rng.text
    unknown = await offline.handle_text(ALICE, "/frobnicate")
    assert "/frobnicate" in unknown.text and "/help" in unknown.text


async def test_huge_input_is_refused_quickly_without_echo(offline):
    huge = "春" * 10_000
    for text in (huge, "/poem " + huge, "/check " + huge, "/acrostic " + huge):
        t0 = time.perf_counter()
        reply = await offline.handle_text(ALICE, text)
        assert time.perf_counter() - t0 < 0.5
        assert_bilingual_error(reply)
        assert len(reply.text) < 300
    reply = await offline.acrostic(ALICE, "春" * 5000)
    assert_bilingual_error(reply)
    assert len(reply.text) < 300


async def test_rate_limit_says_slow_down(settings, db):
    service = BotService(UnreachableEngine(), db, settings, limiter=RateLimiter(1, clock=lambda: 0.0))
    assert service.limiter.allow(f"{ALICE.platform}:{ALICE.user_id}")  # the one token is spent
    reply = await service.handle_text(ALICE, "/poem 春")
    assert_bilingual_error(reply)
    assert "慢" in reply.text and "slow down" in reply.text and "60" in reply.text
    # another user is not affected by Alice's bucket (their bad input is answered normally)
    other = await service.handle_text(UserRef("telegram", "2"), "/poem 春 bert")
    assert "bert" in other.text


async def test_stats_for_admin_without_ratings(offline):
    reply = await offline.stats(ADMIN)
    assert not reply.error and "No ratings yet" in reply.text


async def test_forget_unknown_user(offline):
    reply = await offline.forget(UserRef("discord", "nobody"))
    assert not reply.error and "no data" in reply.text


async def test_unexpected_engine_failure_is_an_apology_not_a_crash(settings, db):
    class Broken:
        model_versions = {"gan": "v-test"}

        async def generate(self, request):
            raise RuntimeError("GPU on fire")

    reply = await BotService(Broken(), db, settings).handle_text(ALICE, "春")
    assert_bilingual_error(reply)
    assert "GPU" not in reply.text


# ---------------------------------------------------------------- /check (no generator needed)

JINGYESI = "床前明月光，疑是地上霜。举头望明月，低头思故乡。"


async def test_check_reports_on_a_poem(offline):
    for text in (f"/check {JINGYESI}", f"/check\n{JINGYESI}"):
        reply = await offline.handle_text(ALICE, text)
        assert not reply.error, reply.text
        assert "五绝" in reply.text and "阳" in reply.text  # form and the rhyme group 下平七阳
        assert reply.poem_id is None


async def test_check_rejects_latin_text_bilingually(offline):
    assert_bilingual_error(await offline.handle_text(ALICE, "/check hello world"))


# ---------------------------------------------------------------- console REPL without generation


async def test_console_answers_piped_lines_and_stops_at_eof(offline):
    out = io.StringIO()
    await run_console(offline, stdin=io.StringIO("/help\n\n/poem 春 bert\n"), stdout=out, user=ALICE)
    text = out.getvalue()
    assert "/acrostic" in text  # the help
    assert "bert" in text and "Cannot understand" in text  # the bad option, answered, not fatal


# ---------------------------------------------------------------- hostile input


@pytest.mark.parametrize(
    "text",
    [
        "/rate 9223372036854775808 1",  # one past SQLite's largest integer: was an OverflowError
        "/rate 2147483648 3",  # one past PostgreSQL's INTEGER
        "/rate 99999999999999999999999999999999999999 2",
        "/rate " + "9" * 1900 + " 5",  # nearly the whole message
    ],
)
async def test_rating_a_poem_number_beyond_any_id_says_there_is_no_such_poem(offline, text):
    reply = await offline.handle_text(ALICE, text)
    assert_bilingual_error(reply)
    assert "找不到" in reply.text and "no poem number" in reply.text
    assert len(reply.text) < 200


LONE_SURROGATES = ["\ud800", "\udfff", "春\udc00", "\ud83c"]


@pytest.mark.parametrize("bad", LONE_SURROGATES)
@pytest.mark.parametrize(
    "template",
    ["/{}", "/poem 春 {}", "/poem 春 月 {}", "/acrostic {}", "/acrostic 春夏秋冬 {}", "/check {}", "/rate {} 5"],
)
async def test_replies_never_carry_a_lone_surrogate(offline, template, bad):
    """A client may send "\\ud800" in JSON; no platform can send it back, so it is never echoed.
    (As a keyword it reaches the engine: tests/bot/test_service.py.)"""
    reply = await offline.handle_text(ALICE, template.format(bad))
    reply.text.encode("utf-8")  # raises UnicodeEncodeError on a lone surrogate
    assert reply.text != APOLOGY, "bad input deserves an explanation, not an apology"


async def test_direct_calls_with_lone_surrogates_are_answered(offline):
    for reply in (
        await offline.poem(ALICE, "春", form="\ud800"),
        await offline.poem(ALICE, "春", model="\udfff"),
        await offline.acrostic(ALICE, "春夏秋\ud800"),
        await offline.acrostic(ALICE, "春夏秋冬", form="\ud800"),
        await offline.check(ALICE, "床前明月光\ud800"),
    ):
        reply.text.encode("utf-8")
        assert_bilingual_error(reply)
