"""Logits over only the characters a position may take.

Every sampled position belongs to one of four classes: the template asks 平 or 仄, strictly or
leniently (一三五不论). A strict position only ever takes characters of its tone, so its logits
are computed over those columns alone (about half the vocabulary); a lenient one scores every
character and lowers the off-tone ones by `LENIENT_PENALTY`. Rhyme, repetition and keyword
constraints are applied afterwards, within the class's columns (engine/decoding.py).
"""

from __future__ import annotations

import torch

from engine.int8_lm import Int8Linear, quantize_rows

LENIENT_PENALTY = 2.0  # subtracted (after temperature) from an off-tone character at a lenient position
STRICT_PING, STRICT_ZE, LENIENT_PING, LENIENT_ZE = range(4)


def position_class(tone_code: int, lenient: bool) -> int:
    """tone_code 1 (平) or 2 (仄) from engine.encoding -> one of the four classes."""
    return tone_code - 1 + 2 * lenient


class OutputHead:
    """Column sets, their weights (fp32, or int8 for the int8 decoder) and lenient offsets."""

    def __init__(self, decoder, masks):
        lm = getattr(decoder, "lm", decoder)  # a PoemLM, or the one an Int8Decoder wraps
        emb, bias = lm.tok_emb.weight.detach().float(), lm.out_bias.detach().float()
        ping, ze, chars = masks.tone_ok[1], masks.tone_ok[2], masks.is_char
        self.cols, self.inv, self.offset, self._w = [], [], [], []
        int8, built = getattr(decoder, "int8", False), {}
        for allowed, preferred in ((ping, None), (ze, None), (chars, ping), (chars, ze)):
            cols = allowed.nonzero()[:, 0]  # (n,)
            inv = torch.full((allowed.shape[0],), -1, dtype=torch.long, device=cols.device)
            inv[cols] = torch.arange(len(cols), device=cols.device)
            self.cols.append(cols)
            self.inv.append(inv)  # vocabulary id -> column, -1 where absent
            self.offset.append(None if preferred is None else (~preferred[cols]).float() * -LENIENT_PENALTY)
            if id(allowed) not in built:  # the lenient classes share one weight matrix
                w, b = emb[cols], bias[cols]
                built[id(allowed)] = Int8Linear(w, b) if int8 else (w, b)
            self._w.append(built[id(allowed)])

    def logits(self, e: torch.Tensor, k: int) -> torch.Tensor:
        """e (n, E) projected hidden states -> logits (n, len(cols[k])) before temperature."""
        w = self._w[k]
        if isinstance(w, Int8Linear):
            return w(quantize_rows(e))
        return torch.addmm(w[1], e.float(), w[0].t())
