"""Group commit: rows that arrive while the previous group is being written go to the database
together, in one transaction, so that many rows share one disk flush.

A commit that survives a power cut costs a flush of the log (~2–5 ms on a disk), and SQLite takes
one writer at a time: written one by one, poems cap the bot near 200–250 replies a second whatever
the model does. Gathered, fifty concurrent poems cost one flush. Nothing waits for a timer: a lone
row is written at once, and a group forms only while the disk is busy. Reads gather the same way
(`write_many` a query for many keys): the bot reads the preferences of concurrent poems in one query.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Generic, TypeVar

from engine.errors import YinshiError

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")


class GroupCommit(Generic[T, R]):
    """`await write(item)` returns what `write_many` returned for it. `write_many` runs in a worker
    thread, one group at a time, and writes its items in one transaction. When a group fails for a
    reason other than a user-facing YinshiError (a busy database), each of its items is written
    alone, so that one bad row fails only its own request."""

    def __init__(self, write_many: Callable[[list[T]], list[R]], *, max_group: int = 256) -> None:
        self.write_many = write_many
        self.max_group = max_group
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        self._writer: asyncio.Task | None = None
        self.groups: list[int] = []  # sizes of the groups written (for benchmarks and tests)

    async def write(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain(), name="group-commit")
        return await asyncio.shield(future)  # a caller who leaves does not abort the group

    async def _drain(self) -> None:
        while self._waiting:
            group, self._waiting = self._waiting[: self.max_group], self._waiting[self.max_group :]
            self.groups.append(len(group))
            items = [item for item, _ in group]
            try:
                results = await asyncio.to_thread(self.write_many, items)
            except YinshiError as err:
                for _, future in group:
                    _settle(future, exc=err)
            except Exception as exc:
                if len(group) == 1:
                    _settle(group[0][1], exc=exc)
                    continue
                log.warning("a group of %d rows failed (%r); writing them one by one", len(group), exc)
                for item, future in group:
                    try:
                        [result] = await asyncio.to_thread(self.write_many, [item])
                    except Exception as one:
                        _settle(future, exc=one)
                    else:
                        _settle(future, result=result)
            else:
                for (_, future), result in zip(group, results, strict=True):
                    _settle(future, result=result)


def _settle(future: asyncio.Future, *, result: object = None, exc: BaseException | None = None) -> None:
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)
