"""Turn the paragraphs of one chinese-poetry record into clean, simplified clauses.

The rules follow what the corpus actually contains (see the module tests for examples):

- Traditional characters become simplified (OpenCC `t2s`), and variant and Japanese forms their
  standard simplified character (疎 → 疏, 隠 → 隐: engine.text.script.to_standard); Unicode NFC
  folds the CJK compatibility ideographs onto their unified forms.
- Half-width and variant punctuation becomes full-width: ``,`` -> ``，``, ``.`` -> ``。`` ...
- Editorial notes in （…）(…)〔…〕【…】〖…〗 are removed, across paragraphs and nested; a
  note left open at the end of a record runs to its end.
  ``[…]`` marks characters restored by the editors ("凡校补字，均括以[]"), so the brackets go
  and the characters stay, except footnote numbers such as ``[一]`` or ``[二一]``, which go.
  ``{…}`` describes a character that has no code point ("{扌|厶/贝}"): the text is damaged.
- Quotation and title marks 「」『』《》〈〉“” are dropped; their content stays.
- A clause separator ends a 句: ，。；：！？ and a paragraph break. ``、`` lists items inside
  a 诗 line ("杨梅、卢橘正青青"), so it is dropped there; in 词 it marks a 逗 after a
  leading word ("记阴阴、绿遍江南"), so it separates clauses there.
- ``？`` between characters is usually a real question mark ("何处寄相思？南风吹五两"), but
  the Song 诗 files also use it for an unreadable character ("神兵合？来天上"): when the
  clause read with ``？`` as a character has the poem's usual clause length and the parts
  read as clauses do not, it is damage.
- Any character left that is not a Chinese character (□ ■ ○ ● …… digits, Latin letters,
  ideographic description characters, private-use code points), or 囗, which the corpus
  uses only as a box for a lost character, marks the text as damaged.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable

from engine.text.han import all_han, is_han
from engine.text.script import to_simplified, to_standard

PUNCT_MAP = str.maketrans(
    {
        ",": "，",
        "﹐": "，",
        "､": "、",
        "﹑": "、",
        ".": "。",
        "．": "。",
        "｡": "。",
        "﹒": "。",
        "?": "？",
        "﹖": "？",
        "!": "！",
        "﹗": "！",
        ";": "；",
        "﹔": "；",
        ":": "：",
        "﹕": "：",
        "(": "（",
        ")": "）",
        "﹙": "（",
        "﹚": "）",
        "［": "[",
        "］": "]",
        "｛": "{",
        "｝": "}",
        "﹝": "〔",
        "﹞": "〕",
    }
)
# Brackets whose content is an editor's note.
NOTE_BRACKETS = {"（": "）", "〔": "〕", "【": "】", "〖": "〗", "〘": "〙", "⦅": "⦆"}
RESTORED_OPEN, RESTORED_CLOSE = "[", "]"  # restored characters: keep the content
GLYPH_OPEN, GLYPH_CLOSE = "{", "}"  # a described, unencodable character: damage
CLOSERS = set(NOTE_BRACKETS.values()) | {RESTORED_CLOSE, GLYPH_CLOSE}
QUOTE_MARKS = "「」『』《》〈〉“”‘’\"'＂﹁﹂﹃﹄"
FOOTNOTE_NUMBER = re.compile(r"[一二三四五六七八九十百〇○零]*")
# Real characters that the corpus only ever uses as a box for a lost one ("囗囗囗囗囗，留心禁漏川").
PLACEHOLDER_HANZI = frozenset("囗")
_QUOTES = re.compile("[" + re.escape(QUOTE_MARKS) + "]")
_VARIANT_PUNCT = re.compile("[" + re.escape("".join(chr(c) for c in PUNCT_MAP)) + " \t\u3000\u00a0\r]")


class DamagedText(ValueError):
    """The record cannot be read as a poem (placeholders, junk, unbalanced notes...)."""


_BRACKET = re.compile("[" + re.escape("".join([*NOTE_BRACKETS, *CLOSERS, RESTORED_OPEN, GLYPH_OPEN])) + "]")


def normalise_punctuation(text: str) -> str:
    """Full-width punctuation, NFC-folded ideographs, no spaces."""
    text = unicodedata.normalize("NFC", text)
    if not _VARIANT_PUNCT.search(text):  # the common case: nothing to change
        return text
    return re.sub(r"[ \t\u3000\u00a0\r]+", "", text.translate(PUNCT_MAP))


def strip_notes(text: str) -> str:
    """Remove bracketed notes (nested, possibly across lines); unwrap restored characters."""
    if not _BRACKET.search(text):
        return text
    out: list[str] = []
    stack: list[tuple[str, int]] = []  # (opening bracket, length of `out` when it opened)
    for ch in text:
        if ch in NOTE_BRACKETS or ch == RESTORED_OPEN or ch == GLYPH_OPEN:
            stack.append((ch, len(out)))
        elif ch in CLOSERS:
            if not stack:
                raise DamagedText(f"unmatched {ch}")
            opener, start = stack.pop()
            if opener == GLYPH_OPEN and ch == GLYPH_CLOSE:
                raise DamagedText("character given as a description {…}")
            if opener == RESTORED_OPEN and ch == RESTORED_CLOSE:
                if FOOTNOTE_NUMBER.fullmatch("".join(out[start:])):
                    del out[start:]
            elif NOTE_BRACKETS.get(opener) == ch:
                del out[start:]
            else:
                raise DamagedText(f"{opener} closed by {ch}")
        else:
            out.append(ch)
    if stack:
        opener, start = stack[0]
        if opener not in NOTE_BRACKETS:
            raise DamagedText(f"unclosed {opener}")
        del out[start:]  # a note left open runs to the end of the record
    return "".join(out)


def _segments(text: str, kind: str) -> list[str]:
    """Split at every separator except ？ (decided later); 、 splits 词 and is dropped in 诗."""
    if kind == "ci":
        text = text.replace("、", "\n")
    else:
        text = text.replace("、", "")
    return [s for s in re.split(r"[，。；：！\n]+", text) if s]


def _split_questions(segments: list[str]) -> list[str]:
    """Read each ？ as a clause end or as a damage marker (see the module docstring)."""
    if not any("？" in s for s in segments):
        return segments
    plain = Counter(len(s) for s in segments if "？" not in s)
    usual = plain.most_common(1)[0][0] if plain else None
    clauses: list[str] = []
    for seg in segments:
        inner = seg.rstrip("？")
        if "？" not in inner:
            clauses.append(inner)
            continue
        parts = inner.split("？")
        if any(not p for p in parts):
            raise DamagedText("？ in place of a character")
        if usual is not None and len(inner) == usual and any(len(p) != usual for p in parts):
            raise DamagedText("？ in place of a character")
        clauses.extend(parts)
    return [c for c in clauses if c]


def split_clauses(text: str, kind: str = "shi") -> tuple[str, ...]:
    """Clauses of an already simplified, note-free text; DamagedText if any junk is left."""
    text = _QUOTES.sub("", text)
    clauses = _split_questions(_segments(text, kind))
    joined = "".join(clauses)
    if joined and not all_han(joined):
        bad = next(ch for ch in joined if not is_han(ch))
        raise DamagedText(f"not a Chinese character: {bad!r}")
    if lost := PLACEHOLDER_HANZI.intersection(joined):
        raise DamagedText(f"placeholder for a lost character: {min(lost)!r}")
    return tuple(clauses)


def clean_paragraphs(paragraphs: Iterable[str], kind: str = "shi") -> tuple[str, ...]:
    """The whole pipeline for one record: simplified clauses without punctuation.

    Returns () when nothing is left (an empty record); raises DamagedText for damaged text.
    """
    text = "\n".join(paragraphs)
    text = normalise_punctuation(to_standard(to_simplified(text)))
    return split_clauses(strip_notes(text), kind)
