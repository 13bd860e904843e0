"""A fake Discord on 127.0.0.1: the REST routes and the gateway websocket that discord.py uses.

Tests point discord.py at `FakeDiscord.api_base` (it plays `Route.BASE`); `/gateway/bot` then hands
out this server's websocket. Each REST call is recorded (`requests`); a route the fake does not
know answers 404 and lands in `unknown`, which tests assert empty. Tests inject interactions with
`dispatch_interaction(slash(...))` or `dispatch_interaction(button(...))` and wait for the bot's
answer with `wait_for(...)`. Trouble on demand: `fail_next` (a 400), `storm` (the next N REST calls
answered 429 or 5xx), `disconnect` (the gateway closes a shard's socket; the bot may RESUME).
Payload shapes are in tests/fakes/discord_wire.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.discord_wire import (
    API_PREFIX,
    DISPATCH,
    EPHEMERAL,
    HEARTBEAT,
    HEARTBEAT_ACK,
    HELLO,
    IDENTIFY,
    LOADING,
    RESUME,
    Recorded,
    Snowflakes,
    application_payload,
    interaction_payload,
    json_response,
    message_payload,
    now_iso,
    read_body,
    ready_payload,
    user_payload,
    with_uploads,
)

log = logging.getLogger(__name__)


class FakeDiscord:
    """REST + gateway. Use `async with FakeDiscord() as fake:`."""

    def __init__(self, *, shards: int = 1, heartbeat_interval_ms: int = 500) -> None:
        self.shards = shards
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.snowflake = Snowflakes()
        self.application_id = self.snowflake()
        self.bot_user = user_payload(self.application_id, "Yinshi", bot=True)
        self.guild_id = self.snowflake()
        self.channel_id = self.snowflake()
        self.requests: list[Recorded] = []
        self.unknown: list[Recorded] = []
        self.commands: list[dict[str, Any]] = []  # the global command set, as last overwritten
        self.messages: dict[str, dict[str, Any]] = {}  # message id -> message payload
        self._originals: dict[str, dict[str, Any]] = {}  # interaction token -> its original response
        self._answers: dict[str, Recorded] = {}  # interaction token -> the bot's first message for it
        self._answer_waiters: dict[str, asyncio.Future[Recorded]] = {}
        self.interactions: dict[str, dict[str, Any]] = {}  # token -> the interaction payload
        self.callbacks: dict[str, Recorded] = {}  # interaction token -> the bot's interaction callback
        self.followups: dict[str, list[Recorded]] = {}  # interaction token -> followup posts, in order
        self.identified: list[dict[str, Any]] = []  # IDENTIFY payloads received
        self.resumed: list[dict[str, Any]] = []  # RESUME payloads received
        self.storm_left = 0  # REST calls still to be answered with `_storm_status`
        self._storm_status = 502
        self._storm_retry_after = 0.0
        self.heartbeats = 0
        self._failures: list[tuple[str, re.Pattern[str]]] = []  # (method, path) answered 400 once
        self._sockets: dict[int, web.WebSocketResponse] = {}  # shard id -> socket
        self._sessions: dict[int, str] = {}  # shard id -> session id
        self._seq: dict[int, int] = {}
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ---- lifecycle --------------------------------------------------------------------------

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def close(self) -> None:
        for ws in list(self._sockets.values()):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    # ---- waiting ----------------------------------------------------------------------------

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_until(self, check: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Wait until `check()` is truthy and return its value."""
        async with asyncio.timeout(timeout):
            async with self._changed:
                while not (value := check()):
                    await self._changed.wait()
                return value

    async def wait_for(self, method: str, pattern: str, *, after: int = 0, timeout: float = 10.0) -> Recorded:
        """The first REST call (from index `after`) with this method whose path fully matches `pattern`."""
        rx = re.compile(pattern)

        def find() -> Recorded | None:
            for r in self.requests[after:]:
                if r.method == method and rx.fullmatch(r.path):
                    return r
            return None

        return await self.wait_until(find, timeout)

    async def answer_to(self, token: str, timeout: float = 10.0) -> Recorded:
        """The bot's first message for an interaction: its response (type 4) or, after a defer, its
        first followup. Wakes only this waiter (for load tests)."""
        if token in self._answers:
            return self._answers[token]
        future = self._answer_waiters.setdefault(token, asyncio.get_running_loop().create_future())
        return await asyncio.wait_for(asyncio.shield(future), timeout)

    def _answered(self, token: str, rec: Recorded) -> None:
        if token in self._answers:
            return
        self._answers[token] = rec
        waiter = self._answer_waiters.pop(token, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(rec)

    def fail_next(self, method: str, pattern: str) -> None:
        """Answer the next REST call with this method and a path fully matching `pattern` with a 400."""
        self._failures.append((method, re.compile(pattern)))

    def storm(self, n: int, status: int = 502, retry_after: float = 0.05) -> None:
        """Answer the next `n` REST calls, whatever they are, with `status`: 429 (a rate limit, with
        `retry_after` seconds, as Discord's edge sends it) or a 5xx (an outage)."""
        self.storm_left, self._storm_status, self._storm_retry_after = n, status, retry_after

    async def disconnect(self, shard_id: int = 0, code: int = 4000) -> None:
        """Close a shard's gateway socket with `code` (4000: unknown error, resumable)."""
        await self._sockets[shard_id].close(code=code, message=b"fake: going away")

    async def wait_ready(self, timeout: float = 10.0) -> None:
        """Every shard has identified and been sent READY."""
        await self.wait_until(lambda: len(self.identified) >= self.shards, timeout)

    # ---- REST -------------------------------------------------------------------------------

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        body, files = await read_body(request)
        rec = Recorded(request.method, path, dict(request.query), body, files=files)
        self.requests.append(rec)
        try:
            if self.storm_left > 0:
                self.storm_left -= 1
                return self._storm_response()
            for failure in self._failures:
                if failure[0] == rec.method and failure[1].fullmatch(path):
                    self._failures.remove(failure)
                    return json_response({"message": "Invalid Form Body", "code": 50035}, status=400)
            return await self._route(rec)
        finally:
            await self._notify()

    def _storm_response(self) -> web.Response:
        if self._storm_status == 429:
            body = {"message": "You are being rate limited.", "retry_after": self._storm_retry_after, "global": False}
            response = json_response(body, status=429)
            response.headers["Via"] = "1.1 google"  # discord.py reads a 429 without it as a Cloudflare ban
            response.headers["Retry-After"] = str(max(1, round(self._storm_retry_after)))
            return response
        return json_response({"message": "upstream connect error", "code": 0}, status=self._storm_status)

    async def _route(self, rec: Recorded) -> web.StreamResponse:
        m, p, app = rec.method, rec.path, re.escape(self.application_id)
        if m == "GET" and p == "/users/@me":
            return json_response(self.bot_user)
        if m == "GET" and p == "/oauth2/applications/@me":
            return json_response(application_payload(self.application_id, self.snowflake()))
        if m == "GET" and p == "/gateway/bot":
            return json_response(
                {
                    "url": self.gateway_url,
                    "shards": self.shards,
                    "session_start_limit": {
                        "total": 1000,
                        "remaining": 1000,
                        "reset_after": 0,
                        "max_concurrency": 1,
                    },
                }
            )
        if re.fullmatch(rf"/applications/{app}/commands", p):
            if m == "GET":
                return json_response(self.commands)
            if m == "PUT":
                self.commands = [self._register(c) for c in rec.body]
                return json_response(self.commands)
        if m == "POST" and (match := re.fullmatch(r"/interactions/(\d+)/([^/]+)/callback", p)):
            self.callbacks.setdefault(match[2], rec)
            response = self._callback(match[1], match[2], rec.body, rec.files)
            if response.status == 200 and rec.body.get("type") == 4:
                self._answered(match[2], rec)
            return response
        if match := re.fullmatch(rf"/webhooks/{app}/([^/]+)", p):
            token = match[1]
            if m == "POST" and token in self.interactions:
                self.followups.setdefault(token, []).append(rec)
                self._answered(token, rec)
                return json_response(self._new_message(token, self._with_files(rec.body, rec.files)))
        if match := re.fullmatch(rf"/webhooks/{app}/([^/]+)/messages/([^/]+)", p):
            token, message = match[1], match[2]
            msg = self._find_message(token, message)
            if msg is not None:
                if m == "PATCH":
                    msg.update({k: v for k, v in rec.body.items() if k in ("content", "components", "flags")})
                    msg["edited_timestamp"] = now_iso()
                    return json_response(msg)
                if m == "GET":
                    return json_response(msg)
                if m == "DELETE":
                    msg["deleted"] = True
                    return web.Response(status=204)
        self.unknown.append(rec)
        log.error("fake Discord: unknown route %s %s %s", m, p, rec.body)
        return json_response({"message": "404: Not Found", "code": 0}, status=404)

    def _register(self, command: dict[str, Any]) -> dict[str, Any]:
        return {
            **command,
            "id": self.snowflake(),
            "application_id": self.application_id,
            "version": self.snowflake(),
            "default_member_permissions": command.get("default_member_permissions"),
            "type": command.get("type", 1),
        }

    def _callback(
        self, interaction_id: str, token: str, body: dict[str, Any], files: list[tuple[str, bytes]]
    ) -> web.Response:
        interaction = self.interactions.get(token)
        if interaction is None or interaction["id"] != interaction_id:
            return json_response({"message": "Unknown interaction", "code": 10062}, status=404)
        if interaction.get("responded"):
            return json_response(
                {"message": "Interaction has already been acknowledged.", "code": 40060}, status=400
            )
        interaction["responded"] = body
        kind = body["type"]
        data = self._with_files(body.get("data") or {}, files)
        ephemeral = bool(data.get("flags", 0) & EPHEMERAL)
        message = None
        if kind in (4, 5):  # a message, or "thinking…": both become the original response
            message = self._store_message(token, {**data, "flags": data.get("flags", 0)}, original=True)
            if kind == 5:
                message["flags"] |= LOADING
        return json_response(
            {
                "interaction": {
                    "id": interaction_id,
                    "type": interaction["type"],
                    "response_message_id": message and message["id"],
                    "response_message_loading": kind == 5,
                    "response_message_ephemeral": ephemeral,
                },
                "resource": {"type": kind, **({"message": message} if message else {})},
            }
        )

    def _store_message(self, token: str, data: dict[str, Any], *, original: bool = False) -> dict[str, Any]:
        msg = message_payload(
            self.snowflake(), self.interactions[token], self.bot_user, data, original=original
        )
        self.messages[msg["id"]] = msg
        if original:
            self._originals.setdefault(token, msg)
        return msg

    def _with_files(self, body: dict[str, Any], files: list[tuple[str, bytes]]) -> dict[str, Any]:
        """A message body with its uploaded files as attachments (served from this fake's /cdn)."""
        return with_uploads(body, files, self.snowflake, f"http://127.0.0.1:{self.port}/cdn")

    def _new_message(self, token: str, body: dict[str, Any]) -> dict[str, Any]:
        """A followup. The first one after a live "thinking…" defer replaces it, keeping its visibility."""
        original = self.original(token)
        if original is not None and original["flags"] & LOADING and not original.get("deleted"):
            original.update({k: body.get(k, []) for k in ("components", "embeds", "attachments")})
            original["content"] = body.get("content", "")
            original["flags"] &= ~LOADING
            original["followup_flags"] = body.get("flags", 0)
            return original
        return self._store_message(token, body)

    def _find_message(self, token: str, message: str) -> dict[str, Any] | None:
        if message == "@original":
            return self.original(token)
        msg = self.messages.get(message)
        return msg if msg is not None and msg["interaction_token"] == token else None

    def original(self, token: str) -> dict[str, Any] | None:
        return self._originals.get(token)

    def visible_messages(self, token: str) -> list[dict[str, Any]]:
        """What the user finally sees for an interaction: its messages that were not deleted."""
        return [
            m
            for m in self.messages.values()
            if m["interaction_token"] == token and not m.get("deleted") and not m["flags"] & LOADING
        ]

    # ---- gateway ----------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        shard: int | None = None
        await ws.send_str(json.dumps({"op": HELLO, "d": {"heartbeat_interval": self.heartbeat_interval_ms}}))
        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                continue
            payload = json.loads(msg.data)
            op = payload.get("op")
            if op == HEARTBEAT:
                self.heartbeats += 1
                await ws.send_str(json.dumps({"op": HEARTBEAT_ACK}))
            elif op == RESUME:  # after a disconnect: replay nothing, carry on with the same session
                shard = next((sid for sid, session in self._sessions.items() if session == payload["d"]["session_id"]), 0)
                self._sockets[shard] = ws
                await self._dispatch(shard, "RESUMED", {})
                self.resumed.append(payload["d"])
                await self._notify()
            elif op == IDENTIFY:
                d = payload["d"]
                shard_id, count = d.get("shard", [0, 1])
                shard = shard_id
                self._sockets[shard_id] = ws
                self._seq[shard_id] = 0
                await self._dispatch(shard_id, "READY", self._ready(shard_id, count))
                self.identified.append(d)
                await self._notify()
            else:
                log.error("fake Discord gateway: unexpected op %s: %s", op, payload)
        if shard is not None and self._sockets.get(shard) is ws:
            del self._sockets[shard]
        return ws

    def _ready(self, shard_id: int, count: int) -> dict[str, Any]:
        session = self._sessions[shard_id] = f"session-{shard_id}-{self.snowflake()}"
        return ready_payload(self.bot_user, self.application_id, session, self.gateway_url, [shard_id, count])

    async def _dispatch(self, shard_id: int, event: str, data: dict[str, Any]) -> None:
        self._seq[shard_id] += 1
        await self._sockets[shard_id].send_str(
            json.dumps({"op": DISPATCH, "t": event, "s": self._seq[shard_id], "d": data})
        )

    async def dispatch_interaction(self, interaction: dict[str, Any]) -> float:
        """Send INTERACTION_CREATE on the guild's shard; returns perf_counter just before sending."""
        self.interactions[interaction["token"]] = interaction
        shard_id = (int(self.guild_id) >> 22) % self.shards
        started = time.perf_counter()
        await self._dispatch(shard_id, "INTERACTION_CREATE", interaction)
        return started

    # ---- interaction payloads ---------------------------------------------------------------

    def _interaction(self, kind: int, data: dict[str, Any], user_id: str, name: str) -> dict[str, Any]:
        return interaction_payload(
            self.snowflake(),
            kind,
            data,
            application_id=self.application_id,
            guild_id=self.guild_id,
            channel_id=self.channel_id,
            user=user_payload(user_id, name),
        )

    def slash(
        self,
        name: str,
        options: dict[str, Any] | None = None,
        *,
        user_id: str = "4242",
        user_name: str = "libai",
    ) -> dict[str, Any]:
        """An application command interaction, as Discord sends it for `/name option:value ...`."""
        command = next((c for c in self.commands if c["name"] == name), None)
        data: dict[str, Any] = {
            "id": command["id"] if command else self.snowflake(),
            "name": name,
            "type": 1,
            "options": [
                {"name": k, "type": 3 if isinstance(v, str) else 4, "value": v}
                for k, v in (options or {}).items()
            ],
        }
        return self._interaction(2, data, user_id, user_name)

    def button(
        self, message: dict[str, Any], custom_id: str, *, user_id: str = "4242", user_name: str = "libai"
    ) -> dict[str, Any]:
        """A button tap on `message` (as the fake stored it)."""
        shown = {k: v for k, v in message.items() if k not in ("interaction_token", "original", "deleted")}
        data = {"custom_id": custom_id, "component_type": 2}
        return {**self._interaction(3, data, user_id, user_name), "message": shown}
