"""Pure 平仄 rules of one line, on per-character tone sets (a 多音字 fits if any reading fits).

A line is a sequence of tone sets, each a subset of {平, 仄} (empty: unknown). Patterns are
tone strings from engine.prosody.forms ("仄仄平平仄"). Positions are 0-based here.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.prosody.forms import LINE_TYPES, PING, ZE, free_positions

ToneSet = frozenset[str]
TYPE_B = LINE_TYPES["B"]  # 平平仄仄平: the only line type where 孤平 can happen


def fits(tones: ToneSet, expected: str) -> bool:
    """A character fits a tone if any of its readings has it; an unknown character fits nothing."""
    return expected in tones


def tone_mark(tones: ToneSet) -> str:
    """One mark per character: 平, 仄, 中 (either reading), ？ (unknown)."""
    if tones == {PING}:
        return PING
    if tones == {ZE}:
        return ZE
    return "中" if tones else "？"


def mismatches(line: Sequence[ToneSet], pattern: str, lenient: bool = False) -> list[int]:
    """Positions whose character cannot take the pattern's tone (lenient: 一三五不论 skips the
    free positions). Unknown characters count as mismatches."""
    free = free_positions(len(pattern)) if lenient else frozenset()
    return [
        i
        for i, (t, want) in enumerate(zip(line, pattern, strict=True))
        if i not in free and not fits(t, want)
    ]


def is_gu_ping(line: Sequence[ToneSet], pattern: str) -> bool:
    """孤平: in a line of type 平平仄仄平 (or its seven-character form), the last five characters
    hold only one 平 besides the rhyme character even when every 多音字 is read 平."""
    if pattern[-5:] != TYPE_B:
        return False
    return sum(1 for t in line[-5:-1] if PING in t or not t) <= 1


def is_san_ping_wei(line: Sequence[ToneSet]) -> bool:
    """三平尾: the last three characters can only be read 平."""
    return len(line) >= 3 and all(t == {PING} for t in line[-3:])


def line_faults(line: Sequence[ToneSet], pattern: str, lenient: bool = True) -> list[str]:
    """Names of what is wrong with one line against a pattern: 'pos:N' (0-based), '孤平', '三平尾'."""
    out = [f"pos:{i}" for i in mismatches(line, pattern, lenient)]
    if is_gu_ping(line, pattern):
        out.append("孤平")
    if is_san_ping_wei(line):
        out.append("三平尾")
    return out


def line_tone_ok(line: Sequence[ToneSet], pattern: str, lenient: bool = True) -> bool:
    """Whether a line fits its pattern (lenient: 一三五不论, but no 孤平 and no 三平尾)."""
    if len(line) != len(pattern):
        return False
    return not line_faults(line, pattern, lenient)
