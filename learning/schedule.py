"""The periodic check a running app owns: start one fine-tuning cycle at a time, in a subprocess.

Every `interval_s` the schedule asks, per generator, how many liked or disliked ratings arrived
since the data of its last cycle; at `min_new_ratings` or more it runs `python -m learning.cycle`
for that generator as a subprocess and waits for it without blocking the event loop (the count
is a database call, run in a worker thread). A second cycle never starts while one runs, in this
process (one task) or another (the cycle holds a file lock). The app creates it, `start()`s it
and `close()`s it on shutdown, which also ends a running cycle (it resumes next time).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from learning.registry import Registry

log = logging.getLogger(__name__)


class FineTuneSchedule:
    def __init__(self, *, registry: Registry, models: Sequence[str], interval_s: float, min_new_ratings: int,
                 count_new: Callable[[str, datetime | None], int], cycle_args: Callable[[str], list[str]],
                 log_file: Path | None = None):
        """`count_new(model, since)`: liked + disliked ratings of that generator's poems newer than
        `since` (None: all). `cycle_args(model)`: the arguments after `python -m learning.cycle`."""
        self.registry, self.models = registry, list(models)
        self.interval_s, self.min_new = interval_s, min_new_ratings
        self.count_new, self.cycle_args = count_new, cycle_args
        self.log_file = log_file or registry.root / "cycles.log"
        self.running: str | None = None  # the generator whose cycle runs now
        self.last: dict[str, dict] = {}  # per generator, the last cycle's result
        self._task: asyncio.Task | None = None
        self._proc: asyncio.subprocess.Process | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="yinshi-finetune-schedule")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception:  # a failed check must not end the schedule
                log.exception("fine-tuning check failed")
            await asyncio.sleep(self.interval_s)

    async def check(self) -> list[dict]:
        """One pass over the generators; returns the results of the cycles it ran."""
        out = []
        for model in self.models:
            new = await asyncio.to_thread(self.count_new, model, self.registry.data_until(model))
            if new < self.min_new:
                continue
            result = await self.run_cycle(model)
            self.last[model] = result
            out.append(result)
        return out

    async def run_cycle(self, model: str) -> dict:
        """Run `python -m learning.cycle` for one generator; its last stdout line is its JSON."""
        self.running = model
        cmd = [sys.executable, "-m", "learning.cycle", *self.cycle_args(model), "--json"]
        try:
            with open(self.log_file, "ab") as err:
                self._proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE, stderr=err)
                try:
                    stdout, _ = await self._proc.communicate()
                except asyncio.CancelledError:
                    self._proc.terminate()  # the cycle resumes from its last saved step next time
                    await self._proc.wait()
                    raise
            lines = stdout.decode(errors="replace").strip().splitlines()
            try:
                return json.loads(lines[-1]) if lines else {"model": model, "error": f"exit {self._proc.returncode}"}
            except json.JSONDecodeError:
                return {"model": model, "error": lines[-1][:500]}
        finally:
            self.running, self._proc = None, None
