"""Load the chinese-poetry corpus: clean, classify, deduplicate and split it, with a disk cache.

Input: a directory laid out like github.com/chinese-poetry/chinese-poetry, reading
`全唐诗/poet.tang.*.json` (Tang 诗), `全唐诗/poet.song.*.json` (Song 诗) and
`宋词/ci.song.*.json` (Song 词). Output: one `CorpusPoem` per distinct text.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import astuple, dataclass, field
from pathlib import Path

import opencc

from engine.corpus.disk_cache import gc_paused, read_pickle, write_pickle
from engine.errors import YinshiError
from engine.prosody.forms import FORMS, form_for_shape
from engine.text.cleaning import DamagedText, clean_paragraphs
from engine.text.script import to_simplified

PIPELINE_VERSION = 5  # bump whenever cleaning, classification, splitting or the cached record changes
SOURCES: tuple[tuple[str, str, str], ...] = (  # (glob, dynasty, kind), in reading order
    ("全唐诗/poet.tang.*.json", "tang", "shi"),
    ("全唐诗/poet.song.*.json", "song", "shi"),
    ("宋词/ci.song.*.json", "song", "ci"),
)
SPLIT_BUCKETS = 100  # sha1 bucket < 96: train, 96–97: valid, 98–99: test
VALID_FROM, TEST_FROM = 96, 98
PARALLEL_MIN_FILES = 8  # fewer files than this are read in-process


class CorpusError(YinshiError):
    """The corpus directory is missing, empty or holds a file that is not valid JSON."""


@dataclass(frozen=True)
class CorpusPoem:
    id: str  # the corpus id, or a hash of the text if none
    title: str
    author: str
    dynasty: str  # "tang" | "song"
    kind: str  # "shi" | "ci"
    form: str | None  # wujue | qijue | wulv | qilv for regular 诗, else None
    rhythmic: str | None  # 词牌 for ci
    lines: tuple[str, ...]  # clauses, simplified, no punctuation
    split: str  # train | valid | test

    @property
    def text(self) -> str:
        """Lines joined with ，。 alternately; the last line always ends with 。."""
        n = len(self.lines)
        return "".join(line + ("。" if i % 2 or i == n - 1 else "，") for i, line in enumerate(self.lines))


@dataclass
class CorpusReport:
    """What happened to the raw records on the way to the poem list."""

    files: int = 0
    records: int = 0
    malformed: int = 0  # not an object with a list of string paragraphs
    damaged: int = 0  # placeholders, junk characters, unbalanced notes
    empty: int = 0  # nothing left after removing notes
    duplicates: int = 0
    kept: int = 0
    seconds: float = 0.0
    from_cache: bool = False
    damage_reasons: Counter = field(default_factory=Counter)

    @property
    def dropped(self) -> int:
        return self.malformed + self.damaged + self.empty


# ---------------------------------------------------------------- pure helpers


def normalised_key(lines: Sequence[str]) -> str:
    """The identity of a poem's text: its characters without punctuation."""
    return "".join(lines)


def text_hash(lines: Sequence[str]) -> str:
    return hashlib.sha1(normalised_key(lines).encode("utf-8")).hexdigest()


def split_for(lines: Sequence[str]) -> str:
    """train / valid / test from the text alone, so a poem never moves when the corpus grows."""
    bucket = int(text_hash(lines)[:8], 16) % SPLIT_BUCKETS
    return "train" if bucket < VALID_FROM else "valid" if bucket < TEST_FROM else "test"


def classify(lines: Sequence[str]) -> str | None:
    """wujue / qijue / wulv / qilv when every line has 5 or 7 characters and there are 4 or 8."""
    lengths = {len(line) for line in lines}
    if len(lengths) != 1:
        return None
    form = form_for_shape(lengths.pop(), len(lines))
    return form.name if form else None


def regular_poems(
    poems: Iterable[CorpusPoem], split: str | None = None, forms: Iterable[str] | None = None
) -> list[CorpusPoem]:
    """Regular 诗 (form set), optionally of one split and some forms."""
    wanted = set(forms) if forms is not None else set(FORMS)
    return [p for p in poems if p.form in wanted and (split is None or p.split == split)]


# ---------------------------------------------------------------- reading files


def _file_order(path: Path) -> tuple[int, str]:
    m = re.search(r"\.(\d+)\.json$", path.name)
    return (int(m.group(1)) if m else 1 << 30, path.name)


def source_files(corpus_dir: Path) -> list[tuple[Path, str, str]]:
    """(path, dynasty, kind) of every input file, in a fixed order."""
    out = []
    for pattern, dynasty, kind in SOURCES:
        for path in sorted(corpus_dir.glob(pattern), key=_file_order):
            out.append((path, dynasty, kind))
    return out


Record = tuple[str, str, str, str, str, str | None, tuple[str, ...]]
# (id, title, author, dynasty, kind, rhythmic, lines)


def read_file(path: Path, dynasty: str, kind: str) -> tuple[list[Record], Counter]:
    """Clean every record of one JSON file; count what was dropped and why."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CorpusError(f"无法读取语料文件 {path}：{e}", f"Cannot read corpus file {path}: {e}") from e
    if not isinstance(data, list):
        raise CorpusError(f"语料文件 {path} 不是 JSON 数组。", f"Corpus file {path} is not a JSON array.")
    counts: Counter = Counter(records=len(data))
    out: list[Record] = []
    for raw in data:
        paragraphs = raw.get("paragraphs") if isinstance(raw, dict) else None
        if not isinstance(paragraphs, list) or not all(isinstance(p, str) for p in paragraphs):
            counts["malformed"] += 1
            continue
        try:
            lines = clean_paragraphs(paragraphs, kind)
        except DamagedText as e:
            counts["damaged"] += 1
            counts["damaged:" + str(e).split(":")[0]] += 1
            continue
        if not lines:
            counts["empty"] += 1
            continue
        title_key = "rhythmic" if kind == "ci" else "title"
        title = to_simplified(str(raw.get(title_key) or "")).strip()
        rhythmic = title if kind == "ci" else None
        author = to_simplified(str(raw.get("author") or "")).strip()
        out.append((str(raw.get("id") or ""), title, author, dynasty, kind, rhythmic, lines))
    return out, counts


def _read_one(args: tuple[Path, str, str]) -> tuple[list[Record], Counter]:
    with gc_paused():
        return read_file(*args)


def build_poems(records: Iterable[Record]) -> tuple[list[CorpusPoem], int]:
    """Deduplicate (first occurrence wins), classify and split. Returns (poems, duplicates)."""
    seen: set[str] = set()
    poems: list[CorpusPoem] = []
    duplicates = 0
    for rid, title, author, dynasty, kind, rhythmic, lines in records:
        key = normalised_key(lines)
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        form = classify(lines) if kind == "shi" else None
        pid = rid or text_hash(lines)[:16]
        poems.append(CorpusPoem(pid, title, author, dynasty, kind, form, rhythmic, lines, split_for(lines)))
    return poems, duplicates


def process_corpus(corpus_dir: Path, *, progress: bool = False) -> tuple[list[CorpusPoem], CorpusReport]:
    """Read, clean and assemble the corpus without any cache."""
    files = source_files(corpus_dir)
    if not files:
        raise CorpusError(
            f"在 {corpus_dir} 中找不到语料文件（全唐诗/poet.*.json、宋词/ci.song.*.json）。",
            f"No corpus files (全唐诗/poet.*.json, 宋词/ci.song.*.json) found in {corpus_dir}.",
        )
    workers = min(os.cpu_count() or 1, 8)
    if workers > 1 and len(files) >= PARALLEL_MIN_FILES:
        with ProcessPoolExecutor(workers) as pool:
            results = pool.map(_read_one, files, chunksize=4)
            parts = list(_progress(results, len(files), progress))
    else:
        parts = [read_file(*f) for f in _progress(files, len(files), progress)]
    counts: Counter = Counter()
    for _, c in parts:
        counts.update(c)
    poems, duplicates = build_poems(r for recs, _ in parts for r in recs)
    report = CorpusReport(
        files=len(files),
        records=counts["records"],
        malformed=counts["malformed"],
        damaged=counts["damaged"],
        empty=counts["empty"],
        duplicates=duplicates,
        kept=len(poems),
        damage_reasons=Counter({k[8:]: v for k, v in counts.items() if k.startswith("damaged:")}),
    )
    return poems, report


def _progress(it: Iterable, total: int, enabled: bool) -> Iterable:
    if not enabled:
        return it
    from tqdm import tqdm

    return tqdm(it, total=total, desc="corpus", unit="file")


# ---------------------------------------------------------------- cache


def cache_key(corpus_dir: Path) -> str:
    """Changes when any input file's name, size or mtime changes, or the pipeline does."""
    h = hashlib.sha1(f"v{PIPELINE_VERSION}|opencc {opencc.__version__}".encode())
    for path, _, _ in source_files(corpus_dir):
        st = path.stat()
        h.update(f"|{path.relative_to(corpus_dir)}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()


def _cache_path(cache_dir: Path, corpus_dir: Path) -> tuple[Path, str]:
    dir_tag = hashlib.sha1(str(corpus_dir.resolve()).encode()).hexdigest()[:10]
    return cache_dir / f"corpus-{dir_tag}.pkl", cache_key(corpus_dir)


def _read_cache(path: Path, key: str) -> tuple[list[CorpusPoem], CorpusReport] | None:
    blob = read_pickle(path)
    if not isinstance(blob, dict) or blob.get("key") != key:
        return None
    with gc_paused():
        poems = [CorpusPoem(*t) for t in blob["poems"]]
    report = CorpusReport(**blob["report"])
    report.from_cache = True
    return poems, report


def _write_cache(path: Path, key: str, poems: list[CorpusPoem], report: CorpusReport) -> None:
    write_pickle(path, {"key": key, "poems": [astuple(p) for p in poems], "report": vars(report)})


# ---------------------------------------------------------------- entry points


def load_corpus_with_report(
    corpus_dir: Path, *, cache_dir: Path | None = None, progress: bool = False
) -> tuple[list[CorpusPoem], CorpusReport]:
    """Like `load_corpus`, also returning the counts of dropped and duplicate records."""
    import time

    start = time.perf_counter()
    corpus_dir = Path(corpus_dir)
    if not corpus_dir.is_dir():
        raise CorpusError(
            f"语料目录不存在：{corpus_dir}（请设置 YINSHI_CORPUS_DIR 或 --corpus-dir）。",
            f"Corpus directory not found: {corpus_dir} (set YINSHI_CORPUS_DIR or --corpus-dir).",
        )
    cache_path, key = None, None
    if cache_dir is not None:
        cache_path, key = _cache_path(Path(cache_dir), corpus_dir)
        cached = _read_cache(cache_path, key)
        if cached is not None:
            cached[1].seconds = time.perf_counter() - start
            return cached
    with gc_paused():
        poems, report = process_corpus(corpus_dir, progress=progress)
    if cache_path is not None and key is not None:
        _write_cache(cache_path, key, poems, report)
    report.seconds = time.perf_counter() - start
    return poems, report


def load_corpus(corpus_dir: Path, *, cache_dir: Path | None = None, progress: bool = False) -> list[CorpusPoem]:
    """All distinct poems of the corpus in `corpus_dir`, cached (pickled) in `cache_dir` when given."""
    return load_corpus_with_report(corpus_dir, cache_dir=cache_dir, progress=progress)[0]
