"""Logits over only the characters a position may take.

Every sampled position belongs to one class, and its logits are computed over that class's
columns alone:
- RHYME: a rhyme position, any 平 character (the rhyme groups then narrow it in engine/decoding/decode.py);
- PURE_PING, PURE_ZE: a strict position whose character has only the asked tone;
- BOTH: a character that reads both 平 and 仄 (多音字 such as 不 为 如 知 行), fitting any position;
- LENIENT_PING, LENIENT_ZE: a position freed by 一三五不论: every character, the off-tone ones
  lowered by `LENIENT_PENALTY`.
The model was trained with each character's own tone class as its "tone asked" input (both-tone
characters as TONE_ANY), so the decoder first draws whether a position takes a both-tone
character, with the corpus's share of them (`p_both`), and feeds the model that class. Rhyme
positions draw with the share among poets' rhymes (`p_both_rhyme`): told 平 there, the model never
wrote 中 空 间 知 行, which real poems rhyme on about one line in twelve.
"""

from __future__ import annotations

import torch

from engine.models.encoding import TONE_ANY, TONE_PING
from engine.models.int8_lm import Int8Linear, quantize_rows

LENIENT_PENALTY = 2.0  # subtracted (after temperature) from an off-tone character at a lenient position
RHYME, PURE_PING, PURE_ZE, BOTH, LENIENT_PING, LENIENT_ZE = range(6)


def position_class(tone_code: int, lenient: bool, rhyme: bool) -> int:
    """The class of a sampled position from the tone code fed to the model (1 平, 2 仄, 3 either)."""
    if tone_code == TONE_ANY:
        return BOTH
    if rhyme:
        return RHYME
    if lenient:
        return LENIENT_PING if tone_code == TONE_PING else LENIENT_ZE
    return PURE_PING if tone_code == TONE_PING else PURE_ZE


class OutputHead:
    """Column sets, their weights (fp32, or int8 for the int8 decoder) and lenient offsets.
    `char_counts` (V,): training counts of each character, for the share of both-tone characters
    (None: never draw the BOTH class); `rhyme_counts` (V,): times poets rhymed each character, for
    that share at rhyme positions (None: never there). `char_bias` (V,): a logit offset per character, folded into
    the output bias (free at decoding time): the calibration that brings the model's character
    frequencies towards the corpus's (engine/decoding/calibration.py)."""

    def __init__(self, decoder, masks, char_counts: torch.Tensor | None = None,
                 char_bias: torch.Tensor | None = None, rhyme_counts: torch.Tensor | None = None):
        lm = getattr(decoder, "lm", decoder)  # a PoemLM, or the one an Int8Decoder wraps
        emb, bias = lm.tok_emb.weight.detach().float(), lm.out_bias.detach().float()
        if char_bias is not None:
            bias = bias + char_bias.to(bias.device).float()
        ping, ze, chars = masks.tone_ok[1], masks.tone_ok[2], masks.is_char
        both = ping & ze
        sets = {RHYME: (ping, None), PURE_PING: (ping & ~ze, None), PURE_ZE: (ze & ~ping, None),
                BOTH: (both, None), LENIENT_PING: (chars, ping), LENIENT_ZE: (chars, ze)}
        self.cols, self.inv, self.offset, self._w = [], [], [], []
        int8, built = getattr(decoder, "int8", False), {}
        for k in range(len(sets)):
            allowed, preferred = sets[k]
            cols = allowed.nonzero()[:, 0]  # (n,)
            inv = torch.full((allowed.shape[0],), -1, dtype=torch.long, device=cols.device)
            inv[cols] = torch.arange(len(cols), device=cols.device)
            self.cols.append(cols)
            self.inv.append(inv)  # vocabulary id -> column, -1 where absent
            self.offset.append(None if preferred is None else (~preferred[cols]).float() * -LENIENT_PENALTY)
            if id(allowed) not in built:  # the lenient classes share one set, so one weight matrix
                w, b = emb[cols], bias[cols]
                built[id(allowed)] = Int8Linear(w, b) if int8 else (w, b)
            self._w.append(built[id(allowed)])

        def share_both(counts: torch.Tensor | None) -> float:
            if counts is None:
                return 0.0
            counts = counts.to(both.device).double()
            return float(counts[both].sum() / counts[chars].sum().clamp(min=1))

        self.p_both, self.p_both_rhyme = share_both(char_counts), share_both(rhyme_counts)

    def logits(self, e: torch.Tensor, k: int) -> torch.Tensor:
        """e (n, E) projected hidden states -> logits (n, len(cols[k])) before temperature."""
        w = self._w[k]
        if isinstance(w, Int8Linear):
            return w(quantize_rows(e))
        return torch.addmm(w[1], e.float(), w[0].t())
