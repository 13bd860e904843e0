"""The Telegram Bot API's wire format as the fake server reads and writes it.

Methods are `POST /bot<token>/<method>` with urlencoded, multipart or JSON bodies (python-telegram-bot
sends urlencoded fields, each non-string value JSON-encoded, e.g. `reply_markup`), answered with
`{"ok": true, "result": ...}` or `{"ok": false, "error_code": ..., "description": ...}` as Telegram does.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from aiohttp import web

JSON_FIELDS = {
    "reply_markup", "commands", "entities", "caption_entities", "allowed_updates", "scope",
    "link_preview_options", "reply_parameters",
}  # fmt: skip
INT_FIELDS = {"chat_id", "message_id", "offset", "limit", "timeout", "cache_time", "message_thread_id"}
BOOL_FIELDS = {"show_alert", "drop_pending_updates", "disable_notification", "protect_content"}
MAX_TEXT = 4096
MAX_CALLBACK_DATA = 64
COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)


class ApiError(Exception):
    def __init__(self, code: int, description: str, parameters: dict | None = None):
        super().__init__(description)
        self.code, self.description, self.parameters = code, description, parameters


@dataclass
class Call:
    """One Bot API request the bot made, as decoded parameters, with its arrival time."""

    method: str
    params: dict[str, Any]
    at: float
    result: Any = None
    error: int | None = None  # HTTP status when the fake answered with an error


def decode_field(key: str, value: Any) -> Any:
    """A form field as Telegram reads it: JSON-encoded objects, integers, booleans, else the string."""
    if not isinstance(value, str):
        return value
    if key in JSON_FIELDS:
        return json.loads(value)
    if key in INT_FIELDS:
        return int(value) if re.fullmatch(r"-?\d+", value) else value
    if key in BOOL_FIELDS:
        return value.lower() == "true"
    return value


async def read_params(request: web.Request) -> dict[str, Any]:
    """A request's parameters: query string and body, urlencoded, multipart or JSON, decoded."""
    params: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        body = await request.json() if request.can_read_body else {}
        params.update(body or {})
    elif request.can_read_body:  # urlencoded or multipart
        form = await request.post()
        params.update({k: v for k, v in form.items() if isinstance(v, str)})
    return {k: decode_field(k, v) for k, v in params.items()}


def check_text(text: str) -> str:
    """A message text Telegram accepts: not blank, at most MAX_TEXT characters."""
    if not text.strip():
        raise ApiError(400, "Bad Request: message text is empty")
    if len(text) > MAX_TEXT:
        raise ApiError(400, "Bad Request: message is too long")
    return text


def check_markup(markup: dict) -> dict:
    """An inline keyboard Telegram accepts: each button has a label and callback data of ≤ 64 bytes."""
    for row in markup.get("inline_keyboard", []):
        for button in row:
            if len(button.get("callback_data", "").encode()) > MAX_CALLBACK_DATA:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
            if not button.get("text"):
                raise ApiError(400, "Bad Request: text buttons are unallowed in the inline keyboard")
    return markup


def error_response(exc: ApiError) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": exc.code, "description": exc.description}
    if exc.parameters:
        body["parameters"] = exc.parameters
    return web.json_response(body, status=exc.code)
