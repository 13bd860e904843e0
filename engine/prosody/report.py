"""What `check_poem` finds: faults, per-line annotations and the whole report, with its
JSON form (`to_dict`) and its human-readable annotation (`render`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.prosody.forms import Form, Template
from engine.prosody.tables import SCHEME_NAMES


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
