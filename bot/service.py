"""The platform-neutral bot: commands in, `Reply` out. Adapters only translate to and from a platform.

Every public method returns a Reply and never raises for bad input: user errors come back as
`Reply(error=True)` with a Chinese and an English line. Database calls are synchronous SQLAlchemy,
so each runs in a worker thread (`asyncio.to_thread`) with its own short Session; a rating is
committed before the reply that says it was saved is returned.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import re
from collections.abc import Awaitable, Callable
from typing import Protocol

from sqlalchemy import Engine
from sqlmodel import Session

from app.settings import Settings
from bot.ratelimit import RateLimiter
from bot.render import MODEL_NAMES, bilingual, error_text, render_poem, stars
from bot.replies import Reply, UserRef
from engine.errors import InvalidInput, YinshiError
from engine.prosody.check import check_poem
from engine.prosody.forms import FORM_ALIASES, FORMS, Form, form_for_shape
from engine.request import PoemRequest, PoemResult
from storage import queries

log = logging.getLogger(__name__)

MAX_KEYWORD_CHARS = 4
ECHO_CHARS = 12  # at most this much of a user's input is quoted back in an error

# (command, bilingual description): Telegram's setMyCommands and the help text. Descriptions ≤ 100 chars.
COMMANDS: list[tuple[str, str]] = [
    ("poem", "以关键词作诗 · Write a poem: /poem 春 [五绝|七绝|五律|七律] [gan|vae]"),
    ("acrostic", "藏头诗 · Acrostic poem: /acrostic 春夏秋冬 (4 or 8 heads) [五言|七言]"),
    ("check", "检查格律 · Check a poem's tones and rhymes: /check 床前明月光，…"),
    ("more", "再来一首 · Another take on your last poem"),
    ("rate", "评分 · Rate your last poem from 1 to 5: /rate 5"),
    ("forget", "删除我的全部数据 · Delete all your data"),
    ("stats", "评分统计（管理员）· Rating statistics (admins)"),
    ("help", "用法 · How to use Yinshi"),
    ("start", "开始 · Start"),
]

# commands a platform does not offer (Discord rates by button and has no /start)
PLATFORM_LACKS: dict[str, set[str]] = {"discord": {"rate", "start"}}

MODEL_ALIASES: dict[str, str] = {
    "gan": "gan",
    "对抗": "gan",
    "生成对抗": "gan",
    "生成对抗网络": "gan",
    "vae": "vae",
    "变分": "vae",
    "变分自编码": "vae",
    "变分自编码器": "vae",
}
LINE_LEN_ALIASES: dict[str, int] = {"五言": 5, "七言": 7, "5": 5, "7": 7}  # acrostic only

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
_HEAD_SEPARATORS = re.compile(r"[\s,，、.。;；:：!！?？·\-—_'\"“”‘’「」『』()（）]+")


class PoemEngine(Protocol):
    model_versions: dict[str, str]

    async def generate(self, request: PoemRequest) -> PoemResult: ...


def _echo(text: str) -> str:
    """A short, single-line quote of user input for error messages."""
    text = " ".join(text.split())
    return text if len(text) <= ECHO_CHARS else text[:ECHO_CHARS] + "…"


def is_han(text: str) -> bool:
    return bool(text) and all(_HAN.fullmatch(c) for c in text)


def _options_hint() -> tuple[str, str]:
    forms = "、".join(f"{f.chinese}({f.name})" for f in FORMS.values())
    return f"诗体可选：{forms}；模型可选：gan（对抗）、vae（变分）", f"forms: {forms}; models: gan, vae"


def parse_options(
    tokens: list[str], *, line_lengths: bool = False
) -> tuple[list[str], str | None, str | None, int | None]:
    """Split command arguments into (words, form name, model name, line length), options in any order.
    Line lengths (五言/七言) are options only when `line_lengths` (acrostics)."""
    words: list[str] = []
    form = model = None
    line_len = None
    for tok in tokens:
        low = tok.lower()
        if low in MODEL_ALIASES:
            model = MODEL_ALIASES[low]
        elif low in FORM_ALIASES or tok in FORM_ALIASES:
            form = FORM_ALIASES.get(low) or FORM_ALIASES[tok]
        elif line_lengths and tok in LINE_LEN_ALIASES:
            line_len = LINE_LEN_ALIASES[tok]
        else:
            words.append(tok)
    return words, form, model, line_len


def _replies(fn: Callable[..., Awaitable[Reply]]) -> Callable[..., Awaitable[Reply]]:
    """Turn user errors into bilingual error replies and unexpected failures into a logged apology."""

    @functools.wraps(fn)
    async def wrapper(self: BotService, *args, **kwargs) -> Reply:
        try:
            return await fn(self, *args, **kwargs)
        except YinshiError as err:
            return Reply(text=error_text(err), error=True)
        except Exception:
            log.exception("bot command %s failed", fn.__name__)
            return Reply(
                text=bilingual("出了点问题，请稍后再试。", "Something went wrong; please try again later."),
                error=True,
            )

    return wrapper


class BotService:
    """Conversation logic shared by the Telegram, Discord and console adapters."""

    COMMANDS = COMMANDS

    def __init__(
        self,
        engine: PoemEngine,
        db: Engine,
        settings: Settings,
        *,
        limiter: RateLimiter | None = None,
        rng: random.Random | None = None,
    ):
        self.engine = engine
        self.db = db
        self.settings = settings
        self.limiter = limiter if limiter is not None else RateLimiter(settings.rate_limit_per_minute)
        self.rng = rng if rng is not None else random.Random()

    # ------------------------------------------------------------------ commands

    def start(self) -> Reply:
        intro = bilingual(
            "你好！我是吟诗，会写五言、七言的绝句和律诗。发一个关键词（如「春」）试试。",
            "Hello! I am Yinshi; I write classical Chinese quatrains and regulated verse. "
            "Send a keyword such as 春 (spring) to begin.",
        )
        return Reply(text=f"{intro}\n\n{self.help().text}")

    def help(self, platform: str | None = None) -> Reply:
        """Usage text; on Discord without the commands it lacks (rating there is by button)."""
        skip = PLATFORM_LACKS.get(platform or "", set())
        lines = ["吟诗 Yinshi · 用法 How to use", ""]
        lines += [f"/{name} — {desc}" for name, desc in COMMANDS if name not in skip]
        lines += [
            "",
            "例 Examples: /poem 春 · /poem 月 七律 vae · /acrostic 春夏秋冬" + ("" if "rate" in skip else " · /rate 5"),
            "诗下方的 ★ 可评分 · Rate a poem with the ★ buttons under it.",
        ]
        return Reply(text="\n".join(lines))

    @_replies
    async def poem(
        self, user: UserRef, keyword: str, form: str | None = None, model: str | None = None
    ) -> Reply:
        request = PoemRequest(
            keyword=validate_keyword(keyword),
            form=self._form(form).name if form else "wujue",
            model=self._model(model),
            scheme=self.settings.default_scheme,
        )
        self._check_rate(user)
        return await self._generate(user, request)

    @_replies
    async def acrostic(
        self, user: UserRef, heads: str, form: str | None = None, model: str | None = None
    ) -> Reply:
        """藏头诗: one head character per line; 4 heads make a 绝句, 8 a 律诗. `form` may be a form
        name (its line count must match) or 五言/七言; without it the line length is drawn at random."""
        heads = validate_heads(heads)
        line_len = None
        if form:
            if form.strip() in LINE_LEN_ALIASES:
                line_len = LINE_LEN_ALIASES[form.strip()]
            else:
                f = self._form(form)
                if f.n_lines != len(heads):
                    raise InvalidInput(
                        f"{f.chinese}有 {f.n_lines} 句，藏头字却有 {len(heads)} 个。",
                        f"A {f.name} has {f.n_lines} lines but you gave {len(heads)} head characters.",
                    )
                line_len = f.line_len
        model_name = self._model(model)
        self._check_rate(user)
        line_len = line_len or self.rng.choice((5, 7))
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

    @_replies
    async def check(self, user: UserRef, text: str) -> Reply:
        """Tones, rhymes and form of a poem the user wrote (engine.prosody.check.check_poem, in a thread)."""
        self._check_length(text)
        if not text.strip():
            raise InvalidInput(
                "请在 /check 后附上一首诗，例如：/check 床前明月光，…",
                "Put a poem after /check, e.g. /check 床前明月光，…",
            )
        self._check_rate(user)
        report = await asyncio.to_thread(check_poem, text, self.settings.default_scheme)
        return Reply(text=report.render())

    @_replies
    async def more(self, user: UserRef) -> Reply:
        """A variation of the user's last poem: same keyword, form and model, a new seed; the VAE
        samples near the last poem's latent."""
        last = await asyncio.to_thread(self._last_poem, user)
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

    @_replies
    async def rate(self, user: UserRef, poem_id: int | None, score: int) -> Reply:
        """Store (or change) the user's 1–5 rating of a poem; poem_id None rates the user's last poem."""
        if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
            raise InvalidInput("评分须为 1 到 5 的整数。", "A rating must be a whole number from 1 to 5.")
        stored = await asyncio.to_thread(self._store_rating, user, poem_id, score)
        if stored is None:
            if poem_id is None:
                raise InvalidInput(
                    "还没有可评分的诗。先发 /poem 春 写一首吧。",
                    "There is no poem to rate yet. Try /poem 春 first.",
                )
            raise InvalidInput(f"找不到第 {poem_id} 首诗。", f"There is no poem number {poem_id}.")
        pid, saved = stored
        return Reply(
            text=bilingual(f"已记下 {stars(saved)}，谢谢！", f"Saved your {saved}★ rating. Thank you!"),
            poem_id=pid,
            rating=saved,
        )

    @_replies
    async def forget(self, user: UserRef) -> Reply:
        gone = await asyncio.to_thread(self._forget, user)
        if not gone.user:
            return Reply(text=bilingual("没有你的任何数据。", "There was no data about you."), ephemeral=True)
        return Reply(
            text=bilingual(
                f"已删除你的全部数据：{gone.poems} 首诗，{gone.ratings} 条评分。",
                f"Deleted all your data (poems: {gone.poems}, ratings: {gone.ratings}).",
            ),
            ephemeral=True,
        )

    @_replies
    async def stats(self, user: UserRef) -> Reply:
        if f"{user.platform}:{user.user_id}" not in self.settings.admin_ids:
            raise InvalidInput("只有管理员可以查看统计。", "Only admins can see the statistics.")
        rows = await asyncio.to_thread(self._stats)
        if not rows:
            return Reply(text=bilingual("还没有评分。", "No ratings yet."), ephemeral=True)
        lines = ["评分统计 · Ratings by model version"]
        for r in rows:
            dist = " ".join(f"{s}★:{r.distribution[s]}" for s in range(1, 6))
            name = MODEL_NAMES.get(r.model, r.model)
            lines.append(f"{name} {r.model_version}: n={r.count} mean={r.mean:.2f}  {dist}")
        return Reply(text="\n".join(lines), ephemeral=True)

    @_replies
    async def handle_text(self, user: UserRef, text: str) -> Reply:
        """Parse one message: "/poem 春 五绝 vae", "/acrostic 春夏秋冬", "/check …", "/more",
        "/rate [poem_id] 5", "/forget", "/stats", "/help", "/start"; plain text is a /poem keyword."""
        self._check_length(text)
        text = text.strip()
        if not text:
            raise InvalidInput(
                "消息是空的。发一个关键词（如「春」）或 /help。",
                "The message is empty. Send a keyword such as 春, or /help.",
            )
        if text[0] in "/／":
            head, *tail = text[1:].split(maxsplit=1) or [""]
            command, rest = head.split("@", 1)[0].lower(), (tail[0] if tail else "")
        else:
            command, rest = "poem", text
        args = rest.split()
        if command == "poem":
            return await self._poem_command(user, args)
        if command in ("acrostic", "cangtou", "藏头"):
            return await self._acrostic_command(user, args)
        if command == "check":
            return await self.check(user, rest)
        if command == "more":
            return await self.more(user)
        if command == "rate":
            return await self._rate_command(user, args)
        if command == "forget":
            return await self.forget(user)
        if command == "stats":
            return await self.stats(user)
        if command == "help":
            return self.help()
        if command == "start":
            return self.start()
        raise InvalidInput(
            f"未知命令「/{_echo(command)}」。发送 /help 查看用法。",
            f"Unknown command /{_echo(command)}. Send /help to see what I can do.",
        )

    # ------------------------------------------------------------------ parsing

    async def _poem_command(self, user: UserRef, args: list[str]) -> Reply:
        words, form, model, _ = parse_options(args)
        if len(words) > 1:
            raise _unknown_options(words[1:])
        return await self.poem(user, words[0] if words else "", form=form, model=model)

    async def _acrostic_command(self, user: UserRef, args: list[str]) -> Reply:
        words, form, model, line_len = parse_options(args, line_lengths=True)
        if form is None and line_len is not None:
            form = "五言" if line_len == 5 else "七言"
        return await self.acrostic(user, "".join(words), form=form, model=model)

    async def _rate_command(self, user: UserRef, args: list[str]) -> Reply:
        if not args or len(args) > 2 or not all(a.isdigit() and a.isascii() for a in args):
            raise InvalidInput(
                "用法：/rate 5（给上一首诗评 1–5 分）或 /rate 诗号 5。",
                "Usage: /rate 5 (rate your last poem 1–5) or /rate POEM_ID 5.",
            )
        nums = [int(a) for a in args]
        poem_id = nums[0] if len(nums) == 2 else None
        return await self.rate(user, poem_id, nums[-1])

    # ------------------------------------------------------------------ helpers

    def _check_length(self, text: str) -> None:
        limit = self.settings.max_input_chars
        if len(text) > limit:
            raise InvalidInput(
                f"消息太长（{len(text)} 字），上限 {limit} 字。",
                f"The message is too long ({len(text)} characters; the limit is {limit}).",
            )

    def _check_rate(self, user: UserRef) -> None:
        key = f"{user.platform}:{user.user_id}"
        if not self.limiter.allow(key):
            wait = max(1, round(self.limiter.retry_after(key)))
            raise YinshiError(
                f"请慢一点，{wait} 秒后再试。",
                f"Please slow down; try again in {wait} s.",
            )

    def _form(self, form: str) -> Form:
        key = FORM_ALIASES.get(form.strip().lower()) or FORM_ALIASES.get(form.strip())
        if key is None:
            zh, en = _options_hint()
            raise InvalidInput(f"未知诗体「{_echo(form)}」。{zh}", f"Unknown form {_echo(form)!r}; {en}.")
        return FORMS[key]

    def _model(self, model: str | None) -> str:
        loaded = self.engine.model_versions
        if model is None or not model.strip():
            default = self.settings.default_model
            return default if default in loaded or not loaded else next(iter(loaded))
        name = MODEL_ALIASES.get(model.strip().lower())
        if name is None:
            raise InvalidInput(
                f"未知模型「{_echo(model)}」，可选 gan（对抗）或 vae（变分）。",
                f"Unknown model {_echo(model)!r}; choose gan or vae.",
            )
        if name not in loaded:
            have = ", ".join(loaded) or "-"
            raise InvalidInput(
                f"模型 {name} 未加载（已加载：{have}）。", f"The {name} model is not loaded (loaded: {have})."
            )
        return name

    async def _generate(self, user: UserRef, request: PoemRequest) -> Reply:
        result = await self.engine.generate(request)
        poem_id = await asyncio.to_thread(self._store_poem, user, result)
        return Reply(text=render_poem(result), poem_id=poem_id)

    # ------------------------------------------------------------------ database (worker threads)

    def _user(self, session: Session, user: UserRef):
        return queries.get_or_create_user(
            session=session, platform=user.platform, user_id=user.user_id, salt=self.settings.user_id_salt
        )

    def _store_poem(self, user: UserRef, result: PoemResult) -> int:
        with Session(self.db) as session:
            poem = queries.add_poem(
                session=session,
                user=self._user(session, user),
                text=result.text,
                keyword=result.keyword,
                form=result.form,
                model=result.model,
                model_version=result.model_version,
                seed=result.seed,
                acrostic=result.acrostic,
                latent=result.latent,
            )
            assert poem.id is not None
            return poem.id

    def _last_poem(self, user: UserRef):
        with Session(self.db, expire_on_commit=False) as session:
            return queries.last_poem_of_user(session=session, user=self._user(session, user))

    def _store_rating(self, user: UserRef, poem_id: int | None, score: int) -> tuple[int, int] | None:
        with Session(self.db) as session:
            db_user = self._user(session, user)
            if poem_id is None:
                last = queries.last_poem_of_user(session=session, user=db_user)
                if last is None:
                    return None
                poem_id = last.id
            elif queries.get_poem(session=session, poem_id=poem_id) is None:
                return None
            rating = queries.rate_poem(session=session, user=db_user, poem_id=poem_id, score=score)
            return poem_id, rating.score

    def _forget(self, user: UserRef) -> queries.Forgotten:
        with Session(self.db) as session:
            return queries.forget_user(
                session=session, platform=user.platform, user_id=user.user_id, salt=self.settings.user_id_salt
            )

    def _stats(self) -> list[queries.ModelVersionStats]:
        with Session(self.db) as session:
            return queries.ratings_by_model_version(session=session)


def _unknown_options(words: list[str]) -> InvalidInput:
    zh, en = _options_hint()
    quoted = "、".join(f"「{_echo(w)}」" for w in words[:3])
    return InvalidInput(
        f"无法识别 {quoted}（关键词只能有一个）。{zh}",
        f"Cannot understand {', '.join(repr(_echo(w)) for w in words[:3])} (give one keyword). {en}.",
    )


def validate_keyword(keyword: str | None) -> str:
    """A theme of 1–4 characters. Whether the characters are known is the engine's call."""
    keyword = (keyword or "").strip()
    if not keyword:
        raise InvalidInput(
            "请给出一个关键词，例如：/poem 春", "Please give a keyword, e.g. /poem 春 (spring)."
        )
    if len(keyword) > MAX_KEYWORD_CHARS:
        zh = f"关键词太长（{len(keyword)} 个字），最多 {MAX_KEYWORD_CHARS} 个字。"
        en = f"The keyword is too long ({len(keyword)} characters); use at most {MAX_KEYWORD_CHARS}."
        n_han = sum(1 for c in keyword if _HAN.match(c))
        if not n_han:
            zh += "请用汉字，例如 春、月、山。"
            en += " Use Chinese characters, e.g. 春 (spring), 月 (moon), 山 (mountain)."
        elif n_han >= 10:
            zh += "要检查一首诗的格律，请用 /check。"
            en += " To check a poem's meter, use /check."
        raise InvalidInput(zh, en)
    return keyword


def validate_heads(heads: str | None) -> str:
    """Acrostic heads: 4 or 8 Chinese characters (spaces and punctuation between them are dropped)."""
    raw = heads or ""
    if len(raw) > 64:
        raise InvalidInput(
            "藏头字须为 4 个或 8 个汉字。", "An acrostic needs 4 or 8 Chinese head characters."
        )
    heads = _HEAD_SEPARATORS.sub("", raw)
    if not heads:
        raise InvalidInput(
            "请给出藏头字，例如：/acrostic 春夏秋冬",
            "Please give the head characters, e.g. /acrostic 春夏秋冬.",
        )
    if not is_han(heads):
        raise InvalidInput(
            f"藏头字须为汉字：「{_echo(heads)}」。",
            f"Head characters must be Chinese characters: {_echo(heads)!r}.",
        )
    if len(heads) not in (4, 8):
        raise InvalidInput(
            f"藏头字须为 4 个（绝句）或 8 个（律诗），你给了 {len(heads)} 个。",
            f"An acrostic needs 4 heads (a quatrain) or 8 (a regulated verse); you gave {len(heads)}.",
        )
    return heads
