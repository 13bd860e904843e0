"""Pickled results on disk (the cleaned corpus, the evaluation reference): read back if readable,
written atomically; a missing, corrupt or read-only cache only costs time."""

from __future__ import annotations

import gc
import os
import pickle
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def gc_paused() -> Iterator[None]:
    """Creating a few hundred thousand objects is several times faster without cyclic GC."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def read_pickle(path: Path) -> Any | None:
    """The object pickled at `path`, or None when there is none or it cannot be read."""
    try:
        with path.open("rb") as f, gc_paused():
            return pickle.load(f)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ValueError):
        return None


def write_pickle(path: Path, obj: Any) -> None:
    """Pickle `obj` to `path` atomically (a reader never sees half a file); OSError is ignored."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        with tmp.open("wb") as f:
            pickle.dump(obj, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError:
        pass
