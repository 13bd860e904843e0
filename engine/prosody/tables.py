"""Each character's rhyme groups and 平/仄, under 平水韵 (tables) or 中华新韵 (from pypinyin).

平水韵: the primary table (couyun) is merged by group number; the secondary table (rbnyng,
traditional characters) only fills in characters the primary lacks. A simplified character is
looked up by its own readings (the primary table holds simplified forms too); only a character
missing from both tables is converted with OpenCC (s2t, then t2s) and looked up again.
A 多音字 has several readings: it fits a tone or a group if any reading does.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from engine.errors import InvalidInput, echo
from engine.prosody.forms import PING, ZE
from engine.prosody.reading import Reading
from engine.text.han import is_han
from engine.text.script import to_simplified, to_traditional

SCHEME_NAMES = {"pingshui": "平水韵", "xinyun": "中华新韵"}  # the rhyme schemes, by name
PROSODY_DIR = Path(__file__).resolve().parents[1] / "data" / "prosody"  # the shipped tables (SOURCE.md there)
COUYUN_FILE = "pingshui_couyun.json"
RBNYNG_FILE = "pingshui_rbnyng_trad.json"
RBNYNG_FOOTER = "本作品"  # the scraped Wikisource licence footer after 入聲十七洽 (see SOURCE.md)


class Prosody:
    """Rhyme groups and tones of one scheme. Get one with `get_prosody(scheme)`."""

    def __init__(
        self,
        scheme: str,
        lookup: Callable[[str], frozenset[Reading]],
        groups: Iterable[tuple[str, bool]],
        index: Callable[[], dict[str, frozenset[str]]],
        neighbours: dict[str, frozenset[str]] | None = None,
    ):
        """`lookup` gives a character's readings; `groups` lists (name, has 平 readings) in
        canonical order; `index` builds group → characters on first use; `neighbours` maps a group
        to its 邻韵."""
        self.scheme = scheme
        self._lookup = lookup
        groups = list(groups)
        self._groups = [name for name, _ in groups]
        self._ping_groups = [name for name, has_ping in groups if has_ping]
        self._index_factory = index
        self._neighbours = neighbours or {}
        self._index: dict[str, frozenset[str]] | None = None
        self._ping_index: dict[str, frozenset[str]] | None = None
        self._cache: dict[str, frozenset[Reading]] = {}
        self._lock = threading.Lock()

    def readings(self, ch: str) -> frozenset[Reading]:
        """All readings of one character; empty if the scheme does not know it."""
        found = self._cache.get(ch)
        if found is None:
            found = self._lookup(ch) if len(ch) == 1 else frozenset()
            self._cache[ch] = found
        return found

    def tones(self, ch: str) -> frozenset[str]:
        """Subset of {平, 仄}; both for a 多音字 read either way; empty if unknown."""
        return frozenset(r.tone for r in self.readings(ch))

    def rhyme_groups(self, ch: str) -> frozenset[str]:
        return frozenset(r.group for r in self.readings(ch))

    def ping_rhyme_groups(self, ch: str) -> frozenset[str]:
        """Groups of the character's 平声 readings: the rhyme positions of 近体诗 use these."""
        return frozenset(r.group for r in self.readings(ch) if r.tone == PING)

    def knows(self, ch: str) -> bool:
        return bool(self.readings(ch))

    def groups(self) -> list[str]:
        """All group names, in the scheme's order."""
        return list(self._groups)

    def ping_groups(self) -> list[str]:
        """All groups that have 平声 readings (平水韵: the 30 平声 groups; 中华新韵: all 14)."""
        return list(self._ping_groups)

    def neighbour_groups(self, group: str) -> frozenset[str]:
        """邻韵: the other groups of the same tone that 词林正韵 merges with `group` (平水韵 only)."""
        return self._neighbours.get(group, frozenset())

    def group_chars(self, group: str) -> frozenset[str]:
        """Characters with a reading in `group` (any tone; 平水韵 groups are one tone each)."""
        return self._indexes()[0].get(group, frozenset())

    def ping_group_chars(self, group: str) -> frozenset[str]:
        """Characters with a 平声 reading in `group`: the candidates for a rhyme position."""
        return self._indexes()[1].get(group, frozenset())

    def _indexes(self) -> tuple[dict[str, frozenset[str]], dict[str, frozenset[str]]]:
        if self._index is None or self._ping_index is None:
            with self._lock:
                if self._index is None or self._ping_index is None:
                    index = self._index_factory()
                    self._ping_index = {
                        g: frozenset(c for c in chars if g in self.ping_rhyme_groups(c))
                        for g, chars in index.items()
                    }
                    self._index = index
        return self._index, self._ping_index


# ---------------------------------------------------------------- 平水韵

PINGSHUI_TONE_NAMES = {1: "平", 2: "上", 3: "去", 4: "入"}


@dataclass(frozen=True)
class PingshuiTables:
    chars: dict[str, frozenset[Reading]]  # character → readings
    groups: list[tuple[str, bool]]  # the 106 groups in order, with whether each is 平声
    neighbours: dict[str, frozenset[str]]  # group → 邻韵 (same tone, same 词林正韵 group)


def load_pingshui_tables(prosody_dir: Path) -> PingshuiTables:
    """Merge the two 平水韵 tables into character → readings, and list the 106 groups."""
    couyun = json.loads((prosody_dir / COUYUN_FILE).read_text(encoding="utf-8"))
    names: dict[int, Reading] = {}  # group_no → a template reading (group, tone)
    table: dict[str, set[Reading]] = defaultdict(set)
    cilin: dict[tuple[int, str], set[str]] = defaultdict(set)  # (词林 group, tone) → 平水韵 groups
    for entry in couyun["groups"]:
        tone = int(entry["tone"])
        reading = Reading(entry["group"], PING if tone == 1 else ZE, PINGSHUI_TONE_NAMES[tone])
        names[int(entry["group_no"])] = reading
        cilin[(int(entry["cilin"]), reading.tone_name)].add(reading.group)
        for ch in entry["chars"]:
            table[ch].add(reading)
    if sorted(names) != list(range(1, 107)):
        raise ValueError(f"{COUYUN_FILE}: expected 平水韵 groups 1..106, got {len(names)}")

    # Secondary table: its 106 groups come in the same order (上平, 下平, 上, 去, 入).
    rbnyng = json.loads((prosody_dir / RBNYNG_FILE).read_text(encoding="utf-8"))
    extra: dict[str, set[Reading]] = defaultdict(set)
    group_no = 0
    for tone_key in ("ping", "ze"):
        for part in rbnyng[tone_key].values():
            for chars in part.values():
                group_no += 1
                text = "".join(chars).split(RBNYNG_FOOTER)[0]
                for ch in text:
                    if ch not in table and is_han(ch):
                        extra[ch].add(names[group_no])
    if group_no != 106:
        raise ValueError(f"{RBNYNG_FILE}: expected 106 groups, got {group_no}")
    table.update(extra)

    groups = [(names[n].group, names[n].tone == PING) for n in range(1, 107)]
    neighbours: dict[str, set[str]] = defaultdict(set)
    for members in cilin.values():
        for g in members:
            neighbours[g] |= members - {g}
    return PingshuiTables(
        {ch: frozenset(rs) for ch, rs in table.items()},
        groups,
        {g: frozenset(ns) for g, ns in neighbours.items()},
    )


def _pingshui(prosody_dir: Path) -> Prosody:
    tables = load_pingshui_tables(prosody_dir)
    table = tables.chars

    def lookup(ch: str) -> frozenset[Reading]:
        found = table.get(ch)
        if found is None:  # a form the tables lack: try its traditional, then simplified form
            for convert in (to_traditional, to_simplified):
                other = convert(ch)
                if other != ch and other in table:
                    return table[other]
            return frozenset()
        return found

    def index() -> dict[str, frozenset[str]]:
        out: dict[str, set[str]] = defaultdict(set)
        for ch, readings in table.items():
            for r in readings:
                out[r.group].add(ch)
        return {g: frozenset(cs) for g, cs in out.items()}

    return Prosody("pingshui", lookup, tables.groups, index, tables.neighbours)


# ---------------------------------------------------------------- 中华新韵


def _xinyun() -> Prosody:
    from engine.prosody import xinyun  # pypinyin is loaded only when this scheme is used

    return Prosody("xinyun", xinyun.readings, [(g, True) for g in xinyun.GROUPS], xinyun.build_index)


def get_prosody(scheme: str = "pingshui") -> Prosody:
    """The cached Prosody of a scheme ("pingshui" from the tables in PROSODY_DIR, or "xinyun"):
    loaded once per process."""
    return _load_prosody(scheme)


@cache
def _load_prosody(scheme: str) -> Prosody:
    if scheme == "pingshui":
        return _pingshui(PROSODY_DIR)
    if scheme == "xinyun":
        return _xinyun()
    raise InvalidInput(
        f"未知韵书「{echo(scheme)}」，可选：pingshui（平水韵）、xinyun（中华新韵）。",
        f"Unknown rhyme scheme {echo(scheme)!r}; choose pingshui or xinyun.",
    )
