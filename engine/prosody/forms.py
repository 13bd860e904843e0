"""The four 近体诗 forms and their 平仄 templates, derived from the four basic line types.

Tones are written '平' and '仄'. The templates are built from rules (粘对), not typed per form:
five-character lines are one of four basic types; a seven-character line puts the opposite
tone pair in front; a quatrain follows 对 within a couplet and 粘 between couplets; a regulated
verse (律诗) repeats the quatrain pattern.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from engine.errors import InvalidInput, echo

PING, ZE = "平", "仄"

# The four basic five-character line types.
LINE_TYPES: dict[str, str] = {
    "A": "仄仄平平仄",  # 仄起仄收
    "B": "平平仄仄平",  # 平起平收
    "C": "平平平仄仄",  # 平起仄收
    "D": "仄仄仄平平",  # 仄起平收
}
# Quatrain sequences by first-line type. A and C do not rhyme in line 1; D and B do (首句入韵).
QUATRAIN: dict[str, str] = {"A": "ABCD", "C": "CDAB", "D": "DBCD", "B": "BDAB"}


@dataclass(frozen=True)
class Form:
    name: str  # wujue | qijue | wulv | qilv
    chinese: str  # 五绝 ...
    line_len: int  # 5 or 7
    n_lines: int  # 4 or 8

    @property
    def n_chars(self) -> int:
        return self.line_len * self.n_lines


FORMS: dict[str, Form] = {
    f.name: f
    for f in (
        Form("wujue", "五绝", 5, 4),
        Form("qijue", "七绝", 7, 4),
        Form("wulv", "五律", 5, 8),
        Form("qilv", "七律", 7, 8),
    )
}
LVSHI = tuple(f.name for f in FORMS.values() if f.n_lines == 8)  # 律诗: the forms with a 颔联 and a 颈联
FORM_ALIASES: dict[str, str] = {
    **{f.name: f.name for f in FORMS.values()},
    **{f.chinese: f.name for f in FORMS.values()},
    "五言绝句": "wujue", "七言绝句": "qijue", "五言律诗": "wulv", "七言律诗": "qilv",
    "五絕": "wujue", "七絕": "qijue", "五律詩": "wulv", "七律詩": "qilv",
}


def parse_form(text: str) -> Form:
    """Map 'wujue', '五绝', '五言绝句' ... to a Form; InvalidInput (a ValueError) otherwise."""
    key = FORM_ALIASES.get(text.strip().lower()) or FORM_ALIASES.get(text.strip())
    if key is None:
        names = "、".join(f"{f.chinese}({f.name})" for f in FORMS.values())
        raise InvalidInput(f"未知诗体「{echo(text)}」，可选：{names}", f"Unknown form {echo(text)!r}; choose one of {names}.")
    return FORMS[key]


def forms_of_length(n_lines: int) -> list[Form]:
    """The forms of `n_lines` lines (绝句: 4, 律诗: 8), five-character first."""
    return [f for f in FORMS.values() if f.n_lines == n_lines]


def form_for_shape(line_len: int, n_lines: int) -> Form | None:
    for f in FORMS.values():
        if f.line_len == line_len and f.n_lines == n_lines:
            return f
    return None


def opposite(tone: str) -> str:
    return ZE if tone == PING else PING


def expand_line(five: str, line_len: int) -> str:
    """A five-character pattern, or its seven-character form (opposite pair in front)."""
    if line_len == 5:
        return five
    return opposite(five[0]) * 2 + five


@dataclass(frozen=True)
class Template:
    form: str
    first: str  # first-line type: A B C D
    lines: tuple[str, ...]  # one tone string per line
    rhymes_first_line: bool

    @property
    def name(self) -> str:
        """平起/仄起 by the second character of line 1, and whether line 1 rhymes."""
        start = "平起" if self.lines[0][1] == PING else "仄起"
        return f"{start}{'首句入韵' if self.rhymes_first_line else '首句不入韵'}"

    def rhyme_lines(self) -> list[int]:
        """0-based indices of the lines whose last character must rhyme."""
        idx = [i for i in range(1, len(self.lines), 2)]
        return ([0] + idx) if self.rhymes_first_line else idx


@cache
def templates(form_name: str) -> tuple[Template, ...]:
    """All four standard templates of a form (平起/仄起 × 首句入韵 or not)."""
    form = FORMS[form_name]
    out = []
    for first, seq in QUATRAIN.items():
        types = seq if form.n_lines == 4 else seq + QUATRAIN[opposite_start(seq)]
        lines = tuple(expand_line(LINE_TYPES[t], form.line_len) for t in types)
        out.append(Template(form_name, first, lines, rhymes_first_line=first in "BD"))
    return tuple(out)


def opposite_start(seq: str) -> str:
    """The second quatrain of a 律诗 continues with 粘: it starts like a non-rhyming first line."""
    # After ...C D comes A (ABCD ABCD); after ...A B comes C (CDAB CDAB).
    return "A" if seq[-1] == "D" else "C"


def free_positions(line_len: int) -> frozenset[int]:
    """0-based positions that 一三五不论 lets vary (1st and 3rd, and 5th in 7-character lines)."""
    return frozenset({0, 2} if line_len == 5 else {0, 2, 4})


def unit_boundaries(line_len: int) -> frozenset[int]:
    """Columns where the line's rhythm may divide it (五言 2|2|1 or 2|1|2, 七言 2|2|2|1 or 2|2|1|2):
    a word that starts and ends on them cuts no two-character unit."""
    return frozenset(range(0, line_len - 2, 2)) | {line_len - 2, line_len - 1, line_len}


def lenient_free_positions(line_tones: str) -> frozenset[int]:
    """Positions 一三五不论 may free in a line of this template without creating a fault:
    never the one whose change would give 三平尾 (…仄平平 → …平平平) or 孤平 (平仄仄平 opened by 仄)."""
    n = len(line_tones)
    free = set(free_positions(n))
    if line_tones.endswith(ZE + PING + PING):
        free.discard(n - 3)
    if line_tones.endswith(PING + ZE + ZE + PING):
        free.discard(n - 5)
    return frozenset(free)
