"""Two-character words the corpus attests, as bit tables the decoder reads per position.

A regulated line is built of two-character units (五言 2+3, 七言 2+2+3). An under-trained generator
strings characters into units no poet wrote (衣友, 死莲): on the first shipped models 68 % (GAN) and
61 % (VAE) of their poems' units were corpus words, against 87 % in held-out real poems. Where a
position completes a unit (`completes_word`), the decoder adds a bonus to the characters that make a
corpus word with the one before (the checkpoint's `lexicon`: bigrams seen at least 3 times in the
training poems, engine/training/train.py).

A flat bonus lifts a word seen 3 times as much as one seen 300 times, and a model whose own
distribution is flat then writes rarer words than poets: of the VAE's attested units 55 % were
common words (seen at least COMMON_MIN times) against 77 % in held-out real poems, and the mean log
count of its units gave its poems away. So common words (`lexicon_common`) earn `common_extra` times
the bonus on top, a per-model figure `calibration.grade_words` sets so that the model's share of
common words matches real poems' (stored as associations["common_word_extra"]).
"""

from __future__ import annotations

import torch

COMMON_MIN = 20  # occurrences in the training poems that make a corpus word a common one


def _bits(codes: torch.Tensor, V: int) -> torch.Tensor:
    """(V, ceil(V / 8)) uint8: bit b of row a set for each code a * V + b."""
    W = (V + 7) // 8
    codes = codes.long()
    a, b = codes // V, codes % V
    bits = torch.zeros(V * W, dtype=torch.uint8)
    # distinct (a, b) pairs set distinct bits, so summing them into their byte is a bitwise or
    bits.index_put_((a * W + b // 8,), (1 << (b % 8)).to(torch.uint8), accumulate=True)
    return bits.view(V, W)


class WordTable:
    """The lexicon's bit table, and the common words' where the model grades them (`common_extra` > 0)."""

    def __init__(self, codes: torch.Tensor, vocab_size: int, device="cpu", common: torch.Tensor | None = None,
                 common_extra: float = 0.0):
        """`codes`, `common`: sorted int32 codes a * V + b (engine/corpus/associations.py)."""
        self.bits = _bits(codes, vocab_size).to(device)
        self.common = None if common is None else _bits(common, vocab_size).to(device)
        self.common_extra = common_extra
        self._cols: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}  # per column set: its bytes and bit masks

    def follows_in(self, prev: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        """prev (n,) ids, cols (c,) vocabulary ids (an output class's columns) -> (n, c) float: 1 where
        the column's character makes a corpus word after each, 1 + common_extra where a common one; in
        a few operations on (n, c) alone (a decoding step at batch 1 pays per operation)."""
        key = cols.data_ptr()
        if key not in self._cols:
            self._cols[key] = (cols // 8, (1 << (cols % 8)).to(torch.uint8))
        byte, mask = self._cols[key]
        out = (self.bits[prev[:, None], byte[None, :]] & mask).clamp_(max=1).float()
        if self.common is not None and self.common_extra > 0:
            out.add_((self.common[prev[:, None], byte[None, :]] & mask).clamp_(max=1), alpha=self.common_extra)
        return out

    def levels(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Pairs of ids (n,) each -> (attested, common) bools (n,): which are corpus words, which common ones."""
        bit = (1 << (b % 8)).to(torch.uint8)
        attested = (self.bits[a, b // 8] & bit) > 0
        common = (self.common[a, b // 8] & bit) > 0 if self.common is not None else torch.zeros_like(attested)
        return attested, common


def completes_word(col: int, line_len: int) -> bool:
    """Whether column `col` (0-based) of a line ends a two-character unit: 2 and 4 of a 五言 line's
    2+2+1 reading, 2, 4 and 6 of a 七言's (the last character is free: its unit may be 2+1 or 1+2)."""
    return col % 2 == 1 and col < line_len - 1


def unit_pairs(lines, stoi: dict[str, int]) -> tuple[list[int], list[int]]:
    """The (first, second) ids of the units `completes_word` ends in these lines (punctuation and
    characters outside the vocabulary skipped)."""
    a, b = [], []
    for line in lines:
        line = line.rstrip("，。")
        for c in range(len(line)):
            if completes_word(c, len(line)) and line[c - 1] in stoi and line[c] in stoi:
                a.append(stoi[line[c - 1]])
                b.append(stoi[line[c]])
    return a, b
