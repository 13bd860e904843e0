"""Simplified and traditional script: the one pair of OpenCC converters every package uses, and the
normalisation of variant and Japanese forms (疎 → 疏, 隠 → 隐) to standard simplified characters."""

from __future__ import annotations

import importlib.util
import re
from functools import cache
from pathlib import Path

import opencc

# A variant is rewritten only when its standard form is this many times as frequent as a word of its own
# in jieba's dictionary of modern Chinese (a variant table also lists distinct characters: 玖 → 九).
VARIANT_RATIO = 100


@cache
def _converter(config: str) -> opencc.OpenCC:
    return opencc.OpenCC(config)


def to_simplified(text: str) -> str:
    """OpenCC t2s (phrase-aware traditional → simplified)."""
    return _converter("t2s").convert(text)


def to_traditional(text: str) -> str:
    """OpenCC s2t, phrase-aware: 头发 → 頭髮, 发现 → 發現, 干净 → 乾淨, 树干 → 樹幹."""
    return _converter("s2t").convert(text)


def to_simplified_per_char(line: str) -> str:
    """t2s keeping the length: where a phrase conversion would change it, character by character. A
    character that t2s leaves as it is on its own keeps itself in any phrase, so simplified text stays
    as written (t2s reads 一坏 as 一坯, the traditional sense: a checker would then read 坯's tone)."""
    out = to_simplified(line)
    if len(out) != len(line):
        return "".join(c if len(s := to_simplified(c)) != 1 else s for c in line)
    return "".join(o if o == c or to_simplified(c) != c else c for c, o in zip(line, out, strict=True))


def to_standard(text: str) -> str:
    """Variant and Japanese forms to their standard simplified character, one for one (the length is
    kept): 隠頼浄髪疎鴈蘂 → 隐赖净发疏雁蕊. Apply after `to_simplified`."""
    return text.translate(variant_table())


@cache
def variant_table() -> dict[int, str]:
    """ord(variant) → its standard simplified character, for `str.translate`.

    Candidates come from packaged tables: OpenCC's Japanese configuration (jp2t then t2s: 隠 → 隱 →
    隐; no OpenCC configuration maps the corpus's other variants, 疎 鴈 蘂), the characters its Hong Kong
    configuration simplifies and t2s keeps (hk2s: 粧 → 妆, 衹 → 只) and char-converter's
    variant table ("v2s": variant → standard simplified), which maps both. That table also lists
    distinct characters as variants (园 → 圆, 玖 → 九), so a candidate is kept only where the variant
    is out of modern use and its standard form is not: the variant is in no word of pypinyin's phrase
    dictionary while the standard form is, and as a word of jieba's dictionary the standard form is
    `VARIANT_RATIO` times as frequent (OpenCC's hk2s forms need only the first two tests). About
    2,700 characters; built once (a second or two)."""
    import jieba
    import msgpack
    from pypinyin.phrases_dict import phrases_dict

    spec = importlib.util.find_spec("char_converter")  # its data only: the module imports pkg_resources
    assert spec is not None and spec.submodule_search_locations, "char-converter is not installed"
    v2s = msgpack.unpackb((Path(spec.submodule_search_locations[0]) / "data" / "v2s.msgpack").read_bytes())
    unified = [chr(c) for c in range(0x4E00, 0xA000)]  # the CJK Unified Ideographs, converted one per line
    japanese = to_simplified(_converter("jp2t").convert("\n".join(unified))).split("\n")
    hong_kong = _converter("hk2s").convert("\n".join(unified)).split("\n")
    simplified = to_simplified("\n".join(unified)).split("\n")
    candidates = [(ch, std[0]) for ch, std in v2s.items() if ch not in std]
    candidates += [(ch, std) for ch, std in zip(unified, japanese, strict=True) if std != ch]

    in_phrases = {ch for word in phrases_dict for ch in word}
    words = (Path(jieba.__file__).parent / "dict.txt").read_text(encoding="utf-8")
    single = {ch: int(n) for ch, n in re.findall(r"^(\S) (\d+)", words, re.M)}
    table: dict[int, str] = {}
    for ch, std in candidates:
        if (
            len(ch) == 1 and len(std) == 1 and ord(ch) not in table
            and ch not in in_phrases and std in in_phrases
            and single.get(std, 0) >= VARIANT_RATIO * max(single.get(ch, 0), 1)
        ):
            table[ord(ch)] = std
    for ch, hk, t2s in zip(unified, hong_kong, simplified, strict=True):  # curated by OpenCC: no frequency test
        if hk != t2s and len(hk) == 1 and ch not in in_phrases and hk in in_phrases:
            table.setdefault(ord(ch), hk)
    return table
