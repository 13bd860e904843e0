"""The Telegram Bot API's wire format as the fake server reads and writes it.

Methods are `POST /bot<token>/<method>` with urlencoded, multipart or JSON bodies (python-telegram-bot
sends urlencoded fields, each non-string value JSON-encoded, e.g. `reply_markup`; an upload such as
sendPhoto's `photo` is multipart/form-data, read here as the file's bytes), answered with
`{"ok": true, "result": ...}` or `{"ok": false, "error_code": ..., "description": ...}` as Telegram does.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from PIL import Image

JSON_FIELDS = {
    "reply_markup", "commands", "entities", "caption_entities", "allowed_updates", "scope",
    "link_preview_options", "reply_parameters",
}  # fmt: skip
INT_FIELDS = {"chat_id", "message_id", "offset", "limit", "timeout", "cache_time", "message_thread_id"}
BOOL_FIELDS = {"show_alert", "drop_pending_updates", "disable_notification", "protect_content"}
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_PHOTO_BYTES = 10 * 1024 * 1024  # Telegram's limit on an uploaded photo
MAX_PHOTO_SIDES = 10_000  # width + height
THUMB_SIDE = 320  # Telegram's sizes of a photo: a thumbnail and the photo (at most 1280 on its long side)
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
    elif request.can_read_body:  # urlencoded or multipart (uploaded files: their bytes)
        form = await request.post()
        params.update({k: v if isinstance(v, str) else v.file.read() for k, v in form.items()})
    return {k: decode_field(k, v) for k, v in params.items()}


def check_caption(caption: str) -> str:
    if len(caption) > MAX_CAPTION:
        raise ApiError(400, "Bad Request: message caption is too long")
    return caption


def photo_sizes(photo: Any) -> list[dict]:
    """The PhotoSize list Telegram makes of an uploaded photo: a thumbnail and the photo, at most
    1280 px on the long side. 400 unless `photo` is the bytes of an image Telegram accepts."""
    if not isinstance(photo, bytes):  # a file_id or URL: not something the bot sends
        raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
    if len(photo) > MAX_PHOTO_BYTES:
        raise ApiError(400, "Bad Request: PHOTO_SAVE_FILE_INVALID")
    try:
        with Image.open(io.BytesIO(photo)) as image:
            image.load()
            width, height = image.size
    except Exception:
        raise ApiError(400, "Bad Request: IMAGE_PROCESS_FAILED") from None
    if width + height > MAX_PHOTO_SIDES or max(width, height) > 20 * min(width, height):
        raise ApiError(400, "Bad Request: PHOTO_INVALID_DIMENSIONS")
    unique = hashlib.sha256(photo).hexdigest()[:16]
    sizes = []
    for i, side in enumerate((THUMB_SIDE, 1280)):
        scale = min(1.0, side / max(width, height))
        w, h = round(width * scale), round(height * scale)
        sizes.append({"file_id": f"photo-{unique}-{i}", "file_unique_id": f"{unique}{i}", "width": w,
                      "height": h, "file_size": len(photo) * w * h // (width * height)})
    return sizes


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
