"""Rebuild the poem-card fonts in engine/cards/fonts/ from the fonts Debian installs.

Usage: python scripts/build_card_font.py [--models models] [--out engine/cards/fonts]

    apt-get install -y fonts-lxgw-wenkai fonts-hanazono fonts-babelstone-han

The card font is LXGW WenKai Regular (SIL OFL 1.1) cut down to what a card can print: every
character of the shipped models' vocabularies, every traditional form OpenCC s2t turns them into
(alone and in any pair of vocabulary characters, which is where its phrase table picks 發 or 髮),
and the card's own text (punctuation and its vertical forms, ASCII, form names, seal). The
vocabulary's rarest characters (Extension A/B/G) are not in WenKai: they come from HanaMin A/B
(花園明朝, OFL 1.1) and, for the one neither has, BabelStone Han (Arphic Public License), each cut
to those characters into its own file. The OFL names "LXGW" and "Hanazono"/"HanaMin" as Reserved
Font Names, so the cut-down fonts carry new names (Yinshi Kai, Yinshi Rare). Layout tables,
hinting and vertical metrics are dropped: the renderer places every character itself.

Writes YinshiKai.ttf, YinshiRare.ttf, YinshiRareExt.ttf, their licences (OFL.txt, ARPHICPL.TXT,
from Debian's copyright files) and chars.txt (every character the fonts must cover, on one line,
which the tests check against the fonts), and prints glyph counts and sizes. About 1.5 minutes,
most of it OpenCC converting the vocabulary's pairs.
"""

from __future__ import annotations

import argparse
import io
import sys
from datetime import date
from pathlib import Path

from fontTools import subset
from fontTools.merge import Merger
from fontTools.ttLib import TTFont

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.cards.render import CARD_TEXT  # noqa: E402
from engine.cards.typeface import CHARS_FILE, FONT_FILES, REFERENCE  # noqa: E402
from engine.corpus.vocab import Vocab  # noqa: E402
from engine.models.checkpoint import load_blob  # noqa: E402
from engine.text.script import to_traditional  # noqa: E402

DEBIAN = Path("/usr/share/fonts/truetype")
WENKAI = DEBIAN / "lxgw-wenkai" / "LXGWWenKai-Regular.ttf"
HANAMIN = [DEBIAN / "hanazono" / "HanaMinA.ttf", DEBIAN / "hanazono" / "HanaMinB.ttf"]
BABELSTONE = DEBIAN / "babelstone" / "BabelStoneHan.ttf"
DOC = Path("/usr/share/doc")
OFL = {
    13: "This Font Software is licensed under the SIL Open Font License, Version 1.1.",
    14: "https://openfontlicense.org",
}
# per output file, in FONT_FILES order: family name, what it was cut from, names to set besides (the
# licence, where the source font does not carry it: Hanazono is offered under OFL 1.1 or its own licence)
NAMES = [
    ("Yinshi Kai", "a subset of LXGW WenKai Regular 1.250 (https://github.com/lxgw/LxgwWenKai)", {}),
    (
        "Yinshi Rare",
        "a subset of HanaMin A and B 2017-09-04 (GlyphWiki Project, https://glyphwiki.org)",
        {0: "Copyright (c) 2011, GlyphWiki Project (kamichi@fonts.jp). Created by GlyphWiki.", **OFL},
    ),
    (
        "Yinshi Rare Ext",
        "a subset of BabelStone Han 15.0.5 (https://www.babelstone.co.uk/Fonts/Han.html)",
        {},
    ),
]


def vocabulary(models: Path) -> list[str]:
    """The characters of every checkpoint's vocabulary under `models` (specials like <eos> left out)."""
    chars: set[str] = set()
    for path in sorted(p.parent for p in models.glob("*/model.pt")):
        chars.update(t for t in Vocab.from_json(load_blob(path)["vocab"]).itos if len(t) == 1)
    if not chars:
        raise SystemExit(f"no checkpoints (*/model.pt) under {models}")
    return sorted(chars)


def traditional_forms(chars: list[str]) -> set[str]:
    """Every character s2t writes for `chars`: alone, and in every pair with a character that has a
    traditional form (one long string per character, pairs split by 。 so phrases never span two)."""
    out = set(to_traditional("".join(chars)))
    changing = [c for c in chars if to_traditional(c) != c]
    for a in changing:
        out.update(to_traditional("。".join(a + b for b in chars)))
        out.update(to_traditional("。".join(b + a for b in chars)))
    return out


def cut(paths: list[Path], chars: set[str], names: tuple) -> tuple[TTFont, set[str]]:
    """The fonts at `paths` cut to the characters of `chars` they have (merged if several), renamed."""
    opts = subset.Options()
    opts.layout_features = []
    opts.hinting = False
    opts.drop_tables += [
        "GSUB",
        "GPOS",
        "GDEF",
        "BASE",
        "vhea",
        "vmtx",
        "DSIG",
        "meta",
        "gasp",
        "FFTM",
        "prop",
    ]
    opts.name_IDs = [0, 13, 14]  # copyright and licence; names are set below
    opts.notdef_outline = True
    opts.glyph_names = False
    parts, covered = [], set()
    for path in paths:
        font = TTFont(path)
        have = {c for c in chars - covered if ord(c) in font.getBestCmap()}
        if not have:
            continue
        covered |= have
        sub = subset.Subsetter(opts)
        sub.populate(unicodes=[ord(c) for c in have | {REFERENCE} if ord(c) in font.getBestCmap()])
        sub.subset(font)
        buf = io.BytesIO()
        font.save(buf)
        parts.append(buf)
    font = Merger().merge([p.seek(0) or p for p in parts]) if len(parts) > 1 else TTFont(parts[0])
    rename(font, *names)
    return font, covered


def rename(font: TTFont, family: str, origin: str, extra: dict[int, str]) -> None:
    name = font["name"]
    version = f"Version 1.0; {origin}"
    ps = family.replace(" ", "") + "-Regular"
    for nid, text in {
        1: family,
        2: "Regular",
        3: f"{ps};{version}",
        4: f"{family} Regular",
        5: version,
        6: ps,
    }.items():
        name.setName(text, nid, 3, 1, 0x409)
    notice = (
        f"{family} is {origin}, cut down for Yinshi's poem cards by scripts/build_card_font.py on"
        f" {date.today().isoformat()}: characters subset, renamed, hinting and layout tables dropped."
    )
    name.setName(notice, 10, 3, 1, 0x409)
    for nid, text in extra.items():
        name.setName(text, nid, 3, 1, 0x409)
    name.names = [n for n in name.names if n.platformID == 3]  # Windows names only
    font["post"].formatType = 3.0  # no glyph names


def licence(package: str, name: str) -> str:
    """The text of licence `name` in a Debian package's copyright file (DEP-5 paragraph, unfolded)."""
    lines = (DOC / package / "copyright").read_text(encoding="utf-8").splitlines()
    start = next(
        i + 1 for i, ln in enumerate(lines[:-1]) if ln == f"License: {name}" and lines[i + 1][:1] == " "
    )
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith(" ")), len(lines))
    return "\n".join("" if ln.strip() == "." else ln[1:] for ln in lines[start:end]).strip() + "\n"


OFL_HEADER = """\
YinshiKai.ttf ("Yinshi Kai") is a modified version of LXGW WenKai Regular 1.250:
Copyright 2021-2023 LXGW (https://github.com/lxgw/LxgwWenKai),
Copyright 2020 The Klee Project Authors (https://github.com/fontworks-fonts/Klee),
with Reserved Font Names "霞鹜" and "LXGW".

YinshiRare.ttf ("Yinshi Rare") is a modified version of HanaMin A and B (花園明朝) 2017-09-04,
taken under the OFL (they are also offered under the Hanazono Font License):
Copyright (c) 2011, GlyphWiki Project (kamichi@fonts.jp), with Reserved Font Name "Hanazono Font",
"HanaMinA", "HanaMinB", "花園フォント", "花園明朝A", and "花園明朝B".

This Font Software is licensed under the SIL Open Font License, Version 1.1.
This license is copied below, and is also available with a FAQ at: https://openfontlicense.org

"""


def write_licences(out: Path) -> None:
    """OFL.txt (Yinshi Kai and Yinshi Rare) and ARPHICPL.TXT (Yinshi Rare Ext), from Debian's copyright files."""
    (out / "OFL.txt").write_text(OFL_HEADER + licence("fonts-lxgw-wenkai", "OFL-1.1"), encoding="utf-8")
    (out / "ARPHICPL.TXT").write_text(
        'YinshiRareExt.ttf ("Yinshi Rare Ext") is a modified version of BabelStone Han 15.0.5:\n'
        "(c) Copyright 1994-1999, Arphic Technology Co., Ltd.; (c) Copyright 2009-2023, Andrew West.\n"
        "How and when it was changed is written in the font (name ID 10). Its licence:\n\nARPHIC PUBLIC LICENSE\n\n"
        + licence("fonts-babelstone-han", "arphic-public-license"),
        encoding="utf-8",
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", type=Path, default=REPO / "models", help="directory of checkpoint folders")
    ap.add_argument("--out", type=Path, default=FONT_FILES[0].parent)
    args = ap.parse_args()

    vocab = vocabulary(args.models)
    need = set(vocab) | traditional_forms(vocab) | set(CARD_TEXT)
    print(f"{len(vocab)} vocabulary characters, {len(need)} characters to cover")

    left = set(need)
    sources = [[WENKAI], HANAMIN, [BABELSTONE]]
    for out, paths, names in zip(FONT_FILES, sources, NAMES, strict=True):
        font, covered = cut(paths, left, names)
        left -= covered
        path = args.out / out.name
        font.save(path)
        print(f"{path.name}: {len(font.getGlyphOrder())} glyphs, {path.stat().st_size / 1e6:.2f} MB")
    if left:
        raise SystemExit(f"no font has {''.join(sorted(left))}")
    write_licences(args.out)
    (args.out / CHARS_FILE.name).write_text("".join(sorted(need)) + "\n", encoding="utf-8")
    print(f"{CHARS_FILE.name}: {len(need)} characters")


if __name__ == "__main__":
    main()
