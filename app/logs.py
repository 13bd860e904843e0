"""Logging for the long-running commands (`yinshi serve`, `yinshi run`): one format, and a filter
that keeps secrets and raw user identities out of every record, at every level, the libraries'
(httpx, python-telegram-bot, discord.py, aiohttp) included.

`Redactor` rewrites a record's message, arguments, traceback and stack before any handler formats
it: Telegram bot tokens (`bot<digits>:<secret>` in Bot API URLs, or bare), Discord bot tokens,
Discord interaction and webhook tokens in URLs or under a "token" key, `Authorization` headers,
the configured secret values themselves (tokens, the user-id salt, the database password), and
user ids and names in the shapes the platform libraries log them (`"id": 4242`,
`'first_name': '李白'`, `User(id=4242, ...)`).
It sits on the root handler, so records of every logger pass through it. httpx's one INFO line per
request is lowered to WARNING (it carries the Bot API URL; nothing of it is needed).
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from typing import TextIO
from urllib.parse import urlsplit

from app.settings import Settings

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
QUIET = {"httpx": logging.WARNING, "httpcore": logging.WARNING}  # per-request lines, never needed
MASK = "<redacted>"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Telegram bot tokens: 123456789:AA... (in Bot API URLs after /bot, or anywhere)
    (re.compile(r"(?<![0-9])\d{5,}:[A-Za-z0-9_-]{30,}"), MASK),
    # Discord bot tokens: three base64url parts
    (re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{23,28}\.[A-Za-z0-9_-]{6,7}\.[A-Za-z0-9_-]{27,}"), MASK),
    # Discord interaction and webhook tokens in URLs: /interactions/<id>/<token>/, /webhooks/<id>/<token>
    (re.compile(r"(/(?:interactions|webhooks)/\d+/)[A-Za-z0-9_.-]{20,}"), rf"\g<1>{MASK}"),
    # Authorization headers: Bot x, Bearer x
    (
        re.compile(r"((?:Authorization|authorization)['\"]?\s*[:=]\s*['\"]?(?:Bot|Bearer)\s+)[^\s'\",}]+"),
        rf"\g<1>{MASK}",
    ),
    # secrets by their key: an interaction's "token", a webhook's "secret_token", "password"
    (
        re.compile(r"""(["']?\b(?:token|access_token|refresh_token|secret|secret_token|password)\b["']?\s*[:=]\s*)"""
                   r"""(?P<q>["'])(?:\\.|(?!(?P=q)).)*(?P=q)"""),
        rf"\g<1>\g<q>{MASK}\g<q>",
    ),
    # user ids: "id": 4242, 'user_id': '4242', id=4242, chat_id=-100123 (JSON, dict reprs, object reprs)
    (
        re.compile(r"""(["']?\b(?:id|user_id|chat_id|chat_instance|from_user_id|sender_chat_id|author_id|"""
                   r"""recipient_id|member_id|owner_id)\b["']?\s*[:=]\s*["']?)-?\d{3,}"""),
        rf"\g<1>{MASK}",
    ),
    # names: "first_name": "李白", username='libai', global_name=None stays as it is
    (
        re.compile(r"""(["']?\b(?:first_name|last_name|full_name|username|global_name|display_name|nick|"""
                   r"""name)\b["']?\s*[:=]\s*)(?P<q>["'])(?:\\.|(?!(?P=q)).)*(?P=q)"""),
        rf"\g<1>\g<q>{MASK}\g<q>",
    ),
)


class Redactor(logging.Filter):
    """Rewrites each record so that no configured secret, token or raw user identity is left in it."""

    def __init__(self, secrets: Iterable[str] = ()):
        super().__init__()
        # longest first, so that a secret containing another is replaced whole
        self.secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what there is, redacted
            message = f"{record.msg!r} {record.args!r}"
        record.msg, record.args = self.redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
            record.exc_info = None  # the redacted text is what is shown
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def secrets_of(settings: Settings) -> list[str]:
    """The configured values that must never be logged."""
    values = [
        settings.telegram_bot_token,
        settings.discord_bot_token,
        settings.http_api_token,
        settings.user_id_salt,
    ]
    if settings.telegram_bot_token:
        from adapters.telegram_adapter import webhook_secret

        values.append(webhook_secret(settings.telegram_bot_token))
    if settings.database_url:
        values.append(urlsplit(settings.database_url).password)
    return [v for v in values if v]


def setup_logging(settings: Settings, *, verbose: bool = False, stream: TextIO | None = None) -> Redactor:
    """Log to `stream` (stderr) at INFO (DEBUG when `verbose`), every record redacted. Replaces
    any handlers the root logger had; returns the filter (tests read its patterns)."""
    redactor = Redactor(secrets_of(settings))
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(redactor)
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for name, level in QUIET.items():
        logging.getLogger(name).setLevel(level)
    return redactor
