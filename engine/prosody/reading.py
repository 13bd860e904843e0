"""One reading of a character under a rhyme scheme: what the 平水韵 tables and 中华新韵 both give."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Reading:
    """One reading of a character: its rhyme group and tone."""

    group: str  # "下平十一尤" (平水韵) or "十一庚" (中华新韵)
    tone: str  # 平 or 仄
    tone_name: str  # 平 上 去 入 (平水韵) or 阴平 阳平 上 去 (中华新韵)
