"""Turning poems into model inputs: token ids, slot ids, tone features and training keywords.

A poem of form F is the token sequence `c c c c c ， c c c c c 。 ...` (punctuation included, so the
model sees line structure), n_lines * (line_len + 1) tokens long. Each target token also carries
  slot: line * 8 + column (column line_len is the punctuation), so the model knows where it is;
  tone: the tone asked of it (0 none, 1 平, 2 仄, 3 either) — the template's tone at decode time,
        the character's own tone in training — so the model proposes characters that fit the mask.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch

from engine.corpus.vocab import COMMA, PERIOD, Vocab
from engine.prosody.forms import FORMS, PING, ZE, Form

FORM_IDS: dict[str, int] = {name: i for i, name in enumerate(FORMS)}  # wujue 0, qijue 1, wulv 2, qilv 3
N_SLOTS = 64
TONE_NONE, TONE_PING, TONE_ZE, TONE_ANY = 0, 1, 2, 3
MAX_KEYWORD = 4


def seq_len(form: Form) -> int:
    return form.n_lines * (form.line_len + 1)


def slots(form: Form) -> list[int]:
    """Slot id of every token position of a poem of this form."""
    w = form.line_len + 1
    return [(p // w) * 8 + (p % w) for p in range(seq_len(form))]


def tone_code(tones: frozenset[str]) -> int:
    if tones == {PING}:
        return TONE_PING
    if tones == {ZE}:
        return TONE_ZE
    return TONE_ANY if tones else TONE_NONE


def poem_tokens(lines: Sequence[str], vocab: Vocab) -> list[int]:
    ids: list[int] = []
    for i, line in enumerate(lines):
        ids.extend(vocab.encode(line))
        ids.append(COMMA if i % 2 == 0 else PERIOD)
    return ids


def keyword_ids(keyword: str, vocab: Vocab) -> list[int]:
    """Keyword characters as ids, padded with 0 to MAX_KEYWORD."""
    ids = vocab.encode(keyword[:MAX_KEYWORD])
    return ids + [0] * (MAX_KEYWORD - len(ids))


class KeywordSampler:
    """Draws a training keyword from a poem's own text, weighted by inverse document frequency.

    Candidates are the poem's characters and its in-line bigrams that are common corpus words
    (document frequency >= min_df), minus the most frequent function characters. This is TF-IDF
    keyword extraction over the poetry corpus itself, so `春` teaches the model a spring poem.
    """

    def __init__(self, poems_lines: Iterable[Sequence[str]], min_df: int = 20, stop_top: int = 40):
        df_char: Counter[str] = Counter()
        df_bi: Counter[str] = Counter()
        n = 0
        for lines in poems_lines:
            n += 1
            df_char.update(set("".join(lines)))
            df_bi.update({ln[i : i + 2] for ln in lines for i in range(len(ln) - 1)})
        stop = {c for c, _ in df_char.most_common(stop_top)}
        self.idf: dict[str, float] = {}
        for c, d in df_char.items():
            if d >= min_df and c not in stop:
                self.idf[c] = math.log(n / d)
        for b, d in df_bi.items():
            if d >= min_df * 2 and not (set(b) & stop):
                self.idf[b] = math.log(n / d) * 0.8
        self.n_docs = n

    def candidates(self, lines: Sequence[str]) -> list[tuple[str, float]]:
        seen: dict[str, float] = {}
        for ln in lines:
            for i, c in enumerate(ln):
                if c in self.idf:
                    seen[c] = self.idf[c]
                b = ln[i : i + 2]
                if len(b) == 2 and b in self.idf:
                    seen[b] = self.idf[b]
        return sorted(seen.items(), key=lambda kv: -kv[1])

    def sample(self, lines: Sequence[str], rng: random.Random, top: int = 8) -> str:
        cands = self.candidates(lines)[:top]
        if not cands:
            return lines[0][0]
        words, weights = zip(*cands, strict=True)
        return rng.choices(words, weights=weights)[0]


@dataclass
class FormBatchData:
    """All poems of one form as tensors (N poems, T tokens)."""

    form: str
    tokens: torch.Tensor  # (N, T) long
    tones: torch.Tensor  # (N, T) long, tone feature of each target token
    lines: list[tuple[str, ...]]  # the source lines, for keyword sampling

    def __len__(self) -> int:
        return self.tokens.shape[0]


def encode_form(poems_lines: list[tuple[str, ...]], form_name: str, vocab: Vocab, tone_of) -> FormBatchData:
    """Encode poems of one form. `tone_of(ch) -> frozenset` gives a character's tones."""
    tone_cache: dict[int, int] = {COMMA: TONE_NONE, PERIOD: TONE_NONE}
    toks, tones = [], []
    for lines in poems_lines:
        ids = poem_tokens(lines, vocab)
        toks.append(ids)
        tt = []
        for i in ids:
            if i not in tone_cache:
                tone_cache[i] = tone_code(tone_of(vocab.itos[i]))
            tt.append(tone_cache[i])
        tones.append(tt)
    t = seq_len(FORMS[form_name])
    return FormBatchData(
        form=form_name,
        tokens=torch.tensor(toks, dtype=torch.long).view(-1, t),
        tones=torch.tensor(tones, dtype=torch.long).view(-1, t),
        lines=list(poems_lines),
    )
