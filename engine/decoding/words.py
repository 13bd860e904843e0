"""Two-character words the corpus attests, as a bit table the decoder reads per position.

A regulated line is built of two-character units (五言 2+3, 七言 2+2+3). An under-trained generator
strings characters into units no poet wrote (衣友, 死莲): on the shipped models 68 % (GAN) and 61 %
(VAE) of their poems' units are corpus words, against 87 % in held-out real poems. Where a position
completes a unit (`completes_word`), the decoder adds a bonus to the characters that make a corpus
word with the one before (the checkpoint's `lexicon`: bigrams seen at least 3 times in the training
poems, engine/training/train.py).
"""

from __future__ import annotations

import torch


class WordTable:
    """Bit table (V, ceil(V / 8)) uint8: bit b of row a is set where a then b is a corpus word."""

    def __init__(self, codes: torch.Tensor, vocab_size: int, device="cpu"):
        """`codes`: the lexicon's sorted int32 codes a * V + b (engine/corpus/associations.py)."""
        V, W = vocab_size, (vocab_size + 7) // 8
        codes = codes.long()
        a, b = codes // V, codes % V
        bits = torch.zeros(V * W, dtype=torch.uint8)
        # distinct (a, b) pairs set distinct bits, so summing them into their byte is a bitwise or
        bits.index_put_((a * W + b // 8,), (1 << (b % 8)).to(torch.uint8), accumulate=True)
        self.bits = bits.view(V, W).to(device)
        self._cols: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}  # per column set: its bytes and bit masks

    def follows_in(self, prev: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        """prev (n,) ids, cols (c,) vocabulary ids (an output class's columns) -> (n, c) uint8, 1
        where the column's character makes a corpus word after each, in a few operations on (n, c)
        alone (a decoding step at batch 1 pays per operation)."""
        key = cols.data_ptr()
        if key not in self._cols:
            self._cols[key] = (cols // 8, (1 << (cols % 8)).to(torch.uint8))
        byte, mask = self._cols[key]
        return (self.bits[prev[:, None], byte[None, :]] & mask).clamp_(max=1)


def completes_word(col: int, line_len: int) -> bool:
    """Whether column `col` (0-based) of a line ends a two-character unit: 2 and 4 of a 五言 line's
    2+2+1 reading, 2, 4 and 6 of a 七言's (the last character is free: its unit may be 2+1 or 1+2)."""
    return col % 2 == 1 and col < line_len - 1
