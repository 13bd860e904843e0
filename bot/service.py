"""The platform-neutral bot: commands in, `Reply` out. Adapters only translate to and from a platform.

`BotService` is the one entry point adapters call. Every command returns a Reply and never raises
(`bot.replies.answers`): user errors come back as `Reply(error=True)` with a Chinese and an English
line. Parsing is bot.parsing's, the keyword and heads rules engine.decoding.names's; database work
(bot.records) runs in a worker thread, and a rating is committed before the reply saying so returns.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Protocol

from sqlalchemy import Engine

from bot import menu
from bot.group_commit import GroupCommit
from bot.ordering import Turns
from bot.parsing import (
    LINE_LEN_ALIASES,
    check_length,
    choose_model,
    form_named,
    no_such_poem,
    parse_options,
    parse_rate_args,
    score_out_of_range,
    split_command,
    unknown_options,
)
from bot.preferences import card_text, parse_card, parse_script, script_text
from bot.ratelimit import RateLimiter
from bot.records import Preferences, PublicSalt, Records
from bot.render import MODEL_TITLES, render_poem, stars
from bot.replies import Reply, UserRef, answers, bilingual
from engine.cards.poem import poem_card_async
from engine.decoding.names import validate_heads, validate_keyword
from engine.errors import InvalidInput, YinshiError, echo
from engine.prosody.check import check_poem
from engine.prosody.forms import form_for_shape
from engine.request import PoemRequest, PoemResult
from storage import queries

log = logging.getLogger(__name__)
Show = Callable[[Reply], Awaitable[object]]  # an adapter showing a rating's reply
StatsExtra = Callable[[], Awaitable[list[str]]]  # more lines for admins' /stats (app: the learning loop)

class PoemEngine(Protocol):
    """engine.serving's AsyncEngine or RemoteEngine."""

    model_versions: dict[str, str]

    async def generate(self, request: PoemRequest) -> PoemResult: ...


class BotSettings(Protocol):
    """What the bot reads of its configuration (app.settings.Settings has it all)."""

    default_model: str  # gan | vae
    default_scheme: str  # pingshui | xinyun
    max_input_chars: int
    admin_ids: list[str]  # "telegram:123", "discord:456"
    user_id_salt: str
    rate_limit_per_minute: int
    cards: bool  # poems come with a card unless the user said /card off (or, False: unless /card on)


class BotService:
    """Conversation logic shared by the Telegram, Discord and console adapters."""

    COMMANDS = menu.COMMANDS

    def __init__(
        self,
        engine: PoemEngine,
        db: Engine,
        settings: BotSettings,
        *,
        limiter: RateLimiter | None = None,
        rng: random.Random | None = None,
        stats_extra: StatsExtra | None = None,
    ):
        self.engine = engine
        self.db = db
        self.records = Records(db, settings.user_id_salt)
        self.settings = settings
        self.limiter = limiter if limiter is not None else RateLimiter(settings.rate_limit_per_minute)
        self.rng = rng if rng is not None else random.Random()
        self.stats_extra = stats_extra
        self.turns = Turns()  # one rating at a time per user
        self.poems = GroupCommit(self.records.store_poems)  # concurrent poems share one commit
        self.preference_reads = GroupCommit(self.records.preferences_of)  # ... and one read of preferences

    def require_secret_salt(self, platform: str) -> None:
        """Refuse (PublicSalt, bilingual) to serve a chat platform while user ids are hashed with a
        public or short salt; the console, whose users are local accounts, only gets a warning."""
        if not self.records.salt_is_public:
            return
        if platform != "console":
            raise PublicSalt(platform)
        log.warning("YINSHI_USER_ID_SALT is the public default: set a secret one before serving a chat platform")

    # ------------------------------------------------------------------ commands

    def start(self, platform: str | None = None) -> Reply:
        return Reply(text=f"{menu.WELCOME}\n\n{menu.help_text(platform)}")

    def help(self, platform: str | None = None) -> Reply:
        """Usage text; on Discord without the commands it lacks (rating there is by button)."""
        return Reply(text=menu.help_text(platform))

    @answers
    async def poem(
        self, user: UserRef, keyword: str, form: str | None = None, model: str | None = None
    ) -> Reply:
        request = PoemRequest(
            keyword=validate_keyword(keyword),
            form=form_named(form).name if form else "wujue",
            model=self._model(model),
            scheme=self.settings.default_scheme,
        )
        self._check_rate(user)
        return await self._generate(user, request)

    @answers
    async def acrostic(
        self, user: UserRef, heads: str, form: str | None = None, model: str | None = None
    ) -> Reply:
        """藏头诗: one head character per line; 4 heads make a 绝句, 8 a 律诗. `form` may be a form
        name (its line count must match) or 五言/七言; without it the line length is drawn at random."""
        line_len = LINE_LEN_ALIASES.get(form.strip()) if form else None
        named = form_named(form) if form and line_len is None else None
        heads = validate_heads(heads, named)
        model_name = self._model(model)
        self._check_rate(user)
        line_len = named.line_len if named else line_len or self.rng.choice((5, 7))
        shape = form_for_shape(line_len, len(heads))
        assert shape is not None  # heads are 4 or 8, line_len 5 or 7
        request = PoemRequest(
            keyword=heads,
            form=shape.name,
            model=model_name,
            acrostic=True,
            scheme=self.settings.default_scheme,
        )
        return await self._generate(user, request)

    @answers
    async def check(self, user: UserRef, text: str) -> Reply:
        """Tones, rhymes and form of a poem the user wrote (engine.prosody.check.check_poem, in a thread)."""
        check_length(text, self.settings.max_input_chars)
        if not text.strip():
            raise InvalidInput(
                "请在 /check 后附上一首诗，例如：/check 床前明月光，…",
                "Put a poem after /check, e.g. /check 床前明月光，…",
            )
        self._check_rate(user)
        usage = getattr(self.engine, "rhyme_usage", None)  # a local engine's: rare rhyme readings are named
        report = await asyncio.to_thread(check_poem, text, self.settings.default_scheme, None, usage)
        return Reply(text=report.render())

    @answers
    async def more(self, user: UserRef) -> Reply:
        """A variation of the user's last poem: same keyword, form and model, a new seed; the VAE
        samples near the last poem's latent."""
        last = await asyncio.to_thread(self.records.last_poem, user)
        if last is None:
            raise InvalidInput(
                "还没有上一首诗。先发 /poem 春 写一首吧。",
                "There is no previous poem yet. Write one first, e.g. /poem 春.",
            )
        request = PoemRequest(
            keyword=last.keyword,
            form=last.form,
            model=self._model(last.model),
            acrostic=last.acrostic,
            scheme=self.settings.default_scheme,
            latent=tuple(last.latent) if last.model == "vae" and last.latent else None,
        )
        self._check_rate(user)
        return await self._generate(user, request)

    async def rate(
        self, user: UserRef, poem_id: int | None, score: int, *, show: Show | None = None
    ) -> Reply:
        """Store (or change) the user's 1–5 rating of a poem (poem_id None: the user's last poem), then
        `show` the reply (an adapter redrawing its buttons). A user's ratings are stored and shown one
        at a time, in the order they came, so the last tap wins on screen and in the database. What
        `show` raises (a platform failure) is the adapter's to handle; the rating is already stored."""
        async with self.turns.turn(f"{user.platform}:{user.user_id}"):
            reply = await self._store_rating(user, poem_id, score)
            if show is not None:
                await show(reply)
        return reply

    @answers
    async def _store_rating(self, user: UserRef, poem_id: int | None, score: int) -> Reply:
        if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
            raise score_out_of_range()
        stored = await asyncio.to_thread(self.records.rate, user, poem_id, score)
        if stored is None:
            if poem_id is None:
                raise InvalidInput(
                    "还没有可评分的诗。先发 /poem 春 写一首吧。",
                    "There is no poem to rate yet. Try /poem 春 first.",
                )
            raise no_such_poem(poem_id)
        pid, saved = stored
        return Reply(
            text=bilingual(f"已记下 {stars(saved)}，谢谢！", f"Saved your {saved}★ rating. Thank you!"),
            poem_id=pid,
            rating=saved,
        )

    @answers
    async def card(self, user: UserRef, choice: str = "") -> Reply:
        """/card on|off: the user's poems with a picture card (and their text) or as text only;
        no choice: show the setting."""
        on = parse_card(choice.split())
        if on is None:
            stored = await asyncio.to_thread(self.records.preferences, user)
            return Reply(text=card_text(self._wants_card(stored), changed=False), ephemeral=True)
        await asyncio.to_thread(self.records.set_preferences, user, card=on)
        return Reply(text=card_text(on, changed=True), ephemeral=True)

    @answers
    async def script(self, user: UserRef, choice: str = "") -> Reply:
        """/script 繁|简 (traditional|simplified): the script of the user's poems and cards."""
        script = parse_script(choice.split())
        if script is None:
            stored = await asyncio.to_thread(self.records.preferences, user)
            return Reply(text=script_text(stored.script or "simplified", changed=False), ephemeral=True)
        await asyncio.to_thread(self.records.set_preferences, user, script=script)
        return Reply(text=script_text(script, changed=True), ephemeral=True)

    @answers
    async def forget(self, user: UserRef) -> Reply:
        gone = await asyncio.to_thread(self.records.forget, user)
        if not gone.user:
            return Reply(text=bilingual("没有你的任何数据。", "There was no data about you."), ephemeral=True)
        return Reply(
            text=bilingual(
                f"已删除你的全部数据：{gone.poems} 首诗，{gone.ratings} 条评分。",
                f"Deleted all your data (poems: {gone.poems}, ratings: {gone.ratings}).",
            ),
            ephemeral=True,
        )

    @answers
    async def stats(self, user: UserRef) -> Reply:
        if f"{user.platform}:{user.user_id}" not in self.settings.admin_ids:
            raise InvalidInput("只有管理员可以查看统计。", "Only admins can see the statistics.")
        rows = await asyncio.to_thread(self.records.stats)
        lines = ["评分统计 · Ratings by model version"] if rows else [bilingual("还没有评分。", "No ratings yet.")]
        for r in rows:
            dist = " ".join(f"{s}★:{r.distribution[s]}" for s in range(1, 6))
            name = MODEL_TITLES.get(r.model, r.model)
            lines.append(f"{name} {r.model_version}: n={r.count} mean={r.mean:.2f}  {dist}")
        if self.stats_extra is not None:
            try:
                lines += await self.stats_extra()
            except Exception:  # the ratings above still answer
                log.exception("the extra /stats lines failed")
        return Reply(text="\n".join(lines), ephemeral=True)

    @answers
    async def handle_text(self, user: UserRef, text: str) -> Reply:
        """Parse one message: "/poem 春 五绝 vae", "/acrostic 春夏秋冬", "/check …", "/more",
        "/rate [poem_id] 5", "/card off", "/script 繁", "/forget", "/stats", "/help",
        "/start"; plain text is a /poem keyword."""
        check_length(text, self.settings.max_input_chars)
        text = text.strip()
        if not text:
            raise InvalidInput(
                "消息是空的。发一个关键词（如「春」）或 /help。",
                "The message is empty. Send a keyword such as 春, or /help.",
            )
        command, rest = split_command(text)
        args = rest.split()
        if command == "poem":
            words, form, model, _ = parse_options(args)
            if len(words) > 1:
                raise unknown_options(words[1:])
            return await self.poem(user, words[0] if words else "", form=form, model=model)
        if command == "acrostic":
            words, form, model, line_len = parse_options(args, line_lengths=True)
            if form is None and line_len is not None:
                form = str(line_len)
            return await self.acrostic(user, "".join(words), form=form, model=model)
        if command == "check":
            return await self.check(user, rest)
        if command == "rate":
            return await self.rate(user, *parse_rate_args(args))
        if command == "more":
            return await self.more(user)
        if command == "forget":
            return await self.forget(user)
        if command == "stats":
            return await self.stats(user)
        if command == "card":
            return await self.card(user, rest)
        if command == "script":
            return await self.script(user, rest)
        if command == "help":
            return self.help(user.platform)
        if command == "start":
            return self.start(user.platform)
        raise InvalidInput(
            f"未知命令「/{echo(command)}」。发送 /help 查看用法。",
            f"Unknown command /{echo(command)}. Send /help to see what I can do.",
        )

    # ------------------------------------------------------------------ helpers

    def _check_rate(self, user: UserRef) -> None:
        key = f"{user.platform}:{user.user_id}"
        if not self.limiter.allow(key):
            wait = max(1, round(self.limiter.retry_after(key)))
            raise YinshiError(f"请慢一点，{wait} 秒后再试。", f"Please slow down; try again in {wait} s.")

    def _model(self, model: str | None) -> str:
        return choose_model(model, self.engine.model_versions, self.settings.default_model)

    def _route_key(self, user: UserRef) -> str:
        """The user's salted hash (as stored): no raw id leaves the bot, even to a remote engine."""
        return queries.hash_user_id(platform=user.platform, user_id=user.user_id, salt=self.records.salt)

    def _wants_card(self, preferences: Preferences) -> bool:
        return self.settings.cards if preferences.card is None else preferences.card

    async def _generate(self, user: UserRef, request: PoemRequest) -> Reply:
        """The poem in the user's script (the engine converts it; the model's simplified text is
        stored, with the script), with its card if the user has cards on. The request carries the
        user's salted hash as its route key: a model on trial writes for the same users throughout."""
        preferences = await self.preference_reads.write(user)
        request = dataclasses.replace(request, script=preferences.script or "simplified",
                                      route_key=self._route_key(user))
        result = await self.engine.generate(request)
        poem_id = await self.poems.write((user, request, result))
        card = await self._card(result) if self._wants_card(preferences) else None
        return Reply(text=render_poem(result), poem_id=poem_id, card=card)

    @staticmethod
    async def _card(result: PoemResult) -> bytes | None:
        """The poem's card, rendered in a card thread; None (the text alone) if rendering fails."""
        try:
            return await poem_card_async(result)
        except Exception:
            log.exception("poem card failed; sending the text alone")
            return None
