"""Score a set of generated poems against the corpus: `evaluate_poems(poems, reference) -> dict`.

The reference data (training-line and 4-gram sets, BLEU references, theme model, held-out real
poems, calibration figures from real poems) is built once from the corpus by `build_reference`,
and `load_reference` caches it on disk next to the corpus cache.

Figures (rates are shares of all poems unless said otherwise; None where undefined):
- format_valid: the text has exactly the shape of the requested form (of any form if none).
- rhyme_rate, tone_lenient, tone_strict: engine.prosody.check (lenient = 一三五不论 and the usual 拗救
  excuses, plus rhyme; strict = no fault at all). A poem of the wrong shape fails all three.
- keyword_hit: every keyword character is in the poem (acrostic: line i opens with keyword[i]);
  keyword_first_couplet: the keyword is in lines 1–2 (non-acrostic poems with a keyword).
- line_copy_rate: share of lines found verbatim in the training split; gram4_seen_rate: share
  of character 4-grams (within lines) found there.
- distinct_1 / distinct_2 over the set of poems; repetition (1 - unique/characters, mean).
- bleu2: BLEU-2 with all test poems of the same form as references — the poem protocol of
  Yu et al. (2017), "SeqGAN: Sequence Generative Adversarial Nets with Policy Gradient", AAAI.
- parallel_rate: share of 颔联/颈联 of eight-line poems set in 对仗 (engine.evaluation.antithesis).
- theme_score: mean keyword PMI of the poem's other characters (engine.evaluation.theme).
- discriminator_accuracy: 5-fold CV accuracy of a fresh TF-IDF + logistic-regression classifier
  telling the poems from as many real held-out poems of the same forms (0.5 = indistinguishable).
- distinct_chars, beyond_top_share, overused_chars, variant_poems, rare_rhyme_rate: characters and
  rhymes against the corpus's usage (engine.evaluation.vocabulary).
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.corpus.disk_cache import read_pickle, write_pickle
from engine.corpus.loader import CorpusPoem, cache_key, load_corpus
from engine.errors import InvalidInput, YinshiError
from engine.evaluation import antithesis, metrics
from engine.evaluation.bleu import BleuReference
from engine.evaluation.classifier import PairCounts, discriminator_accuracy
from engine.evaluation.novelty import TrainIndex
from engine.evaluation.theme import ThemeModel
from engine.evaluation.vocabulary import char_figures
from engine.prosody import usage as rhyme_usage
from engine.prosody.check import check_poem
from engine.prosody.forms import FORMS, LVSHI, parse_form
from engine.prosody.tables import get_prosody
from engine.prosody.usage import RhymeUsage
from engine.text.script import to_simplified

REFERENCE_VERSION = 5  # bump when the reference data or its calibration changes
CALIBRATION_POEMS = 600  # real test poems used for the corpus-side figures


# ---------------------------------------------------------------- input


@dataclass(frozen=True)
class GeneratedPoem:
    """One poem to score: its text and what was asked for."""

    text: str
    keyword: str = ""
    form: str | None = None  # the requested form; None: any form
    acrostic: bool = False

    @property
    def lines(self) -> tuple[str, ...]:
        return metrics.parse_lines(self.text)


def as_generated(obj: Any) -> GeneratedPoem:
    """A GeneratedPoem from a dict, an engine.request.PoemResult or anything with the same fields."""
    if isinstance(obj, GeneratedPoem):
        return obj
    get = obj.get if isinstance(obj, dict) else (lambda k, d=None: getattr(obj, k, d))
    text = get("text")
    if not isinstance(text, str):
        raise InvalidInput("每首诗都需要文本字段 text。", "Every poem needs a 'text' string.")
    form = get("form") or None
    if form is not None:
        form = parse_form(str(form)).name
    keyword = get("keyword") or ""
    if not isinstance(keyword, str):
        raise InvalidInput("关键词 keyword 必须是字符串。", "'keyword' must be a string.")
    return GeneratedPoem(text, to_simplified(keyword.strip()), form, bool(get("acrostic", False)))


def read_jsonl(path: Path) -> list[GeneratedPoem]:
    """Poems from a JSONL file, one {"text", "keyword", "form", "acrostic"} object per line."""
    try:
        raw = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidInput(f"无法读取文件 {path}：{e}", f"Cannot read {path}: {e}") from None
    poems = []
    for no, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            if not isinstance(obj, dict):
                raise ValueError("not a JSON object")
            poems.append(as_generated(obj))
        except (ValueError, YinshiError) as e:
            zh, en = (e.zh, e.en) if isinstance(e, YinshiError) else (str(e), str(e))
            raise InvalidInput(f"{path} 第 {no} 行无效：{zh}", f"{path} line {no} is invalid: {en}") from None
    if not poems:
        raise InvalidInput(f"{path} 中没有诗。", f"No poems in {path}.")
    return poems


# ---------------------------------------------------------------- reference data


@dataclass
class ReferenceData:
    """Everything the metrics compare against, built once from the corpus."""

    scheme: str
    train_index: TrainIndex  # training lines and 4-grams (all training poems, 诗 and 词)
    theme: ThemeModel  # keyword PMIs from the training poems
    bleu: dict[str, BleuReference]  # per form: the test poems of that form
    test: dict[str, list[CorpusPoem]]  # per form: the test poems (BLEU references, calibration)
    valid: dict[str, list[CorpusPoem]]  # per form: the valid poems (baselines)
    heldout: dict[str, list[tuple[str, ...]]]  # per form: valid + test poems (discriminator)
    unigram_chars: str  # training characters of regular 诗 ...
    unigram_probs: np.ndarray  # ... and their frequencies (random baseline)
    pairs: PairCounts | None = None  # training counts of character pairs (discriminator features)
    rhyme_usage: dict | None = None  # 平水韵 groups each character is rhymed in (engine/prosody/usage.py)
    corpus: dict[str, Any] = field(default_factory=dict)  # figures of real poems, for comparison


def build_reference(poems: Sequence[CorpusPoem], scheme: str = "pingshui", seed: int = 0) -> ReferenceData:
    """Index the corpus for evaluation (about 15 s on the full corpus)."""
    get_prosody(scheme)  # fail early on an unknown scheme
    train = [p for p in poems if p.split == "train"]
    train_index = TrainIndex(line for p in train for line in p.lines)
    theme = ThemeModel(["".join(p.lines) for p in train], [p.title if p.kind == "shi" else "" for p in train])
    test = {f: [p for p in poems if p.form == f and p.split == "test"] for f in FORMS}
    heldout = {f: [p.lines for p in poems if p.form == f and p.split in ("valid", "test")] for f in FORMS}
    valid = {f: [p for p in poems if p.form == f and p.split == "valid"] for f in FORMS}
    bleu = {f: BleuReference("".join(p.lines) for p in test[f]) for f in FORMS}
    counts: dict[str, int] = defaultdict(int)
    for p in train:
        if p.form:
            for line in p.lines:
                for ch in line:
                    counts[ch] += 1
    chars = "".join(sorted(counts))
    probs = np.array([counts[c] for c in chars], dtype=np.float64)
    ref = ReferenceData(scheme, train_index, theme, bleu, test, valid, heldout, chars, probs / probs.sum(),
                        PairCounts(line for p in train if p.form for line in p.lines),
                        rhyme_usage.build((p.lines for p in train if p.form), get_prosody("pingshui")))
    ref.corpus = calibrate(ref, seed)
    return ref


def calibrate(ref: ReferenceData, seed: int = 0) -> dict[str, Any]:
    """Corpus-side figures to read the generated ones against (real test poems)."""
    rng = random.Random(seed)
    tones = get_prosody(ref.scheme).tones
    out: dict[str, Any] = {"parallel_rate": {}}
    for f in LVSHI:
        sample = rng.sample(ref.test[f], min(CALIBRATION_POEMS, len(ref.test[f])))
        hits, total = antithesis.couplet_stats((p.lines for p in sample), tones)
        out["parallel_rate"][f] = hits / total if total else None
    pool = [p for f in FORMS for p in ref.test[f]]
    sample = rng.sample(pool, min(CALIBRATION_POEMS, len(pool)))
    keywords = [ref.theme.real_keyword(p.title, p.lines, rng) for p in sample]
    own, other, first = [], [], []
    for p, k in zip(sample, keywords, strict=True):
        if not k:
            continue
        own.append(ref.theme.score(p.lines, k))
        first.append(metrics.keyword_in_first_couplet(p.lines, k))
        others = [o for o in keywords if o and o != k]
        if others:
            other.append(ref.theme.score(p.lines, rng.choice(others)))
    out["theme_score_own_keyword"] = metrics.mean(own)
    out["theme_score_other_keyword"] = metrics.mean(other)
    out["keyword_first_couplet"] = metrics.mean(first)
    out["calibration_poems"] = len(sample)
    return out


def reference_cache_path(corpus_dir: Path, cache_dir: Path, scheme: str, seed: int) -> Path:
    key = hashlib.sha1(
        f"v{REFERENCE_VERSION}|{cache_key(corpus_dir)}|{corpus_dir.resolve()}|{scheme}|{seed}".encode()
    ).hexdigest()[:16]
    return cache_dir / f"eval-reference-{key}.pkl"


def load_reference(
    corpus_dir: Path, *, scheme: str = "pingshui", seed: int = 0, cache_dir: Path | None = None
) -> ReferenceData:
    """The reference data of a corpus, from the disk cache in `cache_dir` (when given) if the corpus
    has not changed."""
    get_prosody(scheme)  # an unknown scheme fails before any work
    corpus_dir = Path(corpus_dir)
    path = None
    if cache_dir is not None and corpus_dir.is_dir():
        path = reference_cache_path(corpus_dir, Path(cache_dir), scheme, seed)
    if path is not None and isinstance(cached := read_pickle(path), ReferenceData):
        return cached
    ref = build_reference(load_corpus(corpus_dir, cache_dir=cache_dir), scheme, seed)
    if path is not None:
        write_pickle(path, ref)
    return ref


# ---------------------------------------------------------------- scoring


@dataclass
class PoemScore:
    """The per-poem figures `summarize` aggregates."""

    form: str | None  # requested, else detected
    lines: tuple[str, ...]
    valid: bool
    rhyme_ok: bool
    ok: bool
    strict_ok: bool
    bleu2: float | None
    lines_seen: int
    grams_seen: int
    grams: int
    repetition: float
    keyword_hit: bool | None  # None: no keyword given
    keyword_first_couplet: bool | None  # None: no keyword, or acrostic
    theme: float | None
    parallel: int
    couplets: int


def score_poem(poem: GeneratedPoem, ref: ReferenceData) -> PoemScore:
    lines = poem.lines
    form = poem.form or metrics.detect_form(lines)
    valid = metrics.format_valid(lines, poem.form)
    rhyme_ok = ok = strict_ok = False
    if valid:
        report = check_poem("\n".join(lines), scheme=ref.scheme, form=form)
        rhyme_ok, ok, strict_ok = report.rhyme_ok, report.ok, report.strict_ok
    bleu = ref.bleu.get(form) if form else None
    grams_seen, grams = ref.train_index.grams_seen(lines)
    kw = poem.keyword
    parallel, couplets = (
        antithesis.couplet_stats([lines], get_prosody(ref.scheme).tones)
        if form in LVSHI
        else (0, 0)
    )
    return PoemScore(
        form=form,
        lines=lines,
        valid=valid,
        rhyme_ok=rhyme_ok,
        ok=ok,
        strict_ok=strict_ok,
        bleu2=bleu.score("".join(lines)) if bleu is not None and len(bleu) else None,
        lines_seen=int(ref.train_index.lines_seen(lines).sum()),
        grams_seen=grams_seen,
        grams=grams,
        repetition=metrics.repetition(lines),
        keyword_hit=metrics.keyword_hit(lines, kw, poem.acrostic) if kw else None,
        keyword_first_couplet=metrics.keyword_in_first_couplet(lines, kw)
        if kw and not poem.acrostic
        else None,
        theme=ref.theme.score(lines, kw) if kw else None,
        parallel=parallel,
        couplets=couplets,
    )


def summarize(scores: Sequence[PoemScore]) -> dict[str, Any]:
    """Aggregate per-poem figures (no discriminator, which needs the real poems)."""
    n_lines = sum(len(s.lines) for s in scores)
    grams = sum(s.grams for s in scores)
    couplets = sum(s.couplets for s in scores)
    return {
        "n": len(scores),
        "format_valid": metrics.mean(s.valid for s in scores),
        "rhyme_rate": metrics.mean(s.rhyme_ok for s in scores),
        "tone_lenient": metrics.mean(s.ok for s in scores),
        "tone_strict": metrics.mean(s.strict_ok for s in scores),
        "keyword_hit": metrics.mean(s.keyword_hit for s in scores),
        "keyword_first_couplet": metrics.mean(s.keyword_first_couplet for s in scores),
        "theme_score": metrics.mean(s.theme for s in scores),
        "theme_scored": sum(s.theme is not None for s in scores),
        "line_copy_rate": sum(s.lines_seen for s in scores) / n_lines if n_lines else None,
        "gram4_seen_rate": sum(s.grams_seen for s in scores) / grams if grams else None,
        "distinct_1": metrics.distinct_n((s.lines for s in scores), 1),
        "distinct_2": metrics.distinct_n((s.lines for s in scores), 2),
        "repetition": metrics.mean(s.repetition for s in scores),
        "bleu2": metrics.mean(s.bleu2 for s in scores),
        "parallel_rate": sum(s.parallel for s in scores) / couplets if couplets else None,
        "parallel_couplets": couplets,
    }


def real_counterparts(
    scores: Sequence[PoemScore], ref: ReferenceData, rng: random.Random
) -> list[tuple[str, ...]]:
    """One real held-out poem per generated poem, of the same form where it has one.

    A real poem that shares a line with any evaluated poem is left out, so real or shuffled
    baseline poems never meet their own source poems on the other side.
    """
    used = {line for s in scores for line in s.lines}
    pools = {f: [lines for lines in ref.heldout[f] if used.isdisjoint(lines)] for f in FORMS}
    for pool in pools.values():
        rng.shuffle(pool)
    out = []
    for s in scores:
        form = s.form if s.form in pools else rng.choice([f for f in FORMS if pools[f]] or list(FORMS))
        if pools[form]:
            out.append(pools[form].pop())
    return out


def evaluate_poems(
    poems: Iterable[Any], reference: ReferenceData, *, seed: int = 0, per_form: bool = True
) -> dict[str, Any]:
    """All figures for a set of poems (GeneratedPoem, PoemResult or dicts): overall and per form."""
    scores = [score_poem(as_generated(p), reference) for p in poems]
    if not scores:
        raise InvalidInput("没有可评估的诗。", "No poems to evaluate.")
    out = summarize(scores)
    real = real_counterparts(scores, reference, random.Random(seed))
    out["discriminator_accuracy"] = discriminator_accuracy([s.lines for s in scores], real, seed=seed,
                                                           pairs=reference.pairs)
    out["discriminator_real_poems"] = len(real)
    usage = RhymeUsage(reference.rhyme_usage) if reference.rhyme_usage and reference.scheme == "pingshui" else None
    out.update(char_figures([s.lines for s in scores], reference.unigram_chars, reference.unigram_probs,
                            get_prosody(reference.scheme), usage))
    if per_form:
        by_form: dict[str, list[PoemScore]] = defaultdict(list)
        for s in scores:
            by_form[s.form or "other"].append(s)
        out["per_form"] = {f: summarize(by_form[f]) for f in (*FORMS, "other") if by_form.get(f)}
    return out
