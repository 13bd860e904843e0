"""Slow clients cannot hold the server's connections: a connection that sends part of a request head
and then nothing, or dribbles it a byte at a time, is closed by the server within
ApiOptions.header_timeout_s, while other clients are served meanwhile."""

from __future__ import annotations

import asyncio
import time

from engine.serving.http_api import ApiOptions
from tests.engine.serving.http_helpers import serving

TIMEOUT_S = 1.0
SLACK_S = 3.0  # the timer's granularity and a loaded test machine
PARTIAL_HEAD = b"POST /v1/poems HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty"


async def closed_after(host: str, port: int, dribble: bool = False) -> float:
    """Seconds from sending part of a request head until the server closes the connection (read()
    returns b"" at end of stream; a dribbling client keeps sending one byte every 0.1 s)."""
    reader, writer = await asyncio.open_connection(host, port)
    started = time.monotonic()
    try:
        if not dribble:
            writer.write(PARTIAL_HEAD)
            await writer.drain()
            assert await asyncio.wait_for(reader.read(), TIMEOUT_S + SLACK_S + 5) == b""
            return time.monotonic() - started
        for i in range(10_000):
            if reader.at_eof():
                return time.monotonic() - started
            try:
                writer.write(PARTIAL_HEAD[i % len(PARTIAL_HEAD) : i % len(PARTIAL_HEAD) + 1] or b"x")
                await writer.drain()
            except ConnectionError:
                return time.monotonic() - started
            try:
                if await asyncio.wait_for(reader.read(1), 0.1) == b"":
                    return time.monotonic() - started
            except TimeoutError:
                pass
            if time.monotonic() - started > TIMEOUT_S + SLACK_S + 5:
                break
        raise AssertionError("the server kept a dribbling connection open")
    finally:
        writer.close()


async def test_connections_with_a_partial_head_are_closed_in_bounded_time(engine, http):
    async with serving(engine, ApiOptions(header_timeout_s=TIMEOUT_S)) as url:
        host, port = url.removeprefix("http://").split(":")
        slow = [asyncio.ensure_future(closed_after(host, int(port))) for _ in range(20)]
        slow.append(asyncio.ensure_future(closed_after(host, int(port), dribble=True)))
        await asyncio.sleep(0.2)
        async with http.get(f"{url}/healthz") as resp:  # others are served meanwhile
            assert resp.status == 200
        seconds = await asyncio.gather(*slow)
    assert all(TIMEOUT_S * 0.9 <= s < TIMEOUT_S + SLACK_S for s in seconds), seconds
