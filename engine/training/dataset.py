"""Training batches: regular poems of one form at a time, each with a keyword from its own text."""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from engine.corpus.loader import CorpusPoem
from engine.corpus.vocab import BOS, Vocab
from engine.models.encoding import FORM_IDS, FormBatchData, KeywordSampler, encode_form, keyword_ids, slots
from engine.prosody.forms import FORMS


@dataclass
class Batch:
    form: str
    tokens: torch.Tensor  # (B, T) targets
    prev: torch.Tensor  # (B, T) inputs: BOS then tokens[:-1]
    slot: torch.Tensor  # (B, T)
    tone: torch.Tensor  # (B, T)
    form_ids: torch.Tensor  # (B,)
    keyword: torch.Tensor  # (B, K)
    keywords: list[str]

    def to(self, device) -> Batch:
        return Batch(
            self.form,
            *(
                t.to(device)
                for t in (self.tokens, self.prev, self.slot, self.tone, self.form_ids, self.keyword)
            ),
            self.keywords,
        )


class PoemData:
    """Poems of one split encoded per form."""

    def __init__(self, poems: list[CorpusPoem], vocab: Vocab, tone_of, sampler: KeywordSampler):
        by_form: dict[str, list[tuple[str, ...]]] = {f: [] for f in FORMS}
        for p in poems:
            if p.form in by_form:
                by_form[p.form].append(tuple(p.lines))
        self.forms = {f: encode_form(lines, f, vocab, tone_of) for f, lines in by_form.items() if lines}
        self.vocab, self.sampler = vocab, sampler
        self._cands = {f: [sampler.candidates(ln)[:8] for ln in d.lines] for f, d in self.forms.items()}

    def __len__(self) -> int:
        return sum(len(d) for d in self.forms.values())

    def sample_keyword(self, form: str, i: int, rng: random.Random) -> str:
        """A keyword for poem i of the form, drawn from its own text by TF-IDF weight."""
        cands = self._cands[form][i]
        if not cands:
            return self.forms[form].lines[i][0][0]
        return rng.choices([w for w, _ in cands], weights=[s for _, s in cands])[0]

    def make_batch(self, form: str, idx: list[int], rng: random.Random) -> Batch:
        d: FormBatchData = self.forms[form]
        toks = d.tokens[idx]
        B, T = toks.shape
        kws = [self.sample_keyword(form, i, rng) for i in idx]
        prev = torch.cat([torch.full((B, 1), BOS), toks[:, :-1]], dim=1)
        return Batch(
            form=form,
            tokens=toks,
            prev=prev,
            slot=torch.tensor(slots(FORMS[form])).expand(B, T),
            tone=d.tones[idx],
            form_ids=torch.full((B,), FORM_IDS[form]),
            keyword=torch.tensor([keyword_ids(k, self.vocab) for k in kws]),
            keywords=kws,
        )

    def sample_batch(self, form: str, n: int, rng: random.Random) -> Batch:
        """Up to `n` poems of the form drawn at random (without replacement)."""
        size = len(self.forms[form])
        return self.make_batch(form, rng.sample(range(size), min(n, size)), rng)

    def plan(self, batch_size: int, rng: random.Random) -> list[tuple[str, list[int]]]:
        """One pass over all poems: (form, indices) batches, forms interleaved at random."""
        plan = []
        for f, d in self.forms.items():
            order = list(range(len(d)))
            rng.shuffle(order)
            plan += [(f, order[i : i + batch_size]) for i in range(0, len(order), batch_size)]
        rng.shuffle(plan)
        return plan

    def epoch(self, batch_size: int, rng: random.Random):
        for f, idx in self.plan(batch_size, rng):
            yield self.make_batch(f, idx, rng)
