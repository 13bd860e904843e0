"""One turn at a time per key, in the order the turns were asked for.

A user who taps ★2 and then ★5 within a moment sends two updates that the adapters handle
concurrently; `Turns` makes the second wait until the first is stored *and shown*, so the last tap
wins both on screen and in the database. `asyncio.Lock` wakes its waiters first come, first served,
and the adapters ask for a turn in the order the platform delivered the updates.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class Turns:
    """Per-key FIFO locks; a key's lock is dropped as soon as nobody holds or awaits it."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._waiting: dict[str, int] = {}  # holders and waiters per key

    @contextlib.asynccontextmanager
    async def turn(self, key: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._waiting[key] = self._waiting.get(key, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._waiting[key] -= 1
            if not self._waiting[key]:
                del self._waiting[key], self._locks[key]

    def __len__(self) -> int:
        """Keys with a turn held or awaited (0 when idle: nothing is kept per user)."""
        return len(self._locks)
