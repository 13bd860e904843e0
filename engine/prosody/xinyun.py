"""中华新韵 (the fourteen modern rhyme groups) derived from pypinyin: final → group, tone → 平/仄.

Tones 1 and 2 (阴平, 阳平) are 平; tones 3 and 4 (上, 去) are 仄; the neutral tone is ignored.
中华新韵 rhymes by today's standard pronunciation, so a character is read only by its standard
readings: pypinyin's first (its reading without context) and those its phrase dictionary uses in
some word (长 cháng and zhǎng, 看 kàn and kān), not the archaic ones it also lists (池 tuó, 光 guàng,
明 mèng). A 多音字 with several standard readings fits wherever one of them does.
"""

from __future__ import annotations

from collections import defaultdict
from functools import lru_cache

from pypinyin.contrib.tone_convert import to_finals, to_initials, to_tone3
from pypinyin.pinyin_dict import pinyin_dict

from engine.prosody.forms import PING, ZE
from engine.prosody.reading import Reading

# The fourteen groups of 中华新韵 and the finals (pypinyin's strict spelling: v = ü) each holds.
# "-i" after zh ch sh r z c s is 十三支; every other "i" is 十二齐.
GROUP_FINALS: dict[str, tuple[str, ...]] = {
    "一麻": ("a", "ia", "ua"),
    "二波": ("o", "e", "uo", "io"),
    "三皆": ("ie", "ve", "ê"),
    "四开": ("ai", "uai"),
    "五微": ("ei", "uei"),
    "六豪": ("ao", "iao"),
    "七尤": ("ou", "iou"),
    "八寒": ("an", "ian", "uan", "van"),
    "九文": ("en", "in", "uen", "vn"),
    "十唐": ("ang", "iang", "uang"),
    "十一庚": ("eng", "ing", "ong", "iong", "ueng"),
    "十二齐": ("i", "er", "v"),
    "十三支": (),  # the apical -i, told apart by its initial
    "十四姑": ("u",),
}
GROUPS: tuple[str, ...] = tuple(GROUP_FINALS)
FINAL_GROUP: dict[str, str] = {f: g for g, finals in GROUP_FINALS.items() for f in finals}
APICAL_INITIALS = frozenset({"zh", "ch", "sh", "r", "z", "c", "s"})
TONE_NAMES = {"1": "阴平", "2": "阳平", "3": "上", "4": "去"}


def syllable_reading(syllable: str) -> Reading | None:
    """'zhong1' → Reading('十一庚', 平, 阴平); None for a neutral tone or a syllable without a final."""
    tone = syllable[-1:]
    if tone not in TONE_NAMES:
        return None
    final = to_finals(syllable, strict=True)
    if final == "i" and to_initials(syllable, strict=True) in APICAL_INITIALS:
        group = "十三支"
    else:
        group = FINAL_GROUP.get(final)
    if group is None:
        return None
    return Reading(group, PING if tone in "12" else ZE, TONE_NAMES[tone])


@lru_cache(maxsize=8192)
def _marked_reading(marked: str) -> Reading | None:
    """'zhōng' → its reading; cached, since a few thousand syllables cover every character."""
    return syllable_reading(to_tone3(marked, neutral_tone_with_five=True))


def readings(ch: str) -> frozenset[Reading]:
    """The 中华新韵 readings of one character's standard pronunciations (empty if pypinyin does not
    know it)."""
    marked = pinyin_dict.get(ord(ch)) if len(ch) == 1 else None
    if not marked:
        return frozenset()
    first, *others = marked.split(",")
    used = _phrase_readings().get(ch, frozenset())
    standard = [first, *(m for m in others if m in used)]
    return frozenset(r for r in map(_marked_reading, standard) if r is not None)


@lru_cache(maxsize=1)
def _phrase_readings() -> dict[str, frozenset[str]]:
    """Character → the readings pypinyin's phrase dictionary gives it in some word (about a second)."""
    from pypinyin.phrases_dict import phrases_dict

    out: dict[str, set[str]] = defaultdict(set)
    for word, syllables in phrases_dict.items():
        for ch, options in zip(word, syllables, strict=False):
            out[ch].update(options)
    return {ch: frozenset(s) for ch, s in out.items()}


def build_index() -> dict[str, frozenset[str]]:
    """Group → every character pypinyin knows with a reading in it (about one second)."""
    out: dict[str, set[str]] = defaultdict(set)
    for code in pinyin_dict:
        ch = chr(code)
        for r in readings(ch):
            out[r.group].add(ch)
    return {g: frozenset(cs) for g, cs in out.items()}
