"""The rules of 近体诗 as fault finders: rhyme, tones against a template (with 孤平, 三平尾 and
what the lenient check excuses) and 粘对. Each returns bilingual `Fault`s."""

from __future__ import annotations

from collections.abc import Sequence

from engine.prosody import meter
from engine.prosody.forms import LINE_TYPES, PING, ZE, Template, free_positions
from engine.prosody.report import Fault, cn_lines, cn_number
from engine.prosody.tables import Prosody

TONE_EN = {PING: "level (平)", ZE: "oblique (仄)"}


def rhyme_faults(prosody: Prosody, rhyme_chars: Sequence[tuple[int, str]]) -> tuple[str | None, list[Fault]]:
    """Choose the 平声 group that covers the most rhyme characters; fault the others and repeats.

    `rhyme_chars` is [(0-based line, last character)]. Returns (group or None, faults). A first
    line in a neighbouring group (首句借邻韵) is a fault only for the strict check."""
    order = {g: k for k, g in enumerate(prosody.ping_groups())}
    groups_of = {ch: prosody.ping_rhyme_groups(ch) for _, ch in rhyme_chars}
    candidates = {g for gs in groups_of.values() for g in gs}

    def score(g: str) -> tuple[int, int, int]:
        total = sum(1 for _, ch in rhyme_chars if g in groups_of[ch])
        later = sum(1 for i, ch in rhyme_chars if i > 0 and g in groups_of[ch])
        return total, later, -order.get(g, 0)

    group = max(candidates, key=score) if candidates else None
    fitting = [i + 1 for i, ch in rhyme_chars if group in groups_of[ch]]
    faults: list[Fault] = []
    seen: set[str] = set()
    for i, ch in rhyme_chars:
        n, pos = i + 1, None
        if not prosody.knows(ch):
            faults.append(
                Fault(
                    n,
                    pos,
                    f"第{cn_number(n)}句韵脚「{ch}」不在韵书中",
                    f"Line {n}: the rhyme character {ch} is not in the rhyme book",
                    "rhyme",
                )
            )
        elif not groups_of[ch]:
            faults.append(
                Fault(
                    n, pos, f"第{cn_number(n)}句押仄声", f"Line {n} rhymes on an oblique (仄) tone", "rhyme"
                )
            )
        elif group not in groups_of[ch]:
            own = "、".join(sorted(groups_of[ch], key=lambda g: order.get(g, 0)))
            excused = "首句邻韵" if i == 0 and groups_of[ch] & prosody.neighbour_groups(group) else ""
            faults.append(
                Fault(
                    n,
                    pos,
                    f"第{cn_lines(sorted([*fitting, n]))}句不同韵：「{ch}」属{own}，不属{group}",
                    f"Line {n} does not rhyme with line(s) {', '.join(map(str, fitting))}: "
                    f"{ch} is in {own}, not {group}",
                    "rhyme",
                    excused,
                )
            )
        if ch in seen:
            faults.append(
                Fault(n, pos, f"韵脚「{ch}」重复", f"The rhyme character {ch} is repeated", "rhyme")
            )
        seen.add(ch)
    return group, faults


def template_faults(
    tones: Sequence[Sequence[meter.ToneSet]], chars: Sequence[str], template: Template
) -> list[Fault]:
    """Tone faults of every line against a template (the last character of a rhyme line is left
    to `rhyme_faults`), with 孤平 and 三平尾. Each fault says whether the lenient check excuses it."""
    rhyme_lines = set(template.rhyme_lines())
    faults: list[Fault] = []
    for i, (line, pattern) in enumerate(zip(tones, template.lines, strict=True)):
        n = i + 1
        for j in meter.mismatches(line, pattern):
            if i in rhyme_lines and j == len(pattern) - 1:
                continue
            p, excused = j + 1, lenient_excuse(tones, template, i, j)
            if not line[j]:
                faults.append(
                    Fault(
                        n,
                        p,
                        f"第{cn_number(n)}句第{cn_number(p)}字「{chars[i][j]}」不在韵书中，平仄不详",
                        f"Line {n}, character {p} ({chars[i][j]}): tone unknown",
                        "unknown",
                        excused,
                    )
                )
            else:
                want, got = pattern[j], next(iter(line[j]))
                faults.append(
                    Fault(
                        n,
                        p,
                        f"第{cn_number(n)}句第{cn_number(p)}字应{want}而{got}",
                        f"Line {n}, character {p} should be {TONE_EN[want]} but is {TONE_EN[got]}",
                        "tone",
                        excused,
                    )
                )
        if meter.is_gu_ping(line, pattern):
            faults.append(
                Fault(
                    n, None, f"第{cn_number(n)}句犯孤平", f"Line {n} has a lone level tone (孤平)", "gu_ping"
                )
            )
        if meter.is_san_ping_wei(line):
            faults.append(
                Fault(
                    n,
                    None,
                    f"第{cn_number(n)}句三平尾",
                    f"Line {n} ends in three level tones (三平尾)",
                    "san_ping_wei",
                )
            )
    return faults


def lenient_excuse(tones: Sequence[Sequence[meter.ToneSet]], template: Template, i: int, j: int) -> str:
    """Why the lenient check lets a tone fault at line i, position j (0-based) pass, or "".

    一三五不论: a free position. 特拗: 平平平仄仄 written 平平仄平仄 (first 平 kept). 拗救: the
    fourth character of 仄仄平平仄 made 仄, rescued by a 平 third character in the next line."""
    pattern, line = template.lines[i], tones[i]
    if j in free_positions(len(pattern)):
        return "一三五不论"
    if j != len(pattern) - 2:
        return ""
    if pattern[-5:] == LINE_TYPES["C"] and PING in line[-5] and ZE in line[-3]:
        return "特拗"
    if (
        pattern[-5:] == LINE_TYPES["A"]
        and i % 2 == 0
        and i + 1 < len(tones)
        and template.lines[i + 1][-5:] == LINE_TYPES["B"]
        and PING in tones[i + 1][-3]
    ):
        return "拗救"
    return ""


def nian_dui_faults(tones: Sequence[Sequence[meter.ToneSet]]) -> list[Fault]:
    """粘对 by the second character: opposite within a couplet (对), equal across couplets (粘).
    A 多音字 there is given the benefit of the doubt."""
    faults: list[Fault] = []
    for i in range(1, len(tones)):
        a, b = tones[i - 1][1], tones[i][1]
        if len(a) != 1 or len(b) != 1:
            continue
        pair = f"{cn_number(i)}、{cn_number(i + 1)}"
        if i % 2 == 1 and a == b:
            faults.append(
                Fault(i + 1, None, f"第{pair}句失对", f"Lines {i} and {i + 1} are not opposed (失对)", "dui")
            )
        elif i % 2 == 0 and a != b:
            faults.append(
                Fault(i + 1, None, f"第{pair}句失粘", f"Lines {i} and {i + 1} are not linked (失粘)", "nian")
            )
    return faults
