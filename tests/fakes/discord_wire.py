"""Discord's wire format as the fake server speaks it: recorded REST calls (JSON bodies, or multipart
ones carrying files: `payload_json` and `files[n]`), snowflakes, and the payloads of users, messages
with their attachments, interactions, READY and the application (API v10)."""

from __future__ import annotations

import io
import itertools
import json
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from PIL import Image

API_PREFIX = "/api/v10"
EPHEMERAL = 1 << 6  # message flags
LOADING = 1 << 7
PERMISSIONS = "2248473465835073"
# Gateway opcodes
DISPATCH, HEARTBEAT, IDENTIFY, RESUME, HELLO, HEARTBEAT_ACK = 0, 1, 2, 6, 10, 11


@dataclass
class Recorded:
    """One REST call the bot made."""

    method: str
    path: str  # without the /api/v10 prefix
    query: dict[str, str]
    body: Any  # parsed JSON (a multipart body's payload_json), or None
    at: float = field(default_factory=time.perf_counter)  # perf_counter when it arrived
    files: list[tuple[str, bytes]] = field(default_factory=list)  # uploaded (filename, bytes), files[0] first


async def read_body(request: web.Request) -> tuple[Any, list[tuple[str, bytes]]]:
    """A REST body and its uploaded files: JSON, or multipart/form-data whose `payload_json` is the
    JSON and whose `files[n]` parts are the files, as discord.py sends a message with attachments."""
    if not request.can_read_body:
        return None, []
    if request.content_type != "multipart/form-data":
        return await request.json(), []
    form = await request.post()
    files = sorted(
        (int(m[1]), part.filename, part.file.read())
        for name, part in form.items()
        if (m := re.fullmatch(r"files\[(\d+)\]", name)) and not isinstance(part, str)
    )
    payload = form.get("payload_json")
    return json.loads(payload) if isinstance(payload, str) else {}, [(name, data) for _, name, data in files]


def with_uploads(body: dict[str, Any], files: list[tuple[str, bytes]], ids: Snowflakes, cdn: str) -> dict[str, Any]:
    """`body` as Discord stores the message: its uploads become attachments (`body["attachments"]`
    names them by index; images with their size), and an embed's `attachment://name` points at one."""
    described = {a.get("id"): a for a in body.get("attachments", [])}
    out = []
    for i, (filename, data) in enumerate(files):
        attachment_id = ids()
        url = f"{cdn}/attachments/{attachment_id}/{filename}"
        item = {"id": attachment_id, "filename": filename, "size": len(data), "url": url, "proxy_url": url}
        if (description := described.get(i, described.get(str(i), {})).get("description")) is not None:
            item["description"] = description
        try:
            with Image.open(io.BytesIO(data)) as image:
                item.update(width=image.width, height=image.height, content_type=Image.MIME[image.format])
        except Exception:  # not an image
            item["content_type"] = "application/octet-stream"
        out.append(item)
    embeds = json.loads(json.dumps(body.get("embeds", [])))  # a copy: the recorded body stays as sent
    for embed in embeds:
        for key in ("image", "thumbnail"):
            if url := (embed.get(key) or {}).get("url", ""):
                match = next((a for a in out if url == f"attachment://{a['filename']}"), None)
                if match is not None:
                    embed[key] = {**embed[key], "url": match["url"], "proxy_url": match["url"],
                                  "width": match.get("width"), "height": match.get("height")}
    return {**body, "attachments": out, "embeds": embeds}


class Snowflakes:
    """Monotonic Discord-shaped ids."""

    def __init__(self, start: int = 1_200_000_000_000_000_000) -> None:
        self._ids = itertools.count(start)

    def __call__(self) -> str:
        return str(next(self._ids))


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def user_payload(user_id: str, name: str, *, bot: bool = False) -> dict[str, Any]:
    return {
        "id": user_id,
        "username": name,
        "global_name": name,
        "discriminator": "0",
        "avatar": None,
        "bot": bot,
        "public_flags": 0,
    }


def json_response(data: Any, status: int = 200) -> web.Response:
    """Discord's exact content type: discord.py parses JSON only for `application/json`, no charset."""
    return web.Response(
        body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"}
    )


def custom_ids(message: dict[str, Any]) -> list[str]:
    """The custom ids of a message's buttons, row by row."""
    return [c["custom_id"] for row in message.get("components", []) for c in row.get("components", [])]


def application_payload(application_id: str, owner_id: str) -> dict[str, Any]:
    return {
        "id": application_id,
        "name": "Yinshi",
        "description": "",
        "icon": None,
        "bot_public": True,
        "bot_require_code_grant": False,
        "owner": user_payload(owner_id, "owner"),
        "verify_key": "0" * 64,
        "flags": 0,
        "team": None,
        "summary": "",
    }


def message_payload(
    message_id: str,
    interaction: dict[str, Any],
    author: dict[str, Any],
    data: dict[str, Any],
    *,
    original: bool,
) -> dict[str, Any]:
    """A message the bot posted for an interaction: its original response or a followup."""
    return {
        "id": message_id,
        "type": 20 if original else 0,  # CHAT_INPUT_COMMAND reply, or DEFAULT
        "channel_id": interaction["channel_id"],
        "guild_id": interaction.get("guild_id"),
        "author": author,
        "content": data.get("content", ""),
        "components": data.get("components", []),
        "embeds": data.get("embeds", []),
        "attachments": data.get("attachments", []),
        "mentions": [],
        "mention_roles": [],
        "mention_everyone": False,
        "pinned": False,
        "tts": False,
        "timestamp": now_iso(),
        "edited_timestamp": None,
        "flags": data.get("flags", 0),
        "webhook_id": interaction["application_id"],
        "application_id": interaction["application_id"],
        "interaction_token": interaction["token"],  # fake-only bookkeeping
        "original": original,
    }


def interaction_payload(
    interaction_id: str,
    kind: int,
    data: dict[str, Any],
    *,
    application_id: str,
    guild_id: str,
    channel_id: str,
    user: dict[str, Any],
) -> dict[str, Any]:
    """INTERACTION_CREATE's data: a slash command (kind 2) or a component tap (kind 3) in a guild channel."""
    return {
        "id": interaction_id,
        "application_id": application_id,
        "type": kind,
        "data": data,
        "guild_id": guild_id,
        "channel_id": channel_id,
        "channel": {
            "id": channel_id,
            "type": 0,
            "guild_id": guild_id,
            "name": "poetry",
            "position": 0,
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
            "topic": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "flags": 0,
            "permissions": PERMISSIONS,
        },
        "member": {
            "user": user,
            "roles": [],
            "joined_at": now_iso(),
            "deaf": False,
            "mute": False,
            "flags": 0,
            "permissions": PERMISSIONS,
        },
        "token": f"token-{interaction_id}",
        "version": 1,
        "app_permissions": PERMISSIONS,
        "locale": "zh-CN",
        "guild_locale": "zh-CN",
        "entitlements": [],
        "authorizing_integration_owners": {"0": guild_id},
        "context": 0,
        "attachment_size_limit": 10 * 1024 * 1024,
    }


def ready_payload(
    bot_user: dict[str, Any], application_id: str, session_id: str, gateway_url: str, shard: list[int]
) -> dict[str, Any]:
    return {
        "v": 10,
        "user": bot_user,
        "guilds": [],
        "session_id": session_id,
        "resume_gateway_url": gateway_url,
        "shard": shard,
        "application": {"id": application_id, "flags": 0},
        "user_settings": {},
        "private_channels": [],
        "relationships": [],
    }
