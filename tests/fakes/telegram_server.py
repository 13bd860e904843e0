"""A fake Telegram Bot API server on 127.0.0.1 that speaks the wire protocol python-telegram-bot uses
(tests/fakes/telegram_wire.py).

Test side: `user_says` queues a user's message, `tap` queues a press on an inline button, `wait_for`
awaits a call the bot makes, `fail_next` answers the next call of a method with 429 `retry_after`,
`storm` the next N calls of any method with 429 or a 5xx. Photos are uploaded (sendPhoto, multipart);
their buttons change by editMessageReplyMarkup or editMessageCaption, never editMessageText.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.telegram_wire import (
    COMMAND_RE,
    NOT_MODIFIED,
    ApiError,
    Call,
    check_caption,
    check_markup,
    check_text,
    error_response,
    photo_sizes,
    read_params,
)


@dataclass
class FakeTelegram:
    token: str = "123456789:AAFakeTokenForYinshiTests_0123456789"
    bot_username: str = "yinshi_test_bot"
    host: str = "127.0.0.1"
    calls: list[Call] = field(default_factory=list)
    commands: list[dict] = field(default_factory=list)
    messages: dict[tuple[int, int], dict] = field(default_factory=dict)  # (chat_id, message_id) -> Message

    def __post_init__(self) -> None:
        self.bot_id = int(self.token.split(":")[0])
        self._updates: list[dict] = []
        self._update_ids = itertools.count(1)
        self._message_ids: dict[int, itertools.count] = {}
        self._query_ids = itertools.count(1)
        self._open_queries: set[str] = set()
        self._chats: dict[int, dict] = {}
        self._users: dict[int, dict] = {}
        self._failures: dict[str, list[ApiError]] = {}
        self._storm: list[ApiError] = []  # answers to the next calls of any method but getUpdates
        self._changed = asyncio.Condition()  # notified when updates are queued (wakes long polls)
        self._recorded = asyncio.Condition()  # notified after each recorded call (wait_until)
        self._waiters: list[tuple[Callable[[Call], bool], asyncio.Future[Call]]] = []
        self._tasks: set[asyncio.Task] = set()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.confirmed = 0  # the highest update id the bot has confirmed (getUpdates offset - 1)

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> FakeTelegram:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)  # port 0: a free port
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def close(self) -> None:
        """Stop the server, first releasing any long poll still held open."""
        self._closing = True
        await self._notify()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeTelegram:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        """For `ApplicationBuilder().base_url(...)` (the token is appended by python-telegram-bot)."""
        return f"http://{self.host}:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://{self.host}:{self.port}/file/bot"

    # ------------------------------------------------------------ test side: what users do

    def user(self, user_id: int, first_name: str = "李白") -> dict:
        return self._users.setdefault(
            user_id, {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": "zh-hans"}
        )

    def user_says(
        self, user_id: int, text: str, chat_id: int | None = None, first_name: str = "李白"
    ) -> dict:
        """Queue a message from a user (private chat unless a negative group `chat_id` is given)."""
        sender = self.user(user_id, first_name)
        chat = self._chat(chat_id if chat_id is not None else user_id, sender)
        message = {
            "message_id": self._next_message_id(chat["id"]),
            "from": sender,
            "chat": chat,
            "date": int(time.time()),
            "text": text,
        }
        command = re.match(r"/\w+(@\w+)?", text)
        if command:
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command[0])}]
        self.messages[(chat["id"], message["message_id"])] = message
        self._queue({"message": message})
        return message

    def tap(self, user_id: int, message: dict, callback_data: str, *, too_old: bool = False) -> str:
        """Queue a press on an inline button of a message the bot sent; returns the callback query id.
        `too_old`: the query expired before the bot saw it (a tap queued while the bot was down), so
        answering it is a 400, as on Telegram."""
        buttons = [b for row in message.get("reply_markup", {}).get("inline_keyboard", []) for b in row]
        if callback_data not in {b.get("callback_data") for b in buttons}:
            raise ValueError(f"no button with callback_data {callback_data!r} on that message")
        query_id = str(next(self._query_ids) + 4_000_000_000_000_000)
        if not too_old:
            self._open_queries.add(query_id)
        stored = self.messages[(message["chat"]["id"], message["message_id"])]
        self._queue(
            {
                "callback_query": {
                    "id": query_id,
                    "from": self.user(user_id),
                    "message": stored,
                    "chat_instance": str(abs(hash(message["chat"]["id"]))),
                    "data": callback_data,
                }
            }
        )
        return query_id

    def fail_next(self, method: str, retry_after: int = 1, times: int = 1) -> None:
        """Answer the next `times` calls of `method` with 429 Too Many Requests, `retry_after` seconds."""
        error = ApiError(429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})
        self._failures.setdefault(method, []).extend([error] * times)

    def error_next(self, method: str, code: int, description: str) -> None:
        """Answer the next call of `method` with this HTTP error (502 Bad Gateway, 400 Bad Request...)."""
        self._failures.setdefault(method, []).append(ApiError(code, description))

    def storm(self, n: int, code: int = 502, retry_after: int = 1) -> None:
        """Answer the next `n` calls of any method but getUpdates with 429 (`retry_after` seconds) or
        another HTTP error (502 Bad Gateway...), whatever they are: a flood limit or an outage."""
        if code == 429:
            error = ApiError(429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})
        else:
            error = ApiError(code, {502: "Bad Gateway", 500: "Internal Server Error"}.get(code, "Error"))
        self._storm.extend([error] * n)

    @property
    def storm_left(self) -> int:
        return len(self._storm)

    # ------------------------------------------------------------ test side: what the bot did

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def wait_for(
        self,
        method: str,
        where: Callable[[Call], bool] = lambda c: True,
        *,
        after: int = 0,
        timeout: float = 10.0,
    ) -> Call:
        """The first successful call of `method` (from index `after` of `calls`) matching `where`."""

        def matches(c: Call) -> bool:
            return c.method == method and c.error is None and where(c)

        earlier = next((c for c in self.calls[after:] if matches(c)), None)
        if earlier is not None:
            return earlier
        waiter: tuple[Callable[[Call], bool], asyncio.Future[Call]]
        waiter = (matches, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        try:
            return await asyncio.wait_for(waiter[1], timeout)
        finally:
            self._waiters.remove(waiter)

    async def wait_until(self, check: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Wait until `check()` (looked at after every recorded call) is truthy, and return it."""
        async with asyncio.timeout(timeout):
            async with self._recorded:
                while not (value := check()):
                    await self._recorded.wait()
                return value

    async def reply_to(self, chat_id: int, *, after: int = 0, timeout: float = 10.0) -> dict:
        """The next message the bot sends into a chat; `after`: an index into `calls` to search from."""
        call = await self.wait_for(
            "sendMessage", lambda c: c.params.get("chat_id") == chat_id, after=after, timeout=timeout
        )
        return call.result

    async def photo_to(self, chat_id: int, *, after: int = 0, timeout: float = 10.0) -> Call:
        """The next photo the bot sends into a chat (the call: its params hold the uploaded bytes)."""
        return await self.wait_for(
            "sendPhoto", lambda c: c.params.get("chat_id") == chat_id, after=after, timeout=timeout
        )

    def message(self, chat_id: int, message_id: int) -> dict:
        """The current state of a message (after any edits)."""
        return self.messages[(chat_id, message_id)]

    # ------------------------------------------------------------ server side

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.match_info["token"] != self.token:
            return error_response(ApiError(401, "Unauthorized"))
        params = await read_params(request)
        call = Call(method, params, time.perf_counter())
        try:
            if self._failures.get(method):
                raise self._failures[method].pop(0)
            if self._storm and method != "getUpdates":
                raise self._storm.pop(0)
            handler = getattr(self, f"_api_{method}", None)
            if handler is None:
                raise ApiError(404, "Not Found")
            result = handler(params) if method != "getUpdates" else await handler(params)
        except ApiError as exc:
            call.error = exc.code
            self._record(call)
            return error_response(exc)
        call.result = result
        self._record(call)
        return web.json_response({"ok": True, "result": result})

    def _record(self, call: Call) -> None:
        if call.method == "getUpdates":
            return
        self.calls.append(call)
        for matches, future in self._waiters:  # each waiter checks only the new call
            if not future.done() and matches(call):
                future.set_result(call)
        self._spawn(self._notify_recorded())

    async def _notify_recorded(self) -> None:
        async with self._recorded:
            self._recorded.notify_all()

    def _queue(self, update: dict) -> None:
        self._updates.append({"update_id": next(self._update_ids), **update})
        self._spawn(self._notify())

    def _spawn(self, notify: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(notify)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def _chat(self, chat_id: int, sender: dict) -> dict:
        if chat_id not in self._chats:
            if chat_id > 0:
                chat = {"id": chat_id, "type": "private", "first_name": sender["first_name"]}
            else:
                chat = {"id": chat_id, "type": "supergroup", "title": "诗社"}
            self._chats[chat_id] = chat
        return self._chats[chat_id]

    def _next_message_id(self, chat_id: int) -> int:
        return next(self._message_ids.setdefault(chat_id, itertools.count(1)))

    def _bot_user(self) -> dict:
        return {"id": self.bot_id, "is_bot": True, "first_name": "吟诗 Yinshi", "username": self.bot_username}

    def _stored(self, params: dict) -> dict:
        key = (params.get("chat_id"), params.get("message_id"))
        if key not in self.messages:
            raise ApiError(400, "Bad Request: message to edit not found")
        return self.messages[key]

    # ------------------------------------------------------------ Bot API methods

    def _api_getMe(self, params: dict) -> dict:
        return {
            **self._bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _api_getUpdates(self, params: dict) -> list[dict]:
        offset = params.get("offset") or 0
        limit = min(params.get("limit") or 100, 100)
        timeout = float(params.get("timeout") or 0)
        if offset:  # Telegram forgets every update below the offset once it is asked for it
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            if offset - 1 > self.confirmed:
                self.confirmed = offset - 1
                self._spawn(self._notify_recorded())

        def pending() -> list[dict]:
            return [u for u in self._updates if u["update_id"] >= offset][:limit]

        if not pending() and timeout > 0:  # long polling: hold until an update arrives or time is up
            async with self._changed:
                try:
                    await asyncio.wait_for(
                        self._changed.wait_for(lambda: bool(pending()) or self._closing), timeout
                    )
                except TimeoutError:
                    pass
        return pending()

    def _api_deleteWebhook(self, params: dict) -> bool:
        return True

    def _api_setWebhook(self, params: dict) -> bool:
        return True

    def _api_setMyCommands(self, params: dict) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise ApiError(400, "Bad Request: can't parse commands JSON object")
        for c in commands:
            if not COMMAND_RE.fullmatch(str(c.get("command", ""))):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(c.get("description", "")) <= 256:
                raise ApiError(400, "Bad Request: command description must be 1-256 characters")
        self.commands = commands
        return True

    def _api_getMyCommands(self, params: dict) -> list[dict]:
        return self.commands

    def _api_sendChatAction(self, params: dict) -> bool:
        if params.get("chat_id") not in self._chats:
            raise ApiError(400, "Bad Request: chat not found")
        return True

    def _api_sendMessage(self, params: dict) -> dict:
        return self._send(params, text=params.get("text") or "")

    def _api_sendPhoto(self, params: dict) -> dict:
        """An uploaded photo (multipart: its bytes stay in the call's params["photo"]), with a caption."""
        caption = {"caption": check_caption(params["caption"])} if params.get("caption") else {}
        return self._send(params, photo=photo_sizes(params.get("photo")), **caption)

    def _send(self, params: dict, **content: Any) -> dict:
        """A new message from the bot: `content` is its text, or its photo and caption."""
        chat_id = params.get("chat_id")
        if chat_id not in self._chats:
            if chat_id in self._users:  # a user who never opened a private chat with the bot
                raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
            raise ApiError(400, "Bad Request: chat not found")
        if "text" in content:
            check_text(content["text"])
        message: dict[str, Any] = {
            "message_id": self._next_message_id(chat_id),
            "from": self._bot_user(),
            "chat": self._chats[chat_id],
            "date": int(time.time()),
            **content,
        }
        reply_to = (params.get("reply_parameters") or {}).get("message_id")
        if reply_to is not None and (chat_id, reply_to) in self.messages:
            message["reply_to_message"] = self.messages[(chat_id, reply_to)]
        if params.get("reply_markup"):
            message["reply_markup"] = check_markup(params["reply_markup"])
        self.messages[(chat_id, message["message_id"])] = message
        return message

    def _api_editMessageReplyMarkup(self, params: dict) -> dict:
        """New buttons under any message, a text or a photo."""
        return self._edit(self._stored(params), {}, params)

    def _api_editMessageText(self, params: dict) -> dict:
        message = self._stored(params)
        if "text" not in message:  # a photo: only its caption and buttons can change
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        return self._edit(message, {"text": check_text(params.get("text") or "")}, params)

    def _api_editMessageCaption(self, params: dict) -> dict:
        message = self._stored(params)
        if "text" in message:
            raise ApiError(400, "Bad Request: there is no caption in the message to edit")
        return self._edit(message, {"caption": check_caption(params.get("caption") or "")}, params)

    def _edit(self, message: dict, content: dict, params: dict) -> dict:
        """New content (text or caption; none: the buttons alone) and markup for a message; Telegram
        refuses an edit that changes nothing."""
        markup = check_markup(params["reply_markup"]) if params.get("reply_markup") else None
        if all(message.get(k) == v for k, v in content.items()) and markup == message.get("reply_markup"):
            raise ApiError(400, NOT_MODIFIED)
        message.update(content)
        if markup is None:
            message.pop("reply_markup", None)
        else:
            message["reply_markup"] = markup
        message["edit_date"] = int(time.time())
        return message

    def _api_answerCallbackQuery(self, params: dict) -> bool:
        query_id = params.get("callback_query_id")
        if query_id not in self._open_queries:
            raise ApiError(
                400, "Bad Request: query is too old and response timeout expired or query ID is invalid"
            )
        self._open_queries.discard(query_id)
        return True
