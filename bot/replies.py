"""What the platform-neutral bot answers, and the one place where errors become answers.

Every `BotService` command returns a `Reply` (`@answers`): a user's mistake (a `YinshiError`) becomes a
bilingual error reply, anything unexpected a logged `apology`. Adapters only render replies; when the
platform itself fails (a send that raises) their last-resort handler sends the same `apology`.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from engine.errors import YinshiError

log = logging.getLogger(__name__)


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


def answers(command: Callable[..., Awaitable[Reply]]) -> Callable[..., Awaitable[Reply]]:
    """A command that always returns a Reply: bilingual for user errors, an apology for the rest."""

    @functools.wraps(command)
    async def wrapper(*args, **kwargs) -> Reply:
        try:
            return await command(*args, **kwargs)
        except YinshiError as err:
            return error_reply(err)
        except Exception as exc:
            return apology(f"bot command {command.__name__}", exc)

    return wrapper
