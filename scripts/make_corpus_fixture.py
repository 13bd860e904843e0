"""Rebuild tests/fixtures/chinese-poetry: a small slice of the real corpus in its original format.

Usage: python scripts/make_corpus_fixture.py [CORPUS_DIR]

Records are copied unchanged (same JSON fields, same directory layout). The choice is
deterministic: a few famous poems, then regular 诗 of each form (Tang ones tagged 唐诗三百首
first), a few irregular and damaged records and one duplicate pair, which the tests rely on.
"""

from __future__ import annotations

import json
import random
import shutil
import sys
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app.settings import get_settings  # noqa: E402
from engine.corpus.loader import classify, normalised_key, source_files  # noqa: E402
from engine.text.cleaning import DamagedText, clean_paragraphs  # noqa: E402

OUT = REPO / "tests" / "fixtures" / "chinese-poetry"
FAMOUS = [
    ("春望", "杜甫"),
    ("山居秋暝", "王維"),
    ("登鸛雀樓", "王之渙"),
    ("春曉", "孟浩然"),
    ("靜夜思", "李白"),
]
QUOTA = {  # regular poems per form, besides the famous ones
    "tang": {"wujue": 55, "qijue": 55, "wulv": 55, "qilv": 50},
    "song": {"wujue": 30, "qijue": 35, "wulv": 30, "qilv": 30},
}
IRREGULAR = {"tang": 18, "song": 12}
DAMAGED = {"tang": 4, "song": 4}
CI = 50


def scan(corpus_dir: Path):
    """Every record with where it came from, its cleaned lines and form (or damage)."""
    for path, dynasty, kind in source_files(corpus_dir):
        for raw in json.loads(path.read_text(encoding="utf-8")):
            try:
                lines = clean_paragraphs(raw["paragraphs"], kind)
            except DamagedText:
                yield dynasty, kind, raw, None, "damaged"
                continue
            form = classify(lines) if kind == "shi" else None
            yield dynasty, kind, raw, lines, form


def main(corpus_dir: Path) -> None:
    rng = random.Random(20240601)
    pools: dict[tuple[str, str], list] = defaultdict(list)
    famous, first_seen, duplicate = {}, {}, None
    for dynasty, kind, raw, lines, form in scan(corpus_dir):
        key = (raw.get("title"), raw.get("author"))
        if dynasty == "tang" and key in FAMOUS and key not in famous:
            famous[key] = raw
            continue
        if lines is not None and form and dynasty == "tang" and duplicate is None:
            text = normalised_key(lines)
            if text in first_seen and first_seen[text][0] is not raw:
                duplicate = (first_seen[text][0], raw)
            first_seen.setdefault(text, (raw,))
        group = "ci" if kind == "ci" else form or "irregular"
        pools[(dynasty, group)].append((raw, lines))
    missing = [t for t in FAMOUS if t not in famous]
    if missing or duplicate is None:
        raise SystemExit(f"not found: {missing} / duplicate pair: {duplicate is not None}")

    def pick(dynasty: str, group: str, n: int, prefer_tag: str | None = None, short: int = 0) -> list[dict]:
        pool = [r for r, _ in pools[(dynasty, group)] if r is not duplicate[0] and r is not duplicate[1]]
        if short:
            pool = [r for r in pool if len(r["paragraphs"]) <= short]
        tagged = [r for r in pool if prefer_tag and prefer_tag in (r.get("tags") or [])]
        rest = [r for r in pool if not (prefer_tag and prefer_tag in (r.get("tags") or []))]
        rng.shuffle(tagged)
        chosen = tagged[:n]
        chosen += rng.sample(rest, n - len(chosen))
        return chosen

    tang = [famous[k] for k in FAMOUS] + list(duplicate)
    for form, n in QUOTA["tang"].items():
        tang += pick("tang", form, n, prefer_tag="唐诗三百首")
    tang += pick("tang", "irregular", IRREGULAR["tang"], short=8) + pick(
        "tang", "damaged", DAMAGED["tang"], short=8
    )
    song = []
    for form, n in QUOTA["song"].items():
        song += pick("song", form, n)
    song += pick("song", "irregular", IRREGULAR["song"], short=8) + pick(
        "song", "damaged", DAMAGED["song"], short=8
    )
    ci = pick("song", "ci", CI, short=10)

    if OUT.exists():
        shutil.rmtree(OUT)
    for rel, records, indent in [
        ("全唐诗/poet.tang.0.json", tang, 4),
        ("全唐诗/poet.song.0.json", song, 4),
        ("宋词/ci.song.0.json", ci, 2),
    ]:
        path = OUT / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(records, ensure_ascii=False, indent=indent) + "\n", encoding="utf-8")
        print(f"{rel}: {len(records)} records")
    shutil.copy(corpus_dir / "LICENSE", OUT / "LICENSE")
    (OUT / "SOURCE.md").write_text(
        "# Source\n\n"
        "A slice of chinese-poetry/chinese-poetry (MIT License, see LICENSE), copied record by record\n"
        f"without changes from the corpus described in its SOURCE.md, by scripts/make_corpus_fixture.py:\n"
        f"{len(tang)} Tang 诗, {len(song)} Song 诗 (mostly regular 五绝/七绝/五律/七律, with a few\n"
        f"irregular and damaged records and one duplicate pair) and {len(ci)} Song 词.\n",
        encoding="utf-8",
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else get_settings().corpus_dir)
