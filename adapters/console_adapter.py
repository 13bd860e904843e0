"""The console adapter: a line-by-line REPL over stdin/stdout, interactive or piped.

Same commands as the chat platforms ("/poem 春 七律", "/acrostic 春夏秋冬", "/check …", "/more",
"/rate 5", "/card off", "/script 繁", "/forget", "/help"); a bare keyword ("春") writes a poem, and a
bare 1–5 right after a poem rates it. A poem's card is written to `cards_dir`/<poem_id>.png and its
path printed under the poem. Ends on end of input, "/quit" or "/exit", or when `stop_event` is set.
"""

from __future__ import annotations

import asyncio
import getpass
import sys
import threading
from pathlib import Path
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
    cards_dir: Path | None = None,
) -> None:
    """Read commands until end of input; each line is answered before the next is read. Cards are
    written to `cards_dir` (None: not written).

    stdin is read by a daemon thread, so the event loop (and any other adapter on it) keeps running.
    """
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    user = user or console_user()
    service.require_secret_salt("console")  # local users: a public salt only gets a warning
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
        text = render_reply(reply)
        if reply.card is not None and reply.poem_id is not None and cards_dir is not None:
            text += "\n" + await asyncio.to_thread(save_card, cards_dir, reply.poem_id, reply.card)
        write(text + ("\n" if interactive else ""))


def save_card(cards_dir: Path, poem_id: int, card: bytes) -> str:
    """Write a poem's card to cards_dir/<poem_id>.png; the line that says where (or why not)."""
    path = cards_dir / f"{poem_id}.png"
    try:
        cards_dir.mkdir(parents=True, exist_ok=True)
        path.write_bytes(card)
    except OSError as e:
        return f"诗卡未能保存（{e.strerror}） · The card could not be written to {path}: {e.strerror}"
    return f"诗卡 card: {path}"


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
