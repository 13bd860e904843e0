"""What the platform-neutral bot answers, and the one place where errors become answers.

Every `BotService` command returns a `Reply` (`@answers`): a user's mistake (a `YinshiError`) becomes a
bilingual error reply, anything unexpected a logged `apology`. Adapters only render replies; when the
platform itself fails (a send that raises) their last-resort handler sends the same `apology`.
`@answers` is also where user text comes in: lone surrogates (JSON may carry "\\ud800", no platform
can send it back) become U+FFFD before anything reads, stores or echoes them.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from engine.errors import YinshiError

log = logging.getLogger(__name__)
LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # in a str, every surrogate is a lone one


@dataclass(frozen=True)
class UserRef:
    platform: str  # telegram | discord | console | http
    user_id: str  # the platform's user id (stored only as a salted hash)
    name: str | None = None


@dataclass
class Reply:
    text: str
    poem_id: int | None = None  # when set, the adapter shows 1–5 ★ rating buttons for this poem
    rating: int | None = None  # the user's current rating of that poem, shown on the buttons
    ephemeral: bool = False  # Discord: only the user sees it
    error: bool = False  # the reply explains a bad input or a failure
    # The poem's card (PNG, engine/cards) when the user has cards on: Telegram sends it as a photo
    # with `text` as its caption, Discord as an embed's image, the console writes it to a file. The
    # text is always sent too: for copying, and for screen readers.
    card: bytes | None = field(default=None, repr=False)


def bilingual(zh: str, en: str) -> str:
    return f"{zh}\n{en}"


APOLOGY = bilingual("抱歉，出了点问题，请稍后再试。", "Sorry, something went wrong; please try again later.")
STALE_BUTTON = bilingual("这个按钮已失效。", "This button no longer works.")


def error_reply(err: YinshiError) -> Reply:
    return Reply(text=bilingual(err.zh, err.en), error=True)


def apology(what: str, exc: BaseException | None) -> Reply:
    """The answer to a failure that is no user's fault: logged with its traceback; the user sees an apology."""
    log.error("%s failed", what, exc_info=exc)
    return Reply(text=APOLOGY, error=True)


def sendable(text: str) -> str:
    """User text that every platform can carry: each lone surrogate replaced by U+FFFD."""
    return LONE_SURROGATE.sub("\ufffd", text)


def answers(command: Callable[..., Awaitable[Reply]]) -> Callable[..., Awaitable[Reply]]:
    """A command that always returns a Reply: bilingual for user errors, an apology for the rest.
    Its text arguments are made `sendable` first."""

    @functools.wraps(command)
    async def wrapper(*args, **kwargs) -> Reply:
        args = tuple(sendable(a) if isinstance(a, str) else a for a in args)
        kwargs = {k: sendable(v) if isinstance(v, str) else v for k, v in kwargs.items()}
        try:
            return await command(*args, **kwargs)
        except YinshiError as err:
            return error_reply(err)
        except Exception as exc:
            return apology(f"bot command {command.__name__}", exc)

    return wrapper
