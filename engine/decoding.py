"""Constrained, batched decoding shared by both generators.

Each request carries its own constraints (a `DecodeSpec`); one forward pass serves the batch.
- form: line lengths and ，。 are placed by position, never sampled;
- tones: the template's tone at every position, as a hard mask (strict) or a penalty (lenient,
  where 一三五不论 frees a position);
- rhyme: the first rhyme position may take any character of a 平声 group; later ones only
  characters of the group(s) still shared, never one already used;
- keyword: nudged in where the template allows it and forced by the last position it still fits;
  acrostic heads are forced at the start of each line;
- no line repeats an earlier one; a repetition penalty keeps characters from recurring;
- temperature, top-k (at most `TOPK_CAP`) and top-p; every request draws from its own seeded
  stream, so a request decodes the same whether batched or alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from engine.encoding import (
    FORM_IDS,
    MAX_KEYWORD,
    TONE_PING,
    TONE_ZE,
    seq_len,
    slots,
)
from engine.forms import FORMS, PING, ZE, Form, lenient_free_positions
from engine.vocab import BOS, COMMA, PERIOD, Vocab

TOPK_CAP = 64  # sampling considers at most this many candidates (topk over the vocabulary is costly)
NEG = float("-inf")


@dataclass
class DecodeSpec:
    """One request's constraints, in token ids."""

    form: str
    line_tones: list[str]  # the tone template, one string of 平/仄 per line (adjusted for heads)
    rhyme_lines: list[int]  # 0-based lines whose last character rhymes
    keyword: list[int]  # conditioning ids
    include: list[int] = field(default_factory=list)  # ids to appear contiguously (theme mode)
    heads: list[int] | None = None  # acrostic: one id per line
    strict: bool = True
    temperature: float = 0.8
    top_k: int = 0
    top_p: float = 0.9
    repetition_penalty: float = 1.2  # subtracted from a logit per earlier use of the character
    keyword_bonus: float = 2.0  # added to the keyword's first character where it may start
    seed: int = 0
    prefix: list[int] = field(default_factory=list)  # forced leading tokens (rollouts)

    @property
    def form_obj(self) -> Form:
        return FORMS[self.form]

    def tone_inputs(self) -> list[int]:
        """The tone feature the decoder is fed at every position: the template's tone, 0 at ，。"""
        out = []
        for line in self.line_tones:
            out += [TONE_PING if t == PING else TONE_ZE for t in line] + [0]
        return out


class ProsodyMasks:
    """Vocabulary-sized masks for one scheme: which characters may take which tone or rhyme."""

    def __init__(self, vocab: Vocab, prosody, device="cpu"):
        V = len(vocab)
        is_char = torch.zeros(V, dtype=torch.bool)
        ping = torch.zeros(V, dtype=torch.bool)
        ze = torch.zeros(V, dtype=torch.bool)
        groups = prosody.ping_groups()
        member = torch.zeros(len(groups), V, dtype=torch.bool)
        gidx = {g: i for i, g in enumerate(groups)}
        for i, ch in enumerate(vocab.itos):
            if i < 6 or not prosody.knows(ch):
                continue
            is_char[i] = True
            tones = prosody.tones(ch)
            ping[i] = PING in tones
            ze[i] = ZE in tones
            for g in prosody.ping_rhyme_groups(ch):
                if g in gidx:
                    member[gidx[g], i] = True
        # keep only groups with enough characters to rhyme a 律诗 (5 distinct rhyme characters)
        big = member.sum(1) >= 5
        self.member = member[big].to(device)  # (G, V)
        self.groups = [g for g, b in zip(groups, big.tolist(), strict=True) if b]
        self.tone_ok = torch.stack([is_char, is_char & ping, is_char & ze]).to(device)  # (3, V)
        self.is_char = is_char.to(device)
        self.prosody = prosody

    def fits(self, token: int, tone: str) -> bool:
        return bool(self.tone_ok[TONE_PING if tone == PING else TONE_ZE, token])


def keyword_starts(spec: DecodeSpec, masks: ProsodyMasks) -> list[int]:
    """Sequence positions where the keyword may start: within one line, off rhyme positions, and
    (in strict mode) every character fitting the template's tone there."""
    form, k = spec.form_obj, len(spec.include)
    L = form.line_len
    out = []
    if not k or k > L:
        return out
    for line in range(form.n_lines):
        last = L - 1 if line in spec.rhyme_lines else L  # rhyme position excluded
        for col in range(0, last - k + 1):
            if spec.heads is not None and col == 0:
                continue
            if all(masks.fits(t, spec.line_tones[line][col + j]) for j, t in enumerate(spec.include)):
                out.append(line * (L + 1) + col)
    if not out:  # tones never fit: lenient placement anywhere off the rhyme positions
        for line in range(form.n_lines):
            last = L - 1 if line in spec.rhyme_lines else L
            out += [line * (L + 1) + col for col in range(1 if spec.heads else 0, last - k + 1)]
    return out


@torch.no_grad()
def decode(
    model,
    specs: list[DecodeSpec],
    masks: ProsodyMasks,
    z: torch.Tensor | None = None,
    record_masks: bool = False,
):
    """Decode a batch of requests of one form. Returns tokens (B, T) and, if asked, the additive
    masks used at each step (B, T, V) so a policy-gradient step can rebuild the same policy."""
    form = specs[0].form_obj
    assert all(s.form == form.name for s in specs), "decode one form per call"
    device = masks.tone_ok.device
    B, T, L, V = len(specs), seq_len(form), form.line_len, masks.tone_ok.shape[1]
    slot_ids = slots(form)

    form_t = torch.full((B,), FORM_IDS[form.name], device=device)
    kw = torch.tensor([s.keyword for s in specs], device=device)
    c, h = model.condition(form_t, kw, z)
    # per-request random streams: one uniform per position, drawn up front
    u = torch.stack([torch.rand(T, generator=torch.Generator().manual_seed(s.seed)) for s in specs]).to(device)
    temp = torch.tensor([max(s.temperature, 1e-3) for s in specs], device=device)[:, None]
    top_p = torch.tensor([s.top_p for s in specs], device=device)[:, None]
    top_k = torch.tensor([s.top_k if s.top_k > 0 else TOPK_CAP for s in specs], device=device)[:, None]
    rep = torch.tensor([s.repetition_penalty for s in specs], device=device)[:, None]

    # per-position plans (B, T): tone asked, lenient freedom, rhyme position, forced token
    tone_l, lenient_l, rhyme_l, forced_l = [], [], [], []
    for s in specs:  # built as lists: element-wise tensor writes cost microseconds each
        tone_r, len_r, rhy_r, frc_r = s.tone_inputs(), [False] * T, [False] * T, [-1] * T
        free_by_line = [lenient_free_positions(t) for t in s.line_tones]
        for line in range(form.n_lines):
            base = line * (L + 1)
            for col in range(L):
                len_r[base + col] = not s.strict and col in free_by_line[line]
            rhy_r[base + L - 1] = line in s.rhyme_lines
            frc_r[base + L] = COMMA if line % 2 == 0 else PERIOD
            if s.heads is not None:
                frc_r[base] = s.heads[line]
        frc_r[: len(s.prefix)] = s.prefix
        tone_l.append(tone_r)
        lenient_l.append(len_r)
        rhyme_l.append(rhy_r)
        forced_l.append(frc_r)
    tone_all = torch.tensor(tone_l, device=device)
    lenient_all = torch.tensor(lenient_l, device=device)
    rhyme_all = torch.tensor(rhyme_l, device=device)
    forced_all = torch.tensor(forced_l, device=device)
    lenient_any, rhyme_any = lenient_all.any(0).tolist(), rhyme_all.any(0).tolist()

    groups = torch.ones(B, masks.member.shape[0], dtype=torch.bool, device=device)  # rhyme groups still open
    used_rhyme = torch.zeros(B, V, dtype=torch.bool, device=device)
    penalty = torch.zeros(B, V, device=device)
    out = torch.zeros(B, T, dtype=torch.long, device=device)
    rec = torch.zeros(B, T, V, device=device) if record_masks else None
    prev = torch.full((B,), BOS, device=device)

    # keyword placement: where it may start, the last place it must start, and its progress
    half = (form.n_lines // 2) * (L + 1)  # the theme is stated in the first half when it fits, as poets do
    kw_ids = torch.full((B, MAX_KEYWORD + 1), -1, dtype=torch.long)
    kw_len = torch.zeros(B, dtype=torch.long)
    starts = torch.zeros(B, T, dtype=torch.bool)
    deadline = torch.full((B,), -1, dtype=torch.long)
    bonus = torch.tensor([s.keyword_bonus for s in specs])
    for i, s in enumerate(specs):
        if not s.include:
            continue
        kw_ids[i, : len(s.include)] = torch.tensor(s.include)
        kw_len[i] = len(s.include)
        st = keyword_starts(s, masks)
        starts[i, st] = True
        deadline[i] = max([p for p in st if p < half] or st or [-1])
    kw_ids, kw_len, starts, deadline, bonus = (x.to(device) for x in (kw_ids, kw_len, starts, deadline, bonus))
    kw_next = torch.where(kw_len > 0, 0, -1)  # 0 not started, k > 0 forcing include[k], -1 done or none
    rows_b = torch.arange(B, device=device)

    for t in range(T):
        line, col = divmod(t, L + 1)
        slot = torch.full((B,), slot_ids[t], device=device)
        tone_t = tone_all[:, t]
        if col == L:  # punctuation is placed, not sampled
            _, h = model.step(prev, slot, tone_t, c, h)
            prev = forced_all[:, t]
            out[:, t] = prev
            if rec is not None:
                rec[:, t] = NEG
                rec[:, t].scatter_(1, prev[:, None], 0.0)
            continue
        hidden, h = model.step(prev, slot, tone_t, c, h)
        logits = model.logits(hidden).float().div_(temp)  # (B, V)

        allowed = masks.tone_ok[tone_t]  # (B, V) strict tone mask
        if lenient_any[t]:  # 一三五不论: any character, the template's tone preferred
            len_t = lenient_all[:, t, None]
            logits = logits - len_t * (~allowed) * 2.0
            allowed = torch.where(len_t, masks.is_char.expand(B, V), allowed)
        if rhyme_any[t]:
            rmask = (groups.float() @ masks.member.float() > 0) & ~used_rhyme
            allowed = torch.where(rhyme_all[:, t, None], allowed & rmask, allowed)
        logits = logits.sub_(penalty)  # repetition penalty: rep per earlier use
        if col == L - 1 and line > 0:  # never repeat an earlier line
            cur = out[:, t - col : t]
            for j in range(line):
                a = j * (L + 1)
                rows = (out[:, a : a + L - 1] == cur).all(1).nonzero()[:, 0]
                allowed[rows, out[rows, a + L - 1]] = False

        forced = forced_all[:, t].clone()
        forcing = kw_next > 0
        forced = torch.where(forcing, kw_ids.gather(1, kw_next.clamp(min=0)[:, None])[:, 0], forced)
        at_start = (kw_next == 0) & starts[:, t]
        forced = torch.where(at_start & (deadline == t), kw_ids[:, 0], forced)  # the last place it fits
        nudge = at_start & (deadline != t)
        if nudge.any():
            logits[rows_b[nudge], kw_ids[nudge, 0]] += bonus[nudge]

        logits = logits.masked_fill(~allowed, NEG)
        dead = ~allowed.any(1)
        if dead.any():  # constraints left nothing: fall back to any character of the right tone
            logits[dead] = (model.logits(hidden[dead]).float() / temp[dead]).masked_fill(
                ~masks.tone_ok[tone_t[dead]], NEG
            )

        tok = sample(logits, u[:, t], top_k, top_p)
        fm = forced >= 0
        tok = torch.where(fm, forced, tok)
        if rec is not None:
            rec[:, t] = torch.where(torch.isinf(logits), NEG, 0.0)
            rec[fm, t] = NEG
            rec[fm, t, forced[fm]] = 0.0

        kw_next = torch.where(forcing, kw_next + 1, kw_next)  # keyword bookkeeping
        kw_next = torch.where(at_start & (tok == kw_ids[:, 0]), 1, kw_next)
        kw_next = torch.where((kw_next > 0) & (kw_next >= kw_len), -1, kw_next)
        if rhyme_any[t]:
            rows = rhyme_all[:, t]
            g = groups & masks.member[:, tok].t()
            groups = torch.where((rows & g.any(1))[:, None], g, groups)
            used_rhyme[rows, tok[rows]] = True
        penalty.scatter_add_(1, tok[:, None], rep)
        out[:, t] = tok
        prev = tok
    return (out, rec) if record_masks else out


def sample(logits: torch.Tensor, u: torch.Tensor, top_k: torch.Tensor, top_p: torch.Tensor) -> torch.Tensor:
    """Top-k/top-p sampling with one uniform per row: logits (B, V), u (B,) -> ids (B,).
    Inverse-CDF sampling (cumsum + searchsorted) is much cheaper than torch.multinomial on CPU."""
    k = min(TOPK_CAP, logits.shape[1])
    vals, idx = torch.topk(logits, k, dim=1)  # (B, k), sorted
    probs = torch.softmax(vals, dim=1)
    cum = torch.cumsum(probs, dim=1)
    rank = torch.arange(k, device=logits.device)[None]
    keep = ((cum - probs) < top_p) & (rank < top_k)
    keep[:, 0] = True
    probs = probs * keep
    cum = torch.cumsum(probs, dim=1)
    pick = torch.searchsorted(cum, (u * cum[:, -1])[:, None]).clamp(max=k - 1)
    return idx.gather(1, pick)[:, 0]


def tokens_to_lines(tokens: list[int], form: Form, vocab: Vocab) -> list[str]:
    """Decoded ids -> lines with their punctuation: ["春眠不觉晓，", ...]."""
    w = form.line_len + 1
    return [vocab.decode(tokens[i * w : (i + 1) * w]) for i in range(form.n_lines)]
