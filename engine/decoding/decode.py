"""Constrained, batched decoding shared by both generators.

Each request carries its own constraints (a `DecodeSpec`); one forward pass serves the batch.
- form: line lengths and ，。 are placed by position, never sampled;
- tones: the template's tone at every position, as a hard mask (strict) or a penalty (lenient,
  where 一三五不论 frees a position);
- rhyme: the first rhyme position may take any character of a 平声 group; later ones only
  characters of the group(s) still shared, never one already used; with the corpus's rhyme usage
  (ProsodyMasks), only in groups poets rhyme the character in, a rare reading held back;
- keyword: nudged in where the template allows it and forced by the last position it still fits;
  acrostic heads are forced at the start of each line;
- no line repeats an earlier one; a repetition penalty keeps characters from recurring;
- steering bonuses: the keyword's theme characters, each line's planned sub-topic
  (engine/decoding/plan.py), couplet partners in the 颔联 and 颈联, and corpus words where a
  position completes a two-character unit (engine/decoding/words.py);
- logits only over the characters the position's tone allows (engine/decoding/output_head.py);
- temperature, min-p, top-k and top-p (engine/decoding/sampling.py); every request draws from its own
  seeded stream, so a request decodes the same whether batched or alone.
"""

from __future__ import annotations

import torch

from engine.corpus.vocab import BOS, COMMA, PERIOD, Vocab
from engine.decoding.output_head import BOTH, RHYME, OutputHead, position_class
from engine.decoding.sampling import sample
from engine.decoding.spec import DecodeSpec, ProsodyMasks
from engine.decoding.words import WordTable, completes_word
from engine.models.encoding import FORM_IDS, MAX_KEYWORD, TONE_ANY, seq_len, slots
from engine.prosody.forms import Form, lenient_free_positions, unit_boundaries

NEG = float("-inf")
# The logit of a character a constraint rules out. Finite, because on CPU exp and log of -inf (and of
# values that underflow) take slow paths; far enough below every other logit never to be drawn.
MASKED = -1e4
# Subtracted (after temperature) from a rhyme character open only by a rare reading (书 in 支 where
# poets rhyme it in 鱼: engine/prosody/usage.py), so that such rhymes stay rarer than in real poems
# (6 let 4 of 3,641 VAE rhymes through at temperature 1.2, against 3 of 3,202 in real poems).
RARE_PENALTY = 8.0


def keyword_starts(spec: DecodeSpec, masks: ProsodyMasks) -> list[int]:
    """Sequence positions where the keyword may start: within one line, off rhyme positions, and
    every character fitting the template's tone there; else (a keyword no template line takes, such
    as 春夏秋冬) where its misfits are only at positions 一三五不论 frees without 孤平 or 三平尾, so
    that the poem passes the lenient check; else anywhere. Within each, a keyword of two or more
    characters goes where it cuts no two-character unit (明月 at 明月照松间, not 松明月照间) when
    such a place exists."""
    return keyword_placement(spec, masks)[1]


def keyword_placement(spec: DecodeSpec, masks: ProsodyMasks) -> tuple[int, list[int]]:
    """(tier, start positions) of `keyword_starts`: tiers 0 and 1 where the keyword fits the
    template strictly (0: on the line's unit boundaries), 2 and 3 where only the lenient check
    passes, 4 where it fits nowhere (placed anyway)."""
    form, k = spec.form_obj, len(spec.include)
    L = form.line_len
    if not k or k > L:
        return 0, []
    bounds = unit_boundaries(L)
    windows = []  # (line, first column, cuts no unit)
    for line in range(form.n_lines):
        last = L - 1 if line in spec.rhyme_lines else L  # rhyme position excluded
        windows += [(line, col, k == 1 or (col in bounds and col + k in bounds))
                    for col in range(1 if spec.heads is not None else 0, last - k + 1)]
    free = [lenient_free_positions(t) for t in spec.line_tones]

    def fits(line: int, col: int, lenient: bool) -> bool:
        return all(
            masks.fits(t, spec.line_tones[line][col + j]) or (lenient and col + j in free[line])
            for j, t in enumerate(spec.include)
        )

    for tier, (lenient, whole) in enumerate(((False, True), (False, False), (True, True), (True, False))):
        out = [line * (L + 1) + col for line, col, ok in windows if (ok or not whole) and fits(line, col, lenient)]
        if out:
            return tier, out
    return 4, [line * (L + 1) + col for line, col, _ in windows]


def rhyme_fallback(classes: list[tuple[int, torch.Tensor | None]], rmask: torch.Tensor, rhyme_rows: torch.Tensor,
                   head: OutputHead) -> list[tuple[int, torch.Tensor | None]]:
    """A step's (class, rows) with the rows drawn for a both-tone rhyme whose open rhyme groups hold
    no both-tone character left moved to the RHYME class (any rhyming character): `rmask` (B, V) is
    the step's rhyme mask, `rhyme_rows` (B,) where the position rhymes."""
    B = rmask.shape[0]
    every = torch.arange(B, device=rmask.device)
    rows_of = {k: every if rows is None else rows for k, rows in classes}
    both = rows_of[BOTH]
    stuck = rhyme_rows[both] & ~(rmask[both][:, head.cols[BOTH]] > MASKED / 2).any(1)
    if not stuck.any():
        return classes
    rows_of[BOTH] = both[~stuck]
    rows_of[RHYME] = torch.cat([rows_of.get(RHYME, every[:0]), both[stuck]]).sort().values
    return [(k, None if len(rows) == B else rows) for k, rows in rows_of.items() if len(rows)]


def add_at(lg: torch.Tensor, cols: torch.Tensor, vals: torch.Tensor) -> None:
    """lg (n, c) += vals (n, K) at cols (n, K), the class columns of K characters per row; a -1
    column (a character the class lacks) adds nothing."""
    lg.scatter_add_(1, cols.clamp(min=0), torch.where(cols >= 0, vals, 0.0))


@torch.no_grad()
def decode(
    model,
    specs: list[DecodeSpec],
    masks: ProsodyMasks,
    z: torch.Tensor | None = None,
    record_masks: bool = False,
    head: OutputHead | None = None,
    pairs: tuple[torch.Tensor, torch.Tensor] | None = None,
    words: WordTable | None = None,
):
    """Decode a batch of requests of one form with `model` (a PoemLM or an Int8Decoder). `head`
    is the model's OutputHead for these masks (built here if not given); `pairs` the couplet-partner
    table (ids (V, K) long, PMIs (V, K) float) used where a spec asks for `parallel`; `words` the
    corpus's two-character words, used where a spec asks for `words`. Returns tokens
    (B, T) and, if asked, the additive masks used at each step (B, T, V) and the tone inputs fed
    (B, T), so a policy-gradient step can rebuild the same policy."""
    form = specs[0].form_obj
    assert all(s.form == form.name for s in specs), "decode one form per call"
    device = masks.tone_ok.device
    B, T, L, V = len(specs), seq_len(form), form.line_len, masks.tone_ok.shape[1]
    head = head or OutputHead(model, masks)
    slot_ids = slots(form)

    form_t = torch.full((B,), FORM_IDS[form.name], device=device)
    kw = torch.tensor([s.keyword for s in specs], device=device)
    slot_all = torch.tensor(slot_ids, device=device).expand(B, T)
    # per-request random streams, drawn up front: per position one uniform to sample the character
    # and one to choose whether it is a both-tone character (engine/decoding/output_head.py)
    draws = [torch.rand(2 * T, generator=torch.Generator().manual_seed(s.seed)) for s in specs]
    u = torch.stack([d[:T] for d in draws]).to(device)
    both_u = torch.stack([d[T:] for d in draws])
    both_l = (both_u < head.p_both).tolist()
    both_rhyme_l = (both_u < head.p_both_rhyme).tolist()  # at rhyme positions, poets' share there

    def per_row(values, dtype=torch.float):
        return torch.tensor(values, dtype=dtype, device=device)[:, None]  # (B, 1)

    temp = per_row([max(s.temperature, 1e-3) for s in specs])
    top_p, min_p = per_row([s.top_p for s in specs]), per_row([s.min_p for s in specs])
    top_k = per_row([s.top_k for s in specs], torch.long)
    rep = per_row([s.repetition_penalty for s in specs])

    # per-position plans (B, T): tone asked, lenient freedom, rhyme position, forced token
    tone_l, lenient_l, rhyme_l, forced_l = [], [], [], []
    for i, s in enumerate(specs):  # built as lists: element-wise tensor writes cost microseconds each
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
        for t in range(T):  # a both-tone character here: the model is told so, as in training
            if (both_rhyme_l if rhy_r[t] else both_l)[i][t] and frc_r[t] < 0:
                tone_r[t] = TONE_ANY
        tone_r[: len(s.prefix_tones)] = s.prefix_tones
        tone_l.append(tone_r)
        lenient_l.append(len_r)
        rhyme_l.append(rhy_r)
        forced_l.append(frc_r)
    tone_in = torch.tensor(tone_l, device=device)
    pos_in, state = model.start(form_t, kw, slot_all, tone_in, z)  # (B, T, E)
    rhyme_all = torch.tensor(rhyme_l, device=device)
    forced_all = torch.tensor(forced_l, device=device)
    rhyme_any = rhyme_all.any(0).tolist()
    # the rows of each output class at each sampled position (None: every row)
    classes_at: list[list[tuple[int, torch.Tensor | None]]] = []
    for t in range(T):
        by_class: dict[int, list[int]] = {}
        if t % (L + 1) != L:
            for i in range(B):
                by_class.setdefault(position_class(tone_l[i][t], lenient_l[i][t], rhyme_l[i][t]), []).append(i)
        classes_at.append([
            (k, None if len(rows) == B else torch.tensor(rows, device=device)) for k, rows in by_class.items()
        ])

    groups = torch.ones(B, masks.member.shape[0], dtype=torch.bool, device=device)  # rhyme groups still open
    used_rhyme = torch.zeros(B, V, dtype=torch.bool, device=device)
    out = torch.zeros(B, T, dtype=torch.long, device=device)
    rec = torch.zeros(B, T, V, device=device) if record_masks else None
    prev = torch.full((B,), BOS, device=device)

    # keyword placement: where it may start, the last place it must start, and its progress
    half = (form.n_lines // 2) * (L + 1)  # the theme is stated in the first half when it fits, as poets do
    kw_rows, start_rows, deadline_l = [], [], []  # built as lists, one tensor each (see above)
    for s in specs:
        st = keyword_starts(s, masks) if s.include else []
        kw_rows.append(s.include + [-1] * (MAX_KEYWORD + 1 - len(s.include)))
        row = [False] * T
        for p in st:
            row[p] = True
        start_rows.append(row)
        deadline_l.append(max(st or [-1]) if s.keyword_late else max([p for p in st if p < half] or st or [-1]))
    kw_ids = torch.tensor(kw_rows, dtype=torch.long, device=device)  # (B, MAX_KEYWORD + 1), -1 padded
    kw_len = torch.tensor([len(s.include) for s in specs], device=device)
    starts = torch.tensor(start_rows, device=device)  # (B, T)
    deadline = torch.tensor(deadline_l, device=device)
    bonus = torch.tensor([s.keyword_bonus for s in specs], device=device)
    kw_next = torch.where(kw_len > 0, 0, -1)  # 0 not started, k > 0 forcing include[k], -1 done or none
    kw_pending = bool(kw_len.any())

    # theme bonuses, mapped to each output class's columns on first use
    n_theme = max(len(s.theme[0]) for s in specs)
    pad = max(n_theme, 1)
    theme_ids = torch.tensor([list(s.theme[0]) + [0] * (pad - len(s.theme[0])) for s in specs], device=device)
    theme_val = torch.tensor([list(s.theme[1]) + [0.0] * (pad - len(s.theme[1])) for s in specs], device=device)
    theme_cols: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    theme_live = torch.ones_like(theme_val)  # a theme character's bonus lapses once it is written
    # each line's planned sub-topic and its neighbours: (B, lines, P) ids and bonuses, 0-padded
    n_plan = max((len(ids) for s in specs for ids, _ in s.line_themes), default=0)
    if n_plan:  # built as lists (see above)
        plans = [list(s.line_themes[: form.n_lines]) + [([], [])] * (form.n_lines - len(s.line_themes)) for s in specs]
        plan_ids = torch.tensor([[ids + [0] * (n_plan - len(ids)) for ids, _ in p] for p in plans], device=device)
        plan_val = torch.tensor([[vals + [0.0] * (n_plan - len(vals)) for _, vals in p] for p in plans], dtype=torch.float,
                                device=device)
    # couplet partners: the second lines of the 颔联 and 颈联 of regulated verse
    par_w = per_row([s.parallel for s in specs])
    par_lines = {3, 5} if pairs is not None and form.n_lines == 8 and any(s.parallel for s in specs) else set()
    word_w = per_row([s.words for s in specs])
    word_cols = {c for c in range(L) if completes_word(c, L)} if words is not None and any(s.words for s in specs) else set()

    all_rows = slice(None)

    for t in range(T):
        line, col = divmod(t, L + 1)
        e, state = model.step(prev, pos_in[:, t], state)  # (B, E)
        if col == L:  # punctuation is placed, not sampled
            prev = forced_all[:, t]
            out[:, t] = prev
            if rec is not None:
                rec[:, t] = NEG
                rec[:, t].scatter_(1, prev[:, None], 0.0)
            continue

        forced = forced_all[:, t]
        nudge_any = False
        if kw_pending:  # some keyword not yet written
            forcing = kw_next > 0
            forced = torch.where(forcing, kw_ids.gather(1, kw_next.clamp(min=0)[:, None])[:, 0], forced)
            at_start = (kw_next == 0) & starts[:, t]
            forced = torch.where(at_start & (deadline == t), kw_ids[:, 0], forced)  # the last place it fits
            nudge = at_start & (deadline != t)
            nudge_any = bool(nudge.any())
        rmask = None
        if rhyme_any[t]:  # characters of the rhyme groups still open, not yet used
            open_f = groups.float()
            ok = (open_f @ masks.member_f > 0) & ~used_rhyme | ~rhyme_all[:, t, None]  # (B, V)
            rmask = ok.float().sub_(1.0).mul_(-MASKED)  # 0 where allowed, MASKED elsewhere
            if masks.common_f is not None:  # open to a character only by a rare reading: held back
                rare = (open_f @ masks.common_f == 0) & rhyme_all[:, t, None]
                rmask.sub_(rare.float().mul_(RARE_PENALTY))
        classes = classes_at[t]
        if rmask is not None and any(k == BOTH for k, _ in classes):
            classes = rhyme_fallback(classes, rmask, rhyme_all[:, t], head)
        banned = []  # never repeat an earlier line: the token that would complete a repeat
        if col == L - 1 and line > 0:
            cur = out[:, t - col : t]
            for j in range(line):
                a = j * (L + 1)
                same = (out[:, a : a + L - 1] == cur).all(1)
                banned.append(torch.where(same, out[:, a + L - 1], -1))

        partner = None
        if line in par_lines:  # the character opposite, one line up
            above = out[:, t - (L + 1)]
            partner = pairs[0][above], pairs[1][above] * par_w  # (B, K) each

        word_here = col in word_cols  # the character completes a unit: the weight where it makes a corpus word
        tok = torch.empty(B, dtype=torch.long, device=device)
        for k, rows in classes:
            r = all_rows if rows is None else rows
            inv = head.inv[k]
            lg = head.logits(e[r], k).div_(temp[r])  # (n, columns of class k)
            if head.offset[k] is not None:
                lg.add_(head.offset[k])
            if n_theme:
                if k not in theme_cols:
                    tc = inv[theme_ids]
                    theme_cols[k] = tc.clamp(min=0), torch.where(tc >= 0, theme_val, 0.0)
                lg.scatter_add_(1, theme_cols[k][0][r], theme_cols[k][1][r] * theme_live[r])
            if n_plan:
                add_at(lg, inv[plan_ids[r, line]], plan_val[r, line])
            if word_here:
                lg.add_(words.follows_in(out[r, t - 1], head.cols[k]) * word_w[r])
            if partner is not None:
                add_at(lg, inv[partner[0][r]], partner[1][r])
            if t:  # repetition penalty: rep per earlier use of a character
                used = inv[out[r, :t]]  # (n, t) columns, -1 where absent (punctuation)
                lg.scatter_add_(1, used.clamp(min=0), (used >= 0) * -rep[r])
            if nudge_any:  # the keyword's first character, where it may start
                kc = inv[kw_ids[r, 0].clamp(min=0)]
                hit = (nudge[r] & (kc >= 0)).nonzero()[:, 0]
                lg[hit, kc[hit]] += bonus[r][hit]
            if rmask is not None:
                lg.add_(rmask[r][:, head.cols[k]])
            for b in banned:
                bc = inv[b[r].clamp(min=0)]
                hit = ((b[r] >= 0) & (bc >= 0)).nonzero()[:, 0]
                lg[hit, bc[hit]] = MASKED
            mx = lg.amax(1, keepdim=True)
            dead = mx[:, 0] <= MASKED / 2
            if dead.any():  # constraints left nothing: any character of the class
                fresh = head.logits(e[r][dead], k).div_(temp[r][dead])
                lg[dead] = fresh if head.offset[k] is None else fresh + head.offset[k]
                mx = lg.amax(1, keepdim=True)
            tok[r] = head.cols[k][sample(lg, u[r, t], top_k[r], top_p[r], min_p[r], mx)]
            if rec is not None:
                row = torch.full((lg.shape[0], V), NEG, device=device)
                row[:, head.cols[k]] = torch.where(lg <= MASKED / 2, NEG, 0.0)
                rec[r, t] = row

        fm = forced >= 0
        tok = torch.where(fm, forced, tok)
        if rec is not None:
            rec[fm, t] = NEG
            rec[fm, t, forced[fm]] = 0.0

        if kw_pending:  # keyword bookkeeping
            kw_next = torch.where(forcing, kw_next + 1, kw_next)
            kw_next = torch.where(at_start & (tok == kw_ids[:, 0]), 1, kw_next)
            kw_next = torch.where((kw_next > 0) & (kw_next >= kw_len), -1, kw_next)
            kw_pending = bool((kw_next >= 0).any())
        if rhyme_any[t]:  # the groups left open: the character's common readings where it has one
            rows = rhyme_all[:, t]
            g = groups & masks.member[:, tok].t()
            if masks.common_f is not None:
                gc = groups & masks.common[:, tok].t()
                g = torch.where(gc.any(1, keepdim=True), gc, g)
            groups = torch.where((rows & g.any(1))[:, None], g, groups)
            used_rhyme[rows, tok[rows]] = True
        if n_theme:
            theme_live.mul_(theme_ids != tok[:, None])
        out[:, t] = tok
        prev = tok
    return (out, rec, tone_in) if record_masks else out


def tokens_to_lines(tokens: list[int], form: Form, vocab: Vocab) -> list[str]:
    """Decoded ids -> lines with their punctuation: ["春眠不觉晓，", ...]."""
    w = form.line_len + 1
    return [vocab.decode(tokens[i * w : (i + 1) * w]) for i in range(form.n_lines)]
