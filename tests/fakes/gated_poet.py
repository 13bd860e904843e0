"""A slow moment on demand: a poet whose decode waits until the test opens its gate (no sleeps)."""

from __future__ import annotations

import asyncio
import threading

from engine.request import PoemRequest


class Gate:
    """A poet whose decode waits until the test opens the gate; it records the batches it saw."""

    def __init__(self, poet):
        self.poet = poet
        self.entered = threading.Event()
        self.opened = threading.Event()
        self.batches: list[list[PoemRequest]] = []

    @property
    def model_versions(self) -> dict[str, str]:
        return self.poet.model_versions

    @property
    def rhyme_usage(self):
        return self.poet.rhyme_usage

    def generate_batch(self, requests):
        self.batches.append(list(requests))
        self.entered.set()
        if not self.opened.wait(30):
            raise RuntimeError("the test never opened the gate")
        return self.poet.generate_batch(requests)

    async def wait_entered(self) -> None:
        assert await asyncio.to_thread(self.entered.wait, 30), "no batch reached the poet"
