"""The console adapter: a line-by-line REPL over stdin/stdout, interactive or piped.

Same commands as the chat platforms ("/poem 春 七律", "/acrostic 春夏秋冬", "/check …", "/more",
"/rate 5", "/forget", "/help"); a bare keyword ("春") writes a poem, and a bare 1–5 right after a
poem rates it. Ends on end of input, "/quit" or "/exit", or when `stop_event` is set.
"""

from __future__ import annotations

import asyncio
import getpass
import sys
import threading
from typing import TYPE_CHECKING, TextIO

from bot.replies import Reply, UserRef

if TYPE_CHECKING:
    from bot.service import BotService

QUIT_COMMANDS = frozenset({"/quit", "/exit", "/q"})
PROMPT = "吟诗> "


def console_user() -> UserRef:
    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        name = "console"
    return UserRef(platform="console", user_id=name, name=name)


def render_reply(reply: Reply) -> str:
    text = reply.text
    if reply.poem_id is not None and reply.rating is None:
        text += f"\n\n[#{reply.poem_id}] 输入 1–5 评分 · type 1–5 to rate"
    return text


async def run_console(
    service: BotService,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    user: UserRef | None = None,
    stop_event: asyncio.Event | None = None,
) -> None:
    """Read commands until end of input; each line is answered before the next is read.

    stdin is read by a daemon thread, so the event loop (and any other adapter on it) keeps running.
    """
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    user = user or console_user()
    interactive = stdin.isatty()
    last_poem_id: int | None = None
    lines = _start_reader(stdin)

    def write(text: str) -> None:
        stdout.write(text + "\n")
        stdout.flush()

    if interactive:
        write(service.start().text + "\n/quit — 退出 · quit")
    while stop_event is None or not stop_event.is_set():
        if interactive:
            stdout.write(PROMPT)
            stdout.flush()
        line = await _next_line(lines, stop_event)
        if line is None:  # end of input, or stopped
            break
        line = line.strip()
        if not line:
            continue
        if line.lower() in QUIT_COMMANDS:
            break
        if last_poem_id is not None and line.isascii() and line.isdigit():
            reply = await service.rate(user, last_poem_id, int(line))
        else:
            reply = await service.handle_text(user, line)
        if reply.poem_id is not None and reply.rating is None:
            last_poem_id = reply.poem_id
        write(render_reply(reply) + ("\n" if interactive else ""))


def _start_reader(stdin: TextIO) -> asyncio.Queue[str | None]:
    """Lines of stdin, fed by a daemon thread (a blocked read never holds up shutdown); None at EOF."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def pump() -> None:
        try:
            for line in iter(stdin.readline, ""):
                loop.call_soon_threadsafe(queue.put_nowait, line)
            loop.call_soon_threadsafe(queue.put_nowait, None)
        except RuntimeError:  # the loop closed while we were reading
            pass

    threading.Thread(target=pump, name="console-stdin", daemon=True).start()
    return queue


async def _next_line(lines: asyncio.Queue[str | None], stop_event: asyncio.Event | None) -> str | None:
    """The next line, or None at end of input or once `stop_event` is set."""
    if stop_event is None:
        return await lines.get()
    get = asyncio.ensure_future(lines.get())
    stop = asyncio.ensure_future(stop_event.wait())
    done, _ = await asyncio.wait({get, stop}, return_when=asyncio.FIRST_COMPLETED)
    for task in (get, stop):
        if task not in done:
            task.cancel()
    return get.result() if get in done else None
