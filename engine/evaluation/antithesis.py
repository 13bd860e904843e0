"""对仗 (parallelism) of a couplet: opposed tones and matching word classes, position by position.

A 律诗 is expected to set its 颔联 (lines 3–4) and 颈联 (lines 5–6) in parallel. A couplet counts
as parallel when

- the tones are opposed at the even positions (2, 4, 6 — the ones 一三五不论 leaves fixed):
  a position fails only when both characters have one known tone and it is the same one, and
- the word classes agree at a share of at least `threshold` of the positions. Each character
  takes the coarse class of the word jieba.posseg puts it in (nominal, predicate = verb or
  adjective, adverb, number, pronoun, function word); words jieba only knows as a whole idiom or
  phrase (tags i, l, which swallow famous lines whole) are tagged character by character, and a
  reduplicated pair (萧萧, 滚滚) is its own class.

jieba's tagger is trained on modern Chinese, so the class check is approximate: compare the rate
of generated poems with the rate of real ones (`couplet_stats` over corpus poems) rather than
reading it as absolute. On 800 real test-split 律诗 the rule finds 38% of the 颔联/颈联
parallel, 19% of the 首联, 10% of the 尾联, and 10% of line pairs taken from different poems.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache

COARSE_CLASSES: dict[str, str] = {
    # nominal: nouns, names, places, time and place words, locatives
    **dict.fromkeys(("n", "nr", "nrt", "nrfg", "ns", "nt", "nz", "ng", "t", "tg", "s", "f", "j"), "N"),
    # predicates: verbs and adjectives (classical adjectives act as verbs: 风急天高)
    **dict.fromkeys(("v", "vn", "vd", "vg", "vi", "vq", "a", "ad", "an", "ag", "b", "z", "zg"), "P"),
    "d": "D",
    "df": "D",
    "dg": "D",  # adverbs (不 无 自 ...)
    "m": "M",
    "mq": "M",
    "q": "M",  # numbers and measure words (数目对)
    "r": "R",
    "rr": "R",
    "rz": "R",
    "rg": "R",  # pronouns
    **dict.fromkeys(("p", "c", "u", "uj", "ul", "uz", "ud", "ug", "uv", "e", "y", "o", "h", "k"), "F"),
}
WHOLE_PHRASE_TAGS = {"i", "l"}
TONE_POSITIONS = (1, 3, 5)  # 0-based: the 2nd, 4th and 6th characters
DEFAULT_THRESHOLD = 0.6

ToneLookup = Callable[[str], frozenset[str]]


@lru_cache(maxsize=1)
def _posseg():
    import jieba
    import jieba.posseg

    jieba.setLogLevel(logging.WARNING)
    return jieba.posseg


@lru_cache(maxsize=65536)
def word_classes(line: str) -> tuple[str, ...]:
    """The coarse word class (N P D M R F, X, or = for 叠字) of every character of a simplified line."""
    posseg = _posseg()
    out: list[str] = []
    for word, flag in posseg.lcut(line, HMM=False):
        if flag in WHOLE_PHRASE_TAGS and len(word) > 2:
            out.extend(word_classes(ch)[0] for ch in word)
        else:
            out.extend(COARSE_CLASSES.get(flag, "X") for _ in word)
    for i in range(len(line) - 1):
        if line[i] == line[i + 1]:
            out[i] = out[i + 1] = "="
    return tuple(out)


def class_agreement(a: str, b: str) -> float:
    """Share of positions where the two lines' characters have the same coarse word class."""
    ca, cb = word_classes(a), word_classes(b)
    n = min(len(ca), len(cb))
    return sum(x == y for x, y in zip(ca, cb, strict=False)) / n if n else 0.0


def tones_opposed(a: str, b: str, tones: ToneLookup) -> bool:
    """At positions 2, 4 (and 6): never the same single known tone in both lines."""
    for i in TONE_POSITIONS:
        if i >= min(len(a), len(b)):
            break
        ta, tb = tones(a[i]), tones(b[i])
        if len(ta) == 1 and ta == tb:
            return False
    return True


def is_parallel(a: str, b: str, tones: ToneLookup, threshold: float = DEFAULT_THRESHOLD) -> bool:
    """Is the couplet (a, b) set in 对仗? (equal lengths, opposed tones, matching classes)"""
    return len(a) == len(b) > 0 and tones_opposed(a, b, tones) and class_agreement(a, b) >= threshold


def middle_couplets(lines: Sequence[str]) -> list[tuple[str, str]]:
    """The 颔联 and 颈联 of an eight-line poem; [] for any other length."""
    return [(lines[2], lines[3]), (lines[4], lines[5])] if len(lines) == 8 else []


def couplet_stats(
    poems: Iterable[Sequence[str]], tones: ToneLookup, threshold: float = DEFAULT_THRESHOLD
) -> tuple[int, int]:
    """(parallel middle couplets, middle couplets) over the eight-line poems among `poems`."""
    hits = total = 0
    for lines in poems:
        for a, b in middle_couplets(lines):
            total += 1
            hits += is_parallel(a, b, tones, threshold)
    return hits, total
