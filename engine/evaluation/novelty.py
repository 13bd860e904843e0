"""How much of a generated poem is copied from the training poems: whole lines and 4-grams.

Lines and character n-grams of the training split are stored as sorted arrays of 64-bit
polynomial hashes (numpy), so millions of them fit in a few tens of MB and a lookup is a binary
search. A false match needs a 64-bit hash collision: about one in 10^12 per query here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

_MULT = np.uint64(0x9E3779B97F4A7C15)  # odd multiplier of the polynomial hash
_LEN_SALT = np.uint64(0xC2B2AE3D27D4EB4F)


def _window_hashes(ids: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    """Hash of ids[s : s + length] for every s in starts (uint64 arithmetic wraps around)."""
    with np.errstate(over="ignore"):
        h = np.full(len(starts), np.uint64(length) * _LEN_SALT, dtype=np.uint64)
        for j in range(length):
            h = h * _MULT + ids[starts + j]
    return h


def sorted_unique(a: np.ndarray) -> np.ndarray:
    """np.unique by sort-and-compare: several times faster than np.unique on numpy 2.4."""
    a = np.sort(a)
    return a[np.concatenate(([True], a[1:] != a[:-1]))] if len(a) else a


def _line_starts(lengths: np.ndarray) -> np.ndarray:
    return np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)


def _window_starts(lengths: np.ndarray, n: int) -> np.ndarray:
    """Start offsets of every n-character window that stays inside one line."""
    counts = np.maximum(lengths - n + 1, 0)
    first = np.repeat(_line_starts(lengths), counts)
    return first + np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)


def codepoints(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)


def line_lengths(lines: Sequence[str]) -> np.ndarray:
    return np.array(list(map(len, lines)), dtype=np.int64)


class Encoded:
    """Query lines as character ids (0 = a character never seen in training)."""

    def __init__(self, char_ids: np.ndarray, lines: Sequence[str]):
        self.ids = char_ids[codepoints("".join(lines))].astype(np.uint64)
        self.lengths = line_lengths(lines)
        self._unknown = np.concatenate(([0], np.cumsum(self.ids == 0)))

    def all_known(self, starts: np.ndarray, length: np.ndarray | int) -> np.ndarray:
        return self._unknown[starts + length] == self._unknown[starts]


def _line_hashes(ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    starts = _line_starts(lengths)
    out = np.empty(len(lengths), dtype=np.uint64)
    for length in np.unique(lengths):
        mask = lengths == length
        out[mask] = _window_hashes(ids, starts[mask], int(length))
    return out


def _contains(table: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    if len(table) == 0:
        return np.zeros(len(hashes), dtype=bool)
    pos = np.minimum(np.searchsorted(table, hashes), len(table) - 1)
    return table[pos] == hashes


class TrainIndex:
    """Sets of the training lines and of their character n-grams (within lines)."""

    def __init__(self, lines: Iterable[str], n: int = 4):
        self.n = n
        lines = [line for line in lines if line]
        cps = codepoints("".join(lines))
        alphabet = sorted_unique(cps)
        # code point -> id (1..V), 0 for a character never seen in training
        self.char_ids = np.zeros(0x110000, dtype=np.uint32)
        self.char_ids[alphabet] = np.arange(1, len(alphabet) + 1, dtype=np.uint32)
        ids = self.char_ids[cps].astype(np.uint64)
        lengths = line_lengths(lines)
        self.lines = sorted_unique(_line_hashes(ids, lengths))
        self.grams = sorted_unique(_window_hashes(ids, _window_starts(lengths, n), n))

    def lines_seen(self, lines: Sequence[str]) -> np.ndarray:
        """For each line: does it occur verbatim in the training split? (bool array)"""
        lines = list(lines)
        if not lines:
            return np.zeros(0, dtype=bool)
        enc = Encoded(self.char_ids, lines)
        seen = _contains(self.lines, _line_hashes(enc.ids, enc.lengths))
        return seen & enc.all_known(_line_starts(enc.lengths), enc.lengths) & (enc.lengths > 0)

    def grams_seen(self, lines: Sequence[str]) -> tuple[int, int]:
        """(n-grams of these lines found in the training split, all their n-grams)."""
        lines = list(lines)
        if not lines:
            return 0, 0
        enc = Encoded(self.char_ids, lines)
        starts = _window_starts(enc.lengths, self.n)
        seen = _contains(self.grams, _window_hashes(enc.ids, starts, self.n))
        return int((seen & enc.all_known(starts, self.n)).sum()), len(starts)
