"""Check a poem's 平仄 and rhyme against the 近体诗 templates: `check_poem(text) -> CheckReport`.

The best-fitting template (fewest faults) is chosen among the four of the detected form.
Strict: every position counts. Lenient (一三五不论): the free positions do not count, but the
rhyme character, 孤平 and 三平尾 still do. Rhyme: the template's rhyme lines must end in
characters of one 平声 group of the scheme (a 多音字 fits if any reading does), none repeated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.errors import InvalidInput
from engine.prosody import meter
from engine.prosody.forms import (
    FORMS,
    LINE_TYPES,
    PING,
    ZE,
    Form,
    Template,
    form_for_shape,
    free_positions,
    parse_form,
    templates,
)
from engine.prosody.tables import Prosody, get_prosody
from engine.text.poem_text import PoemText, split_poem

SCHEME_NAMES = {"pingshui": "平水韵", "xinyun": "中华新韵"}
TONE_EN = {PING: "level (平)", ZE: "oblique (仄)"}
SUPPORTED_ZH = "、".join(f"{f.chinese}（{f.n_lines}句×{f.line_len}字）" for f in FORMS.values())
SUPPORTED_EN = ", ".join(f"{f.chinese} ({f.n_lines} lines × {f.line_len})" for f in FORMS.values())


def cn_number(n: int) -> str:
    """1 → 一, 12 → 十二, 40 → 四十; digits from 100 on."""
    digits = "零一二三四五六七八九"
    if n <= 0 or n >= 100:
        return str(n)
    tens, ones = divmod(n, 10)
    head = "" if tens == 0 else ("十" if tens == 1 else digits[tens] + "十")
    return head + (digits[ones] if ones else "")


def cn_lines(lines: Sequence[int]) -> str:
    """[2, 4] → 二、四 (1-based line numbers)."""
    return "、".join(cn_number(n) for n in lines)


@dataclass(frozen=True)
class Fault:
    line: int | None  # 1-based; None for the whole poem
    position: int | None  # 1-based; None for a fault of the whole line
    message: str  # Chinese, e.g. 第三句第四字应平而仄
    message_en: str
    kind: str  # tone | unknown | rhyme | gu_ping | san_ping_wei | nian | dui | shape
    excused: str = ""  # why the lenient check lets it pass: 一三五不论 | 特拗 | 拗救; "" if it counts

    @property
    def lenient(self) -> bool:
        """Still a fault under the lenient check."""
        return not self.excused

    def to_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "position": self.position,
            "message": self.message,
            "message_en": self.message_en,
            "kind": self.kind,
            "lenient": self.lenient,
            "excused": self.excused or None,
        }


@dataclass(frozen=True)
class LineReport:
    text: str
    tones: tuple[str, ...]  # one mark per character: 平 仄 中 ？
    template: str | None  # the template's tone string for this line
    rhymes: bool  # a rhyme position
    rhyme_groups: tuple[str, ...]  # the 平声 groups of its last character (rhyme lines only)
    fault_positions: tuple[int, ...]  # 1-based positions with a tone fault

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "tones": list(self.tones),
            "template": self.template,
            "rhymes": self.rhymes,
            "rhyme_groups": list(self.rhyme_groups),
            "fault_positions": list(self.fault_positions),
        }


@dataclass(frozen=True)
class CheckReport:
    scheme: str
    form: Form | None
    template: Template | None
    lines: tuple[LineReport, ...]
    faults: tuple[Fault, ...]
    rhyme_group: str | None
    rhyme_ok: bool
    notes: tuple[str, ...] = field(default=())

    @property
    def strict_ok(self) -> bool:
        return self.form is not None and not self.faults

    @property
    def ok(self) -> bool:
        """Passes the lenient check (一三五不论) and rhymes."""
        return self.form is not None and self.rhyme_ok and not any(f.lenient for f in self.faults)

    def to_dict(self) -> dict[str, Any]:
        return {
            "form": self.form.name if self.form else None,
            "form_chinese": self.form.chinese if self.form else None,
            "scheme": self.scheme,
            "scheme_chinese": SCHEME_NAMES[self.scheme],
            "ok": self.ok,
            "strict_ok": self.strict_ok,
            "rhyme_ok": self.rhyme_ok,
            "template": self.template.name if self.template else None,
            "rhyme_group": self.rhyme_group,
            "lines": [line.to_dict() for line in self.lines],
            "faults": [f.to_dict() for f in self.faults],
            "notes": list(self.notes),
        }

    def render(self) -> str:
        """Human-readable annotation: each line, its 平仄 marks, the template, rhymes, verdict."""
        head = [self.form.chinese if self.form else "未定诗体"]
        if self.template:
            head.append(self.template.name)
        head.append(SCHEME_NAMES[self.scheme])
        out = [" · ".join(head)]
        width = len(str(len(self.lines)))
        pad = " " * (width + 2)
        for i, line in enumerate(self.lines, 1):
            text = " ".join(line.text)
            if line.rhymes:
                text += f"   韵：{'/'.join(line.rhyme_groups) or '（非平声）'}"
            out.append(f"{i:>{width}}  {text}")
            out.append(pad + " ".join(line.tones))
            if line.template:
                out.append(pad + " ".join(line.template) + "   （格）")
            if line.fault_positions:
                marks = [
                    "＾" if p in line.fault_positions else "\u3000" for p in range(1, len(line.text) + 1)
                ]
                out.append(pad + " ".join(marks).rstrip())
        out.append("")
        if self.rhyme_group:
            out.append(f"韵部：{self.rhyme_group}")
        if self.strict_ok:
            out.append("判定：合律（严格） / Regular (strict)")
        elif self.ok:
            out.append("判定：合律（一三五不论） / Regular under 一三五不论")
        else:
            out.append("判定：不合律 / Not regular")
        for f in self.faults:
            tag = f"（{f.excused}可通）" if f.excused else ""
            out.append(f"  - {f.message}{tag}")
        out.extend(f"  * {note}" for note in self.notes)
        return "\n".join(out)


# ---------------------------------------------------------------- rules


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


# ---------------------------------------------------------------- the check


def check_poem(text: str, scheme: str = "pingshui", form: str | None = None) -> CheckReport:
    """Check a poem as typed. InvalidInput for empty, foreign-script or over-long input."""
    if scheme not in SCHEME_NAMES:
        raise InvalidInput(
            f"未知韵书「{scheme}」，可选：pingshui（平水韵）、xinyun（中华新韵）。",
            f"Unknown rhyme scheme {scheme!r}; choose pingshui or xinyun.",
        )
    wanted: Form | None = None
    if form is not None:
        try:
            wanted = parse_form(form)
        except ValueError as e:
            zh, _, en = str(e).partition(" / ")
            raise InvalidInput(zh, en or zh) from None
    poem = split_poem(text)
    prosody = get_prosody(scheme)
    # Look each character up in the form typed when the tables know it (traditional forms keep
    # readings that t2s merges, e.g. 蘋 ≠ 苹), else in its simplified form.
    keys = [
        "".join(o if prosody.knows(o) else s for s, o in zip(simp, orig, strict=True))
        for simp, orig in zip(poem.lines, poem.original, strict=True)
    ]
    tones = [[prosody.tones(ch) for ch in line] for line in keys]
    shape = poem.shape
    detected = form_for_shape(*shape) if shape else None
    if detected is None or (wanted is not None and wanted != detected):
        return _irregular(poem, keys, tones, prosody, wanted)

    best: tuple[tuple[int, int, int], Template, list[Fault], str | None] | None = None
    line1_ping = PING in tones[0][-1]
    for t in templates(detected.name):
        rhyme_chars = [(i, keys[i][-1]) for i in t.rhyme_lines()]
        group, r_faults = rhyme_faults(prosody, rhyme_chars)
        faults = template_faults(tones, poem.lines, t) + r_faults
        key = (sum(f.lenient for f in faults), len(faults), int(t.rhymes_first_line != line1_ping))
        if best is None or key < best[0]:
            best = (key, t, faults, group)
    assert best is not None
    _, template, faults, group = best
    faults = sorted(faults + nian_dui_faults(tones), key=_fault_order)
    rhyme_lines = set(template.rhyme_lines())
    lines = tuple(
        _line_report(
            prosody, poem.lines[i], keys[i], tones[i], template.lines[i], i in rhyme_lines, faults, i
        )
        for i in range(len(poem.lines))
    )
    rhyme_ok = not any(f.kind == "rhyme" and f.lenient for f in faults)
    notes = _ze_rhyme_note(prosody, [keys[i][-1] for i in sorted(rhyme_lines)], group)
    return CheckReport(scheme, detected, template, lines, tuple(faults), group, rhyme_ok, notes)


def _fault_order(f: Fault) -> tuple[int, int, int]:
    return (f.line or 0, f.position or 99, 0 if f.kind == "tone" else 1)


def _line_report(
    prosody: Prosody,
    text: str,
    key: str,
    tones: Sequence[meter.ToneSet],
    pattern: str | None,
    rhymes: bool,
    faults: Sequence[Fault],
    i: int,
) -> LineReport:
    positions = tuple(sorted({f.position for f in faults if f.line == i + 1 and f.position}))
    order = prosody.ping_groups()
    groups = tuple(sorted(prosody.ping_rhyme_groups(key[-1]), key=order.index)) if rhymes else ()
    return LineReport(text, tuple(meter.tone_mark(t) for t in tones), pattern, rhymes, groups, positions)


def _ze_rhyme_note(prosody: Prosody, rhyme_chars: Sequence[str], group: str | None) -> tuple[str, ...]:
    """When every rhyme character is 仄 and they share a group: say it is a 仄韵 poem (古体)."""
    if group is not None or not rhyme_chars:
        return ()
    shared = set.intersection(*(set(prosody.rhyme_groups(c)) for c in rhyme_chars))
    if not shared:
        return ()
    name = "、".join(sorted(shared))
    return (
        f"全诗押仄声韵（{name}），属古体，不合近体格律 / It rhymes on an oblique tone ({name}): "
        "an old-style (古体) poem, not regulated verse",
    )


def _irregular(
    poem: PoemText,
    keys: Sequence[str],
    tones: Sequence[Sequence[meter.ToneSet]],
    prosody: Prosody,
    wanted: Form | None,
) -> CheckReport:
    """A report for a shape that is none of the four forms: tones annotated, rhyme of even lines."""
    lengths = sorted({len(line) for line in poem.lines})
    if len(lengths) == 1:
        shape_zh, shape_en = (
            f"共{len(poem.lines)}句、每句{lengths[0]}字",
            f"{len(poem.lines)} lines of {lengths[0]}",
        )
    else:
        shape_zh = f"共{len(poem.lines)}句、各句字数不一（{'/'.join(map(str, lengths))}字）"
        shape_en = f"{len(poem.lines)} lines of unequal length ({'/'.join(map(str, lengths))})"
    if wanted is not None:
        msg_zh = f"诗形与{wanted.chinese}（{wanted.n_lines}句×{wanted.line_len}字）不符：此诗{shape_zh}"
        msg_en = f"The shape does not match {wanted.chinese} ({wanted.n_lines} lines × {wanted.line_len}): {shape_en}"
    else:
        msg_zh = f"诗形不合近体：此诗{shape_zh}；支持{SUPPORTED_ZH}"
        msg_en = f"Not a regulated-verse shape: {shape_en}; supported: {SUPPORTED_EN}"
    faults = [Fault(None, None, msg_zh, msg_en, "shape")]
    rhyme_idx = [i for i in range(1, len(poem.lines), 2)]
    group, r_faults = rhyme_faults(prosody, [(i, keys[i][-1]) for i in rhyme_idx])
    faults += r_faults
    lines = tuple(
        _line_report(prosody, poem.lines[i], keys[i], tones[i], None, i in rhyme_idx, faults, i)
        for i in range(len(poem.lines))
    )
    rhyme_ok = bool(rhyme_idx) and not r_faults
    notes = _ze_rhyme_note(prosody, [keys[i][-1] for i in rhyme_idx], group)
    return CheckReport(prosody.scheme, None, None, lines, tuple(faults), group, rhyme_ok, notes)
