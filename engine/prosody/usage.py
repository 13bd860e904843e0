"""Rhymes by usage: in which 平声 groups real poets rhyme each character, and how often.

The 平水韵 tables list every historical reading of a character, so 书 is in 支 as well as 鱼 and 能
in 灰 as well as 蒸; poets almost always rhyme 书 in 鱼 and 能 in 蒸. `build` counts, over the rhyme
positions of the training poems, the group each rhyme character is rhymed in:
- a poem's rhyme positions are its even lines and, when it rhymes, its first line (the 近体诗
  templates, engine/prosody/forms.py);
- its group is the 平声 group shared by every even-line rhyme character (poems without one, or
  with a rhyme repeated, are left out); a first line counts only when its character has that group;
- when several groups fit (every rhyme character a 多音字), the one whose readings the poems that
  one group fits use most: the product of the characters' counts, smoothed by one.

`RhymeUsage` answers, per character and group: is the character ever rhymed there (decoding rhymes
a character only where it is), and is it a rare reading (僻读) there: under `RARE_SHARE` of the
rhymes of a character that poets do rhyme (`yinshi check` names it; decoding keeps it rarer than
real poets do). Built by engine/training/train.py `corpus_statistics` from the training split and
stored with the checkpoint as `rhyme_usage` ({character: {group: count}}, 平水韵 only).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

RARE_SHARE = 0.05  # a reading under this share of a character's rhymes is rare (僻读)


def _even_groups(lines: Sequence[str], prosody) -> tuple[list[str], set[str]] | None:
    """The even lines' rhyme characters and the 平声 groups they all share; None if they repeat."""
    even = [ln[-1] for ln in lines[1::2] if ln]
    if len(even) < 2 or len(set(even)) != len(even):
        return None
    shared = set(prosody.ping_rhyme_groups(even[0]))
    for ch in even[1:]:
        shared &= prosody.ping_rhyme_groups(ch)
    return even, shared


def poem_rhymes(lines: Sequence[str], prosody, counts: Mapping[str, Mapping[str, int]] | None = None
                ) -> tuple[str, list[str]] | None:
    """(group, rhyme characters) of one regular poem, or None when its even lines share no
    平声 group or repeat a rhyme. `counts` (a first pass) chooses among several fitting groups."""
    found = _even_groups(lines, prosody)
    if found is None or not found[1]:
        return None
    even, shared = found
    group = next(iter(shared)) if len(shared) == 1 else _likeliest(even, shared, prosody, counts or {})
    first = lines[0][-1:]
    return group, ([first] if first and first not in even and group in prosody.ping_rhyme_groups(first) else []) + even


def _likeliest(even: Sequence[str], shared: set[str], prosody, counts: Mapping[str, Mapping[str, int]]) -> str:
    order = prosody.ping_groups()
    return max(shared, key=lambda g: (sum(math.log1p(counts.get(ch, {}).get(g, 0)) for ch in even), -order.index(g)))


def build(poems_lines: Iterable[Sequence[str]], prosody) -> dict[str, dict[str, int]]:
    """{character: {group: times rhymed there}} over the rhyme positions of the poems. Poems that
    one group fits are counted first; those several fit then take the likeliest by those counts."""
    acc: dict[str, Counter] = defaultdict(Counter)
    ambiguous = []
    for lines in poems_lines:
        found = _even_groups(lines, prosody)
        if found is None or not found[1]:
            continue
        if len(found[1]) > 1:
            ambiguous.append(lines)
            continue
        group, chars = poem_rhymes(lines, prosody)  # type: ignore[misc]
        for ch in chars:
            acc[ch][group] += 1
    first_pass = {ch: dict(c) for ch, c in acc.items()}
    for lines in ambiguous:
        group, chars = poem_rhymes(lines, prosody, first_pass)  # type: ignore[misc]
        for ch in chars:
            acc[ch][group] += 1
    return {ch: dict(c) for ch, c in acc.items()}


@dataclass(frozen=True)
class RhymeUsage:
    """How poets rhyme each character (the counts `build` returns)."""

    counts: Mapping[str, Mapping[str, int]]

    def total(self, ch: str) -> int:
        return sum(self.counts.get(ch, {}).values())

    def share(self, ch: str, group: str) -> float:
        """Share of the character's rhymes that are in `group` (0 for a character never rhymed)."""
        n = self.total(ch)
        return self.counts.get(ch, {}).get(group, 0) / n if n else 0.0

    def attested(self, ch: str, group: str) -> bool:
        """Real poets rhyme `ch` in `group` at least once."""
        return self.counts.get(ch, {}).get(group, 0) > 0

    def rare(self, ch: str, group: str) -> bool:
        """A rare reading (僻读): poets rhyme the character, in `group` under RARE_SHARE of the time."""
        return self.total(ch) > 0 and self.share(ch, group) < RARE_SHARE

    def common_groups(self, ch: str) -> list[str]:
        """The groups the character is rhymed in at least RARE_SHARE of the time, commonest first."""
        own = self.counts.get(ch, {})
        return sorted((g for g in own if not self.rare(ch, g)), key=lambda g: -own[g])

    def rare_note(self, ch: str, group: str) -> str | None:
        """A bilingual note when `ch` rhymes in `group` by a rare reading, else None."""
        if not self.rare(ch, group):
            return None
        common = "、".join(self.common_groups(ch))
        pct = f"{self.share(ch, group):.1%}"
        return (
            f"「{ch}」押{group}属僻读（诗人押此韵仅占 {pct}，多押{common}） / {ch} rhymed in {group} is a rare "
            f"reading: poets rhyme it there {pct} of the time, mostly in {common}"
        )


def rare_rate(poems_lines: Iterable[Sequence[str]], prosody, usage: RhymeUsage) -> tuple[float | None, int]:
    """Share of rhyme characters rhymed in a rare reading, over the poems that rhyme; and how many
    rhyme characters were counted."""
    rare = total = 0
    for lines in poems_lines:
        found = poem_rhymes(lines, prosody, usage.counts)
        if found is None:
            continue
        group, chars = found
        total += len(chars)
        rare += sum(usage.rare(ch, group) for ch in chars)
    return (rare / total if total else None), total


