"""Telegram glue: python-telegram-bot handlers that call `BotService` and render its `Reply`.

The bot runs inside a shared asyncio loop (beside Discord and the HTTP API), so `run_telegram`
drives the `Application` by hand instead of `run_polling`, which would own the loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import urlsplit

from telegram import CallbackQuery, Chat, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, Forbidden, NetworkError, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.replies import STALE_BUTTON, Reply, UserRef, apology
from engine.errors import YinshiError

if TYPE_CHECKING:
    from bot.service import BotService

log = logging.getLogger(__name__)
T = TypeVar("T")

PLATFORM = "telegram"
RATE_PREFIX = "rate"
STARS = range(1, 6)
ALLOWED_UPDATES = ["message", "callback_query"]
NETWORK_RETRIES = 4  # extra attempts after a NetworkError/TimedOut, 0.5 to 4 s apart (RetryAfter: the rate limiter)
CAPTION_LIMIT = 1024  # characters of a photo's caption
CARD_FILE = "poem.png"
RATE_LIMIT_RETRIES = 5  # times a 429 is waited out and the call retried


class TelegramSettings(Protocol):
    """What the adapter reads of its configuration (app.settings.Settings has it all)."""

    telegram_bot_token: str | None
    telegram_api_base_url: str  # python-telegram-bot's base_url: https://api.telegram.org/bot
    telegram_webhook_url: str | None  # None: long polling
    telegram_webhook_host: str  # the address the webhook server listens on
    telegram_webhook_port: int


# ---------------------------------------------------------------- pure helpers


def user_ref(update: Update) -> UserRef:
    """The platform-neutral user behind an update."""
    user = update.effective_user
    assert user is not None  # messages and callback queries always have a sender
    return UserRef(platform=PLATFORM, user_id=str(user.id), name=user.full_name or user.username)


def star_label(n: int, rating: int | None) -> str:
    """Button n of the row: filled up to the rating (★★★★☆ for 4), each with its number."""
    return f"{'★' if rating is not None and n <= rating else '☆'}{n}"


def rating_keyboard(poem_id: int, rating: int | None = None) -> InlineKeyboardMarkup:
    """One row of 1–5 ★ buttons; callback data `rate:<poem_id>:<n>` (well under 64 bytes)."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(star_label(n, rating), callback_data=f"{RATE_PREFIX}:{poem_id}:{n}")
                for n in STARS
            ]
        ]
    )


def parse_rate_data(data: str | None) -> tuple[int, int] | None:
    """`rate:<poem_id>:<n>` -> (poem_id, n), or None when it is not a valid rating tap."""
    match = re.fullmatch(rf"{RATE_PREFIX}:(\d{{1,18}}):([1-5])", data or "")
    return (int(match[1]), int(match[2])) if match else None


def command_text(text: str) -> str:
    """Drop the `@BotName` Telegram appends to commands in groups: `/poem@YinshiBot 春` -> `/poem 春`."""
    return re.sub(r"^(/\w+)@\w+", r"\1", text.strip(), count=1)


def file_url_for(base_url: str) -> str:
    """python-telegram-bot's file URL beside its API URL: `.../bot` -> `.../file/bot`."""
    root, sep, _ = base_url.rpartition("/bot")
    return f"{root}/file/bot" if sep else base_url.rstrip("/") + "/file/bot"


def webhook_secret(token: str) -> str:
    """A stable secret for Telegram's `X-Telegram-Bot-Api-Secret-Token` header, derived from the token."""
    return hashlib.sha256(f"yinshi-webhook:{token}".encode()).hexdigest()[:48]


# ---------------------------------------------------------------- sending


async def with_network_retries(call: Callable[[], Awaitable[T]], what: str) -> T:
    """Run a Bot API call, retrying transient network failures (not 400s) with a short backoff."""
    for attempt in range(NETWORK_RETRIES + 1):
        try:
            return await call()
        except BadRequest:
            raise
        except NetworkError as exc:  # includes TimedOut
            if attempt == NETWORK_RETRIES:
                raise
            log.warning("telegram %s failed (%s); retrying", what, exc)
            await asyncio.sleep(0.5 * 2**attempt)
    raise AssertionError("unreachable")


async def send_reply(message: Message, reply: Reply) -> Message:
    """Render a Reply as a Telegram message, with rating buttons under a poem.

    A poem with a card is a photo (uploaded: multipart sendPhoto) whose caption is the poem's text,
    the ★ buttons under it; a tap edits the buttons alone (editMessageReplyMarkup), as under a text.
    Telegram has no ephemeral messages: in a group, an ephemeral reply goes to the user's private
    chat, and only falls back to the group when the user has never opened a chat with the bot.
    """
    markup = rating_keyboard(reply.poem_id, reply.rating) if reply.poem_id is not None else None
    if reply.card is not None and len(reply.text) <= CAPTION_LIMIT:  # a longer text goes without its card
        card = reply.card
        return await with_network_retries(
            lambda: message.reply_photo(card, caption=reply.text, reply_markup=markup, filename=CARD_FILE),
            "sendPhoto",
        )
    if reply.ephemeral and message.chat.type != Chat.PRIVATE and message.from_user is not None:
        user_id = message.from_user.id
        try:
            return await with_network_retries(
                lambda: message.get_bot().send_message(user_id, reply.text, reply_markup=markup),
                "sendMessage",
            )
        except Forbidden:
            log.info("user has no private chat with the bot; answering in the group")
    return await with_network_retries(
        lambda: message.reply_text(reply.text, reply_markup=markup), "sendMessage"
    )


async def answer_query(query: CallbackQuery) -> None:
    """Answer a callback query (stops the client's spinner); one Telegram calls too old is let go."""
    try:
        await with_network_retries(query.answer, "answerCallbackQuery")
    except BadRequest as exc:
        log.info("callback query not answered: %s", exc)


# ---------------------------------------------------------------- handlers


def make_handlers(
    service: BotService,
) -> dict[str, Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[None]]]:
    """The update callbacks, closed over the service."""

    async def text(update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        """A command, or in a private chat any text (`春` is `/poem 春`): the service parses it."""
        message = update.effective_message
        assert message is not None
        reply = await service.handle_text(user_ref(update), command_text(message.text or ""))
        await send_reply(message, reply)

    async def rate(update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        """A tap on a ★ button: store the rating, then answer the query (stopping the client's
        spinner) and show the rating on the buttons. Stored first: a query Telegram calls too old
        (a tap queued while the bot was down) still counts. The service takes a user's taps one at
        a time, so the buttons end showing what is stored."""
        query = update.callback_query
        assert query is not None
        parsed = parse_rate_data(query.data)
        if parsed is None:
            await answer_query(query)
            if isinstance(query.message, Message):
                await send_reply(query.message, Reply(text=STALE_BUTTON, error=True))
            return

        async def show(reply: Reply) -> None:
            await answer_query(query)
            if reply.error or reply.poem_id is None:
                if isinstance(query.message, Message):
                    await send_reply(query.message, reply)
                return
            keyboard = rating_keyboard(reply.poem_id, reply.rating)
            try:
                await with_network_retries(
                    lambda: query.edit_message_reply_markup(reply_markup=keyboard), "editMessageReplyMarkup"
                )
            except BadRequest as exc:  # same rating tapped twice: Telegram refuses an identical markup
                if "not modified" not in str(exc).lower():
                    raise

        await service.rate(user_ref(update), *parsed, show=show)

    return {"text": text, "rate": rate}


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The last resort: a handler raised (a send that failed for good). Logged; the user gets the apology."""
    reply = apology("telegram update", context.error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return  # polling/network errors: the updater keeps retrying by itself
    try:
        await context.bot.send_message(update.effective_chat.id, reply.text)
    except TelegramError as exc:
        log.warning("could not tell the user about the error: %r", exc)


# ---------------------------------------------------------------- application


def build_application(service: BotService, settings: TelegramSettings, **builder_options: Any) -> Application:
    """A python-telegram-bot Application wired to the service (not yet started).

    `builder_options` name `ApplicationBuilder` methods to override, e.g. `rate_limiter=None`.
    """
    if not settings.telegram_bot_token:
        raise YinshiError("未设置 TELEGRAM_BOT_TOKEN。", "TELEGRAM_BOT_TOKEN is not set.")
    options: dict[str, Any] = {
        "token": settings.telegram_bot_token,
        "base_url": settings.telegram_api_base_url,
        "base_file_url": file_url_for(settings.telegram_api_base_url),
        "concurrent_updates": True,  # 256 updates at once: lets the engine batch requests
        # waits out 429 RetryAfter and keeps under Telegram's flood limits
        "rate_limiter": AIORateLimiter(max_retries=RATE_LIMIT_RETRIES),
    }
    options.update(builder_options)
    builder = ApplicationBuilder()
    for name, value in options.items():
        if value is not None:
            builder = getattr(builder, name)(value)
    app = builder.build()

    h = make_handlers(service)
    new_only = filters.UpdateType.MESSAGE  # an edited message must not write a second poem
    commands = [name for name, _ in service.COMMANDS]  # in groups, only our commands (`/poem@Yinshi`)
    app.add_handler(CommandHandler(commands, h["text"], filters=new_only))
    private = filters.ChatType.PRIVATE  # in a private chat, any text: keywords, unknown commands
    app.add_handler(MessageHandler(new_only & filters.TEXT & private, h["text"]))
    app.add_handler(CallbackQueryHandler(h["rate"], pattern=rf"^{RATE_PREFIX}:"))
    app.add_error_handler(on_error)
    return app


async def announce_commands(app: Application, service: BotService) -> None:
    """Publish the command menu (`setMyCommands`) from the service's command list."""
    await with_network_retries(lambda: app.bot.set_my_commands(list(service.COMMANDS)), "setMyCommands")


async def run_telegram(
    service: BotService, settings: TelegramSettings, stop_event: asyncio.Event, app: Application | None = None
) -> None:
    """Run the bot in the current event loop until `stop_event` is set (polling, or webhook if configured)."""
    service.require_secret_salt(PLATFORM)
    app = app or build_application(service, settings)
    async with app:  # initialize (getMe) ... shutdown
        await announce_commands(app, service)
        await app.start()
        assert app.updater is not None
        try:
            if settings.telegram_webhook_url:
                path = urlsplit(settings.telegram_webhook_url).path.lstrip("/")
                await app.updater.start_webhook(
                    listen=settings.telegram_webhook_host,
                    port=settings.telegram_webhook_port,
                    url_path=path,
                    webhook_url=settings.telegram_webhook_url,
                    allowed_updates=ALLOWED_UPDATES,
                    secret_token=webhook_secret(settings.telegram_bot_token or ""),
                )
                log.info(
                    "telegram webhook listening on %s:%d/%s",
                    settings.telegram_webhook_host, settings.telegram_webhook_port, path,
                )
            else:
                await app.updater.start_polling(
                    allowed_updates=ALLOWED_UPDATES, error_callback=_log_polling_error
                )
                log.info("telegram long polling started")
            await stop_event.wait()
        finally:
            if app.updater.running:
                await app.updater.stop()
            await app.stop()
    log.info("telegram bot stopped")


def _log_polling_error(exc: TelegramError) -> None:
    """Polling errors (network down, 5xx, 429): the updater retries by itself; we only log."""
    log.warning("telegram polling error (retrying): %r", exc)
