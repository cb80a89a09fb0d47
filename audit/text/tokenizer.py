"""Text to token ids, exactly as docs/text-models.md specifies for ``rai-audit/text-v1``."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from audit.text.model_format import TokenizerSpec


@dataclass(frozen=True)
class Encoded:
    ids: np.ndarray  # int64 [n, width], padded with the pad id
    lengths: np.ndarray  # int64 [n], at least 1
    # Columns before a row's own tokens and after them (within its length): the special
    # tokens a Hugging Face tokenizer adds ([CLS] ... [SEP]); none for rai-audit/text-v1.
    prefix: int = 0
    suffix: int = 0

    def text_span(self, row: int) -> slice:
        """The columns of row ``row`` that hold the text's own tokens."""
        return slice(self.prefix, int(self.lengths[row]) - self.suffix)

    def baseline(self, pad_id: int) -> np.ndarray:
        """The ids with every text token replaced by the pad token, special tokens kept."""
        baseline = self.ids.copy()
        for row in range(len(baseline)):
            baseline[row, self.text_span(row)] = pad_id
        return baseline


class Tokenizer:
    def __init__(self, spec: TokenizerSpec, vocab: Sequence[str]) -> None:
        self.spec = spec
        self.vocab = tuple(vocab)
        self._index = {token: position for position, token in enumerate(self.vocab)}
        self._pattern = re.compile(spec.pattern)
        self.pad_id = self._index[spec.pad]
        self.unk_id = self._index[spec.unk]

    def tokens(self, text: str) -> list[str]:
        """Every match of the pattern, in order, cut to ``max_length``."""
        if self.spec.lowercase:
            text = text.lower()
        # finditer, not findall: a pattern with groups would make findall return the groups.
        found = [match.group(0) for match in self._pattern.finditer(text)]
        return found[: self.spec.max_length]

    def count(self, text: str) -> int:
        """How many tokens the text has before the cut to ``max_length``."""
        if self.spec.lowercase:
            text = text.lower()
        return sum(1 for _ in self._pattern.finditer(text))

    def ids(self, text: str) -> list[int]:
        unk = self.unk_id
        return [self._index.get(token, unk) for token in self.tokens(text)]

    def known(self, token: str) -> bool:
        return token in self._index

    def encode(self, texts: Sequence[str]) -> Encoded:
        return self.pad([self.ids(text) for text in texts])

    def pad(self, rows: Sequence[Sequence[int]]) -> Encoded:
        return padded(rows, self.pad_id)


def padded(rows: Sequence[Sequence[int]], pad_id: int, prefix: int = 0, suffix: int = 0) -> Encoded:
    """Id rows padded to the longest one.

    A text without any token becomes one pad token of length 1: recurrent layers reject
    empty sequences, and the pad token stands for "nothing here".
    """
    filled = [list(row) or [pad_id] for row in rows]
    lengths = np.array([len(row) for row in filled], dtype=np.int64)
    width = int(lengths.max()) if len(filled) else 1
    ids = np.full((len(filled), width), pad_id, dtype=np.int64)
    for position, row in enumerate(filled):
        ids[position, : len(row)] = row
    return Encoded(ids, lengths, prefix, suffix)
