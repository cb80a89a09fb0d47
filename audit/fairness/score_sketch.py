"""A mergeable histogram of scores per (fine cell, label), for ROC AUC on streamed audits.

Streamed audits read rows in chunks, possibly on several workers, and must not keep every
row's score. ROC AUC needs score ranks, so each chunk keeps a sparse histogram over a fixed,
data-independent grid of score bins instead; histograms of any split of the rows add up to
exactly the histogram of all rows. AUC from such a histogram counts scores in one bin as ties,
which bounds its error versus the exact AUC by the share of (positive, negative) pairs that
share a bin; the grid is fine enough near 0 and 1, where probabilities pile up, to keep that
share tiny.

Hand-written because no library fits: quantile sketches (t-digest, KLL) answer quantiles with
a rank error, not AUC with an error bound, and their merges depend on the order of the
inputs; a fixed grid merges exactly and accounts for tied pairs exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from audit.fairness.metrics import auc_from_histograms

# Bin keys are the order-preserving bits of float32(distance), dropping 12 of its 23 mantissa
# bits: 11 remain, so a bin spans about 2^-11 of the distance, wherever it lies. float32
# rather than float64 because its 8-bit exponent keeps the key space near 2^21, so that
# combined keys fit int64 for up to 2^41 cells.
_DROPPED_BITS = 12
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _magnitude_key(distances: np.ndarray) -> np.ndarray:
    """Non-decreasing int64 key of non-negative distances: float32 bits, shifted."""
    clipped = np.minimum(distances, _FLOAT32_MAX)  # past float32's range the cast would warn
    bits = clipped.astype(np.float32).view(np.int32)  # non-negative floats sort as their bits
    return (bits >> _DROPPED_BITS).astype(np.int64)


_MAX_MAGNITUDE = int(_magnitude_key(np.array([np.inf]))[0])
_HALF_MAGNITUDE = int(_magnitude_key(np.array([0.5]))[0])
# Four key ranges, one after the other, each monotone in the score: below 0 (distance -s,
# keys descending with it), [0, 0.5] (distance s), (0.5, 1] (distance 1 - s, exact in
# float64, descending), above 1 (distance s - 1).
_REGION_BASE = np.array(
    [
        _MAX_MAGNITUDE,
        _MAX_MAGNITUDE + 1,
        _MAX_MAGNITUDE + 2 * _HALF_MAGNITUDE + 2,
        _MAX_MAGNITUDE + 2 * _HALF_MAGNITUDE + 3,
    ],
    dtype=np.int64,
)
_REGION_DIRECTION = np.array([-1, 1, -1, 1], dtype=np.int64)
# Bin keys lie in [0, KEY_SPACE).
KEY_SPACE = int(_REGION_BASE[3]) + _MAX_MAGNITUDE + 1
# Combined keys (cell * 2 + label) * KEY_SPACE + bin must fit int64.
MAX_CELLS = np.iinfo(np.int64).max // (2 * KEY_SPACE)


def score_bins(scores: np.ndarray) -> np.ndarray:
    """Fixed bin key in ``[0, KEY_SPACE)`` of each finite score; non-decreasing in the score."""
    scores = np.asarray(scores, dtype=np.float64)
    region = (scores >= 0).astype(np.int64) + (scores > 0.5) + (scores > 1)
    distances = np.where(scores <= 0.5, np.abs(scores), np.abs(1.0 - scores))
    return _REGION_BASE[region] + _REGION_DIRECTION[region] * _magnitude_key(distances)


def _sum_runs(sorted_keys: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each distinct key of a non-decreasing array once, with the sum of its counts."""
    if len(sorted_keys) == 0:
        return sorted_keys, counts
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    return sorted_keys[starts], np.add.reduceat(counts, starts)


@dataclass(frozen=True)
class ScoreSketch:
    """Row counts per (fine cell, label, score bin); only occupied bins are stored."""

    n_cells: int
    keys: np.ndarray  # int64, sorted, unique: (cell * 2 + label) * KEY_SPACE + score bin
    counts: np.ndarray  # int64, > 0: rows with that key

    def __post_init__(self) -> None:
        if not 0 <= self.n_cells <= MAX_CELLS:
            raise ValueError(f"n_cells={self.n_cells} is outside [0, {MAX_CELLS}]")

    @classmethod
    def empty(cls, n_cells: int) -> ScoreSketch:
        return cls(n_cells, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))

    @classmethod
    def of(
        cls, cell_of_row: np.ndarray, n_cells: int, labels: np.ndarray, scores: np.ndarray
    ) -> ScoreSketch:
        """The sketch of some rows: their fine cells, 0/1 labels and finite scores."""
        rows = len(cell_of_row)
        if len(labels) != rows or len(scores) != rows:
            raise ValueError(
                f"{rows} cells, {len(labels)} labels and {len(scores)} scores: one per row"
            )
        if rows and not (cell_of_row.min() >= 0 and cell_of_row.max() < n_cells):
            raise ValueError(f"cell_of_row has values outside [0, {n_cells})")
        if rows and not (labels.min() >= 0 and labels.max() <= 1):
            raise ValueError("labels must be 0 or 1")
        if not np.isfinite(scores).all():
            raise ValueError("scores must be finite; validate the score column first")
        cell_label = cell_of_row.astype(np.int64) * 2 + labels
        keys, counts = np.unique(cell_label * KEY_SPACE + score_bins(scores), return_counts=True)
        return cls(n_cells, keys.astype(np.int64), counts.astype(np.int64))

    def merge(self, other: ScoreSketch) -> ScoreSketch:
        """The sketch of both sketches' rows; associative and commutative, exactly."""
        if other.n_cells != self.n_cells:
            raise ValueError(f"cannot merge sketches of {self.n_cells} and {other.n_cells} cells")
        keys = np.concatenate([self.keys, other.keys])
        counts = np.concatenate([self.counts, other.counts])
        # Two sorted runs: the stable sort (timsort) merges them in linear time.
        order = np.argsort(keys, kind="stable")
        return ScoreSketch(self.n_cells, *_sum_runs(keys[order], counts[order]))

    def with_cells(self, kept_cells: np.ndarray) -> ScoreSketch:
        """The sketch renumbered to the cells ``kept_cells`` (sorted; every stored cell among
        them): cell ``kept_cells[i]`` becomes cell ``i``. Order is kept, so keys stay sorted."""
        cell_label, bins = self._split_keys()
        cells = np.searchsorted(kept_cells, cell_label // 2)
        keys = (cells * 2 + cell_label % 2) * KEY_SPACE + bins
        return ScoreSketch(len(kept_cells), keys.astype(np.int64), self.counts)

    def _split_keys(self) -> tuple[np.ndarray, np.ndarray]:
        """(cell * 2 + label, score bin) of every stored key."""
        cell_label = self.keys // KEY_SPACE
        return cell_label, self.keys - cell_label * KEY_SPACE

    def auc_by_group(
        self, group_of_cell: np.ndarray, n_groups: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """ROC AUC per group, scores in one bin counting as ties, and its largest error.

        The error bound versus the exact AUC is half the share of (positive, negative) pairs
        in one bin: only those pairs can be counted differently (a half instead of 0 or 1).
        Both are NaN for a group without positives or without negatives.
        """
        if len(group_of_cell) != self.n_cells:
            raise ValueError(f"group_of_cell has {len(group_of_cell)} cells, not {self.n_cells}")
        if self.n_cells and not (group_of_cell.min() >= 0 and group_of_cell.max() < n_groups):
            raise ValueError(f"group_of_cell has values outside [0, {n_groups})")
        cell_label, bins = self._split_keys()
        groups = group_of_cell.astype(np.int64)[cell_label // 2]
        # Histograms of all groups side by side: one column per occupied (group, bin).
        group_bins, column = np.unique(groups * KEY_SPACE + bins, return_inverse=True)
        histograms = np.bincount(
            column * 2 + cell_label % 2, weights=self.counts, minlength=2 * len(group_bins)
        ).reshape(-1, 2)
        group_of_column = group_bins // KEY_SPACE
        bounds = np.searchsorted(group_of_column, np.arange(n_groups + 1))
        auc = np.array(
            [auc_from_histograms(histograms[start:end].T) for start, end in pairwise(bounds)],
            dtype=np.float64,
        ).reshape(n_groups)
        negatives, positives = (
            np.bincount(group_of_column, weights=histograms[:, label], minlength=n_groups)
            for label in (0, 1)
        )
        tied = np.bincount(
            group_of_column, weights=histograms[:, 0] * histograms[:, 1], minlength=n_groups
        )
        pairs = positives * negatives
        with np.errstate(invalid="ignore", divide="ignore"):
            error_bound = np.where(pairs > 0, 0.5 * tied / pairs, np.nan)
        return auc, error_bound

    def coarse_histogram(self, max_bins: int) -> np.ndarray:
        """Dense int64 ``[n_cells, 2, bins]`` counts, ``bins <= max_bins``, for bootstraps.

        Adjacent score bins are grouped into about equal-mass bins over all cells and labels,
        like the in-memory path's quantile edges: a score bin goes to the quantile of the rows
        below it. With at most ``max_bins`` distinct score bins, each keeps its own.
        """
        if max_bins < 1:
            raise ValueError(f"max_bins={max_bins} must be at least 1")
        cell_label, bins = self._split_keys()
        distinct, rank = np.unique(bins, return_inverse=True)
        if len(distinct) <= max_bins:
            coarse_of_distinct = np.arange(len(distinct), dtype=np.int64)
        else:
            mass = np.zeros(len(distinct), dtype=np.int64)
            np.add.at(mass, rank, self.counts)
            below = np.cumsum(mass) - mass
            quantile = below * max_bins // int(mass.sum())
            _, coarse_of_distinct = np.unique(quantile, return_inverse=True)
        n_bins = int(coarse_of_distinct.max()) + 1 if len(distinct) else 0
        # Coarse bins are monotone in the score bin, so these indices do not decrease.
        index, counts = _sum_runs(cell_label * n_bins + coarse_of_distinct[rank], self.counts)
        histogram = np.zeros(self.n_cells * 2 * n_bins, dtype=np.int64)
        histogram[index] = counts
        return histogram.reshape(self.n_cells, 2, n_bins)
