"""Batch forming, as plain synchronous functions (the async engine calls them; tests call them directly).

A batch takes at most `max_size` waiting requests. The oldest live request always goes in (no
starvation); requests that share its decode group (model, form, scheme) come next, oldest first, so
one decode pass serves many; any room left goes to the other groups in the order of their oldest
request. Requests whose caller has gone (cancelled or timed out) are dropped, never decoded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from engine.decoding.names import parse_model
from engine.errors import YinshiError
from engine.prosody.forms import parse_form
from engine.request import PoemRequest

T = TypeVar("T")
GroupKey = tuple[str, str, str]  # (model, form, scheme): the requests one decode pass can serve


def group_key(request: PoemRequest) -> GroupKey:
    """The decode group of a request, with model and form names normalised (对抗 → gan, 五绝 → wujue).

    Names that do not parse keep their raw text: the poet answers those with an error anyway.
    """
    try:
        model = parse_model(request.model)
    except (YinshiError, AttributeError):
        model = str(request.model)
    try:
        form = parse_form(request.form).name if request.form else ""
    except (ValueError, AttributeError):
        form = str(request.form)
    return model, form, request.scheme


@dataclass(eq=False)
class Pending(Generic[T]):
    """A waiting request: `seq` orders by arrival; `ticket` is whatever the caller waits on."""

    request: PoemRequest
    seq: int
    ticket: T = None  # type: ignore[assignment]
    arrived: float = 0.0  # clock reading at submission (the engine uses its event loop's clock)
    key: GroupKey = field(init=False)

    def __post_init__(self) -> None:
        self.key = group_key(self.request)


def take_batch(
    pending: Iterable[Pending[T]], max_size: int, is_gone: Callable[[Pending[T]], bool] = lambda p: False
) -> tuple[list[Pending[T]], list[Pending[T]]]:
    """Split `pending` into (the next batch, the requests left waiting), dropping gone requests.

    The batch is ordered by group (oldest group first), oldest first within a group; the rest keeps
    arrival order.
    """
    if max_size < 1:
        raise ValueError(f"max_size must be at least 1, not {max_size}")
    live = sorted((p for p in pending if not is_gone(p)), key=lambda p: p.seq)
    groups: dict[GroupKey, list[Pending[T]]] = {}
    for p in live:  # dicts keep insertion order: groups come in the order of their oldest request
        groups.setdefault(p.key, []).append(p)
    batch: list[Pending[T]] = []
    for members in groups.values():
        batch.extend(members[: max_size - len(batch)])
        if len(batch) == max_size:
            break
    taken = {id(p) for p in batch}
    return batch, [p for p in live if id(p) not in taken]


def count_live(pending: Iterable[Pending[T]], is_gone: Callable[[Pending[T]], bool]) -> int:
    """How many requests are still waiting for an answer."""
    return sum(1 for p in pending if not is_gone(p))
