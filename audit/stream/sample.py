"""The rows a streamed audit keeps whole, for the stages that need rows.

Each row gets a pseudo-random key that depends only on the seed and the row's position in
the dataset; each fine cell keeps the rows with the smallest keys. That is a seeded
stratified sample without replacement (a bottom-k reservoir), and since keys do not depend
on how the rows were split, any chunking, partitioning and merge order keeps the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

# Rows kept per fine cell (combination of sensitive groups): enough for the explanation and
# privacy stages, which sample at most a few thousand rows themselves.
ROWS_PER_CELL = 2000
# A text audit's probes (subgroup AUC per identity term, counterfactuals, PII) need texts
# that mention each identity term, which most texts do not: it keeps more rows per cell.
TEXT_ROWS_PER_CELL = 20_000

# SplitMix64 (Steele, Lea and Flood 2014): its finaliser turns consecutive integers into
# well-mixed 64-bit keys. Written out because numpy's generators cannot jump to the n-th draw
# of a stream per row; these few vectorised operations give every row its own draw.
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)


def row_keys(positions: np.ndarray, seed: int) -> np.ndarray:
    """uint64 key of each row at these dataset ``positions``, a pure function of the seed."""
    state = positions.astype(np.uint64) + np.uint64(seed % 2**64) * np.ones(1, np.uint64)
    z = (state + np.uint64(1)) * _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX_1
    z = (z ^ (z >> np.uint64(27))) * _MIX_2
    return z ^ (z >> np.uint64(31))


@dataclass(frozen=True)
class Reservoir:
    """Up to ``per_cell`` rows of each cell: those with the smallest keys seen so far."""

    per_cell: int
    positions: np.ndarray  # int64: each kept row's position in the dataset
    keys: np.ndarray  # uint64
    cells: np.ndarray  # int64
    labels: np.ndarray  # int8
    decisions: np.ndarray  # int8
    scores: np.ndarray | None  # float64
    frame: pd.DataFrame  # the kept rows, every column

    @classmethod
    def empty(cls, per_cell: int) -> Reservoir:
        no_rows = np.zeros(0, dtype=np.int64)
        return cls(
            per_cell,
            no_rows,
            no_rows.astype(np.uint64),
            no_rows,
            no_rows.astype(np.int8),
            no_rows.astype(np.int8),
            None,
            pd.DataFrame(),
        )

    @classmethod
    def of(
        cls,
        per_cell: int,
        first_position: int,
        seed: int,
        cells: np.ndarray,
        labels: np.ndarray,
        decisions: np.ndarray,
        scores: np.ndarray | None,
        frame: pd.DataFrame,
    ) -> Reservoir:
        positions = np.arange(first_position, first_position + len(frame), dtype=np.int64)
        whole = cls(
            per_cell,
            positions,
            row_keys(positions, seed),
            cells,
            labels,
            decisions,
            scores,
            frame.reset_index(drop=True),
        )
        return whole._kept()

    def merge(self, other: Reservoir) -> Reservoir:
        if not len(other.positions):
            return self
        if not len(self.positions):
            return other
        if (self.scores is None) != (other.scores is None):
            raise ValueError("cannot merge reservoirs with and without scores")
        both = Reservoir(
            self.per_cell,
            np.concatenate([self.positions, other.positions]),
            np.concatenate([self.keys, other.keys]),
            np.concatenate([self.cells, other.cells]),
            np.concatenate([self.labels, other.labels]),
            np.concatenate([self.decisions, other.decisions]),
            np.concatenate([self.scores, other.scores])
            if self.scores is not None and other.scores is not None
            else None,
            pd.concat([self.frame, other.frame], ignore_index=True),
        )
        return both._kept()

    def _kept(self) -> Reservoir:
        # Within each cell, by key (positions break the vanishingly rare equal keys).
        order = np.lexsort((self.positions, self.keys, self.cells))
        cells = self.cells[order]
        starts = np.flatnonzero(np.r_[True, cells[1:] != cells[:-1]])
        rank = np.arange(len(cells)) - np.repeat(starts, np.diff(np.r_[starts, len(cells)]))
        chosen = order[rank < self.per_cell]
        chosen = chosen[np.argsort(self.positions[chosen], kind="stable")]  # dataset order
        return Reservoir(
            self.per_cell,
            self.positions[chosen],
            self.keys[chosen],
            self.cells[chosen],
            self.labels[chosen],
            self.decisions[chosen],
            self.scores[chosen] if self.scores is not None else None,
            self.frame.iloc[chosen].reset_index(drop=True),
        )
