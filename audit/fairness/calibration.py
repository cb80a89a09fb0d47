"""Expected calibration error per group, from mergeable per-cell score statistics.

ECE over ``CALIBRATION_BINS`` fixed equal-width score bins on [0, 1]: the sum over bins of
|sum of scores - number of positives|, divided by the group's rows. It needs, per fine cell,
score bin and label, only a row count and a sum of scores; those add up over any split of
the rows, so the in-memory, chunked and Dask audits keep the same ``CalibrationTable``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from audit.core.replicates import poisson_resampled, replicates_in_blocks

CALIBRATION_BINS = 10
# Bin i holds scores in [EDGES[i], EDGES[i + 1]); a score of exactly 1 is in the last bin.
CALIBRATION_EDGES = np.linspace(0.0, 1.0, CALIBRATION_BINS + 1)
# Scores are summed as int64 multiples of 2^-32, not as floats: float addition depends on
# the order of its terms, so chunked or merged sums would differ in their last bits, while
# integer sums are exact in any order. Rounding moves a score by at most 2^-33, and an ECE by
# no more; int64 holds the sum of fewer than 2^31 scores of one cell, bin and label.
SCORE_UNIT = 2**32


@dataclass(frozen=True)
class CalibrationTable:
    """Per fine cell, score bin and label: rows and their sum of scores in ``SCORE_UNIT``ths.

    Scores outside [0, 1] are not binned, only counted: such scores are not probabilities,
    and calibration is then undefined for every group.
    """

    rows: np.ndarray  # int64 [cells, CALIBRATION_BINS, 2]
    score_units: np.ndarray  # int64 [cells, CALIBRATION_BINS, 2]: sum of round(score * 2^32)
    outside_unit_interval: int  # scores below 0 or above 1

    def merge(self, later: CalibrationTable) -> CalibrationTable:
        return CalibrationTable(
            self.rows + later.rows,
            self.score_units + later.score_units,
            self.outside_unit_interval + later.outside_unit_interval,
        )

    def of_cells(self, cells: np.ndarray) -> CalibrationTable:
        """The table of these cells only, renumbered in their order."""
        return CalibrationTable(
            self.rows[cells], self.score_units[cells], self.outside_unit_interval
        )


def calibration_table(
    cell_of_row: np.ndarray, n_cells: int, labels: np.ndarray, scores: np.ndarray
) -> CalibrationTable:
    """The calibration statistics of these rows; tables of any split of the rows add up."""
    inside = (scores >= 0) & (scores <= 1)
    kept = scores[inside]
    bins = np.searchsorted(CALIBRATION_EDGES[1:-1], kept, side="right")
    index = (cell_of_row[inside] * CALIBRATION_BINS + bins) * 2 + labels[inside].astype(np.int64)
    size = n_cells * CALIBRATION_BINS * 2
    # bincount's weights are float64, inexact past 2^53: the unit sums are added as integers.
    score_units = np.zeros(size, dtype=np.int64)
    np.add.at(score_units, index, np.rint(kept * SCORE_UNIT).astype(np.int64))
    shape = (n_cells, CALIBRATION_BINS, 2)
    return CalibrationTable(
        np.bincount(index, minlength=size).reshape(shape),
        score_units.reshape(shape),
        int(len(scores) - len(kept)),
    )


def calibration_error_by_group(
    table: CalibrationTable, group_of_cell: np.ndarray, n_groups: int
) -> np.ndarray:
    """ECE of each group ``[groups]``, NaN for a group without rows.

    The gaps are summed in score units, as integers, so the value does not depend on how the
    rows were split; int64 holds them for groups of fewer than 2^31 rows.
    """
    rows = np.zeros((n_groups, CALIBRATION_BINS, 2), dtype=np.int64)
    units = np.zeros((n_groups, CALIBRATION_BINS, 2), dtype=np.int64)
    np.add.at(rows, group_of_cell, table.rows)
    np.add.at(units, group_of_cell, table.score_units)
    gaps = np.abs(units.sum(axis=2) - rows[:, :, 1] * SCORE_UNIT).sum(axis=1)
    size = rows.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(size > 0, gaps / (size.astype(np.float64) * SCORE_UNIT), np.nan)


def calibration_error_replicates(
    table: CalibrationTable,
    indicators: list[np.ndarray],
    n_boot: int,
    rng: np.random.Generator,
    max_chunk_elements: int,
    threads: int = 1,
    report: Callable[[int], None] | None = None,
) -> list[np.ndarray]:
    """Poisson-bootstrap ECE per slice, ``[n_boot, groups]``, drawn in chunks of replicates
    of at most ``max_chunk_elements`` counts and reduced on ``threads`` threads.

    Each (cell, bin, label) count is redrawn as Poisson(count), as for the confusion counts,
    and its sum of scores as the redrawn count times the mean score of its rows.
    """
    counts = table.rows.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_scores = np.where(counts > 0, table.score_units / (counts * SCORE_UNIT), 0.0)

    def grouped_errors(drawn: np.ndarray) -> list[np.ndarray]:
        resampled = drawn.astype(np.float64)
        cell_scores = (resampled * mean_scores).sum(axis=3)  # [replicates, cells, bins]
        errors = []
        for indicator in indicators:
            grouped = np.einsum("bcnl,cg->bgnl", resampled, indicator)
            score_sums = np.einsum("bcn,cg->bgn", cell_scores, indicator)
            gaps = np.abs(score_sums - grouped[..., 1]).sum(axis=2)
            rows = grouped.sum(axis=(2, 3))
            with np.errstate(invalid="ignore", divide="ignore"):
                errors.append(np.where(rows > 0, gaps / rows, np.nan))
        return errors

    return replicates_in_blocks(
        lambda size: poisson_resampled(rng, table.rows, size),
        grouped_errors,
        [indicator.shape[1] for indicator in indicators],
        n_boot,
        max_chunk_elements // max(1, table.rows.size),
        threads,
        report,
    )
