"""Character vocabulary: special tokens, then characters by descending frequency."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence

SPECIALS: tuple[str, ...] = ("<pad>", "<bos>", "<eos>", "<unk>", "，", "。")
PAD, BOS, EOS, UNK, COMMA, PERIOD = range(len(SPECIALS))
_SILENT = frozenset((PAD, BOS, EOS, UNK))  # dropped by decode


class Vocab:
    """Maps characters to ids and back. Ids 0..5 are always SPECIALS."""

    def __init__(self, tokens: Sequence[str]):
        if tuple(tokens[: len(SPECIALS)]) != SPECIALS:
            raise ValueError(f"a vocabulary must start with {SPECIALS}")
        if len(set(tokens)) != len(tokens):
            raise ValueError("duplicate tokens in vocabulary")
        self.itos: list[str] = list(tokens)
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(self.itos)}

    @classmethod
    def build(cls, texts: Iterable[str], min_count: int = 1) -> Vocab:
        """Every character seen at least `min_count` times; ties in frequency by code point."""
        counts = Counter()
        for text in texts:
            counts.update(text)
        chars = [c for c, n in counts.items() if n >= min_count and c not in SPECIALS]
        chars.sort(key=lambda c: (-counts[c], ord(c)))
        return cls([*SPECIALS, *chars])

    def encode(self, text: str) -> list[int]:
        """One id per character; characters not in the vocabulary become <unk>."""
        return [self.stoi.get(ch, UNK) for ch in text]

    def decode(self, ids: Iterable[int]) -> str:
        """Characters of the ids, without <pad>/<bos>/<eos>/<unk> (，。 are kept)."""
        return "".join(self.itos[i] for i in map(int, ids) if i not in _SILENT)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, ch: object) -> bool:
        return ch in self.stoi

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self.itos == other.itos

    def __repr__(self) -> str:
        return f"Vocab({len(self)} tokens)"

    def to_json(self) -> str:
        """The token list as JSON, for checkpoints."""
        return json.dumps(self.itos, ensure_ascii=False)

    @classmethod
    def from_json(cls, data: str | list[str]) -> Vocab:
        """From `to_json()` output (a JSON string) or the already parsed token list."""
        tokens = json.loads(data) if isinstance(data, str) else data
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise ValueError("a vocabulary is a JSON list of strings")
        return cls(tokens)
