"""Group metrics as a spec table over confusion cells, with Fairlearn as the point of truth.

Every group metric here is a ratio of confusion-cell counts, so it is exact on aggregated
data: Fairlearn's ``MetricFrame`` gets one row per (group, cell) with the cell's count as
``sample_weight`` instead of one row per person. Bootstrap replicates reuse the same spec
table on resampled counts, vectorized, so that no pandas code runs per replicate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from itertools import pairwise
from typing import Literal

import numpy as np
import pandas as pd

from audit.fairness.calibration import CALIBRATION_BINS

# Confusion cells, in this order everywhere: index = 2 * (1 - decision) + (1 - label).
TP, FP, FN, TN = range(4)
ALL_CELLS = (TP, FP, FN, TN)
CELL_LABEL = np.array([1, 0, 1, 0], dtype=np.int8)
CELL_DECISION = np.array([1, 1, 0, 0], dtype=np.int8)


def confusion_index(labels: np.ndarray, decisions: np.ndarray) -> np.ndarray:
    return 2 * (1 - decisions.astype(np.int64)) + (1 - labels.astype(np.int64))


def _base_rate(y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray) -> float:
    # Fairlearn has no base-rate function: it is the selection rate of the labels.
    from fairlearn.metrics import selection_rate

    return float(selection_rate(y_true, y_true, sample_weight=sample_weight))


def _fairlearn_functions() -> dict[str, Callable[..., float]]:
    """Fairlearn's (and scikit-learn's) function for each rate metric. Imported when metrics
    are computed, not with this module: the report renderers read the spec table's meanings,
    and loading scikit-learn costs a second."""
    from fairlearn.metrics import (
        false_negative_rate,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )
    from sklearn.metrics import accuracy_score, precision_score

    return {
        "selection_rate": selection_rate,
        "base_rate": _base_rate,
        "accuracy": accuracy_score,
        "true_positive_rate": true_positive_rate,
        "false_positive_rate": false_positive_rate,
        "false_negative_rate": false_negative_rate,
        "precision": partial(precision_score, zero_division=0.0),
    }


@dataclass(frozen=True)
class RateMetric:
    name: str
    numerator: tuple[int, ...]
    denominator: tuple[int, ...]
    undefined_reason: str
    meaning: str
    denominator_rows: str  # what the denominator counts, for "insufficient data" reasons


RATE_METRICS: tuple[RateMetric, ...] = (
    RateMetric(
        "selection_rate",
        (TP, FP),
        ALL_CELLS,
        "the group has no rows",
        "Share of the group that receives the positive decision.",
        "rows",
    ),
    RateMetric(
        "base_rate",
        (TP, FN),
        ALL_CELLS,
        "the group has no rows",
        "Share of the group whose true label is positive.",
        "rows",
    ),
    RateMetric(
        "accuracy",
        (TP, TN),
        ALL_CELLS,
        "the group has no rows",
        "Share of the group whose decision matches the true label.",
        "rows",
    ),
    RateMetric(
        "true_positive_rate",
        (TP,),
        (TP, FN),
        "the group has no positive labels",
        "Of the group's people with a positive label, the share the model decides positive.",
        "positive labels",
    ),
    RateMetric(
        "false_positive_rate",
        (FP,),
        (FP, TN),
        "the group has no negative labels",
        "Of the group's people with a negative label, the share the model decides positive.",
        "negative labels",
    ),
    RateMetric(
        "false_negative_rate",
        (FN,),
        (TP, FN),
        "the group has no positive labels",
        "Of the group's people with a positive label, the share the model misses.",
        "positive labels",
    ),
    RateMetric(
        "precision",
        (TP,),
        (TP, FP),
        "the group has no positive decisions",
        "Of the group's positive decisions, the share whose true label is positive.",
        "positive decisions",
    ),
)
ROC_AUC = "roc_auc"
ROC_AUC_MEANING = (
    "Chance that the model scores a random positive member of the group above a random "
    "negative one (0.5 is guessing)."
)
CALIBRATION_ERROR = "calibration_error"
CALIBRATION_ERROR_MEANING = (
    "Average gap between predicted probability and observed positive rate, over "
    f"{CALIBRATION_BINS} score bins; 0 is perfectly calibrated."
)
GROUP_METRIC_NAMES = (*(metric.name for metric in RATE_METRICS), ROC_AUC, CALIBRATION_ERROR)
METRIC_MEANINGS = {metric.name: metric.meaning for metric in RATE_METRICS} | {
    ROC_AUC: ROC_AUC_MEANING,
    CALIBRATION_ERROR: CALIBRATION_ERROR_MEANING,
}


@dataclass(frozen=True)
class DisparitySpec:
    name: str
    components: tuple[str, ...]
    kind: Literal["difference", "ratio"]
    meaning: str
    check: str = "fairness.disparity"  # the check that judges it against its threshold


DISPARITIES: tuple[DisparitySpec, ...] = (
    DisparitySpec(
        "demographic_parity_difference",
        ("selection_rate",),
        "difference",
        "Largest gap in selection rate between groups.",
    ),
    DisparitySpec(
        "demographic_parity_ratio",
        ("selection_rate",),
        "ratio",
        "Lowest group selection rate divided by the highest (1 is parity).",
    ),
    DisparitySpec(
        "equalized_odds_difference",
        ("true_positive_rate", "false_positive_rate"),
        "difference",
        "Largest gap between groups in true positive rate or false positive rate.",
    ),
    DisparitySpec(
        "equalized_odds_ratio",
        ("true_positive_rate", "false_positive_rate"),
        "ratio",
        "Smallest ratio between groups of true positive rates or false positive rates.",
    ),
    DisparitySpec(
        "equal_opportunity_difference",
        ("true_positive_rate",),
        "difference",
        "Largest gap in true positive rate between groups.",
    ),
    DisparitySpec(
        "calibration_error_difference",
        (CALIBRATION_ERROR,),
        "difference",
        "Largest gap in calibration error between groups: how much less a score means the "
        "stated probability for one group than for another.",
        check="fairness.calibration_gap",
    ),
)


def rates_from_counts(counts: np.ndarray) -> dict[str, np.ndarray]:
    """Every rate metric from cell counts ``[..., 4]``; NaN where undefined."""
    rates = {}
    for metric in RATE_METRICS:
        numerator = counts[..., list(metric.numerator)].sum(axis=-1)
        denominator = counts[..., list(metric.denominator)].sum(axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            rates[metric.name] = np.where(denominator > 0, numerator / denominator, np.nan)
    return rates


def denominators(counts: np.ndarray) -> dict[str, np.ndarray]:
    """The rows each rate metric divides by, per group of cell counts ``[..., 4]``."""
    return {
        metric.name: counts[..., list(metric.denominator)].sum(axis=-1) for metric in RATE_METRICS
    }


def undefined_rates(counts: np.ndarray) -> dict[str, np.ndarray]:
    """Boolean masks ``[groups]``: where each rate metric has a zero denominator."""
    return {name: rows == 0 for name, rows in denominators(counts).items()}


def fairlearn_rates(tables: list[np.ndarray]) -> list[dict[str, np.ndarray]]:
    """Rate metrics per group of each count table ``[groups, 4]``, from Fairlearn.

    One MetricFrame over the aggregated cells of every table (the group of a cell is its
    table and row), so Fairlearn's fixed cost is paid once per audit, not once per slice.
    Undefined values come back as NaN (Fairlearn itself returns 0 for an empty denominator,
    which would pass for a real rate).
    """
    if not tables:
        return []
    from fairlearn.metrics import MetricFrame

    functions = _fairlearn_functions()
    offsets = np.cumsum([0, *(len(table) for table in tables)])
    stacked = np.concatenate(tables)
    group_index, cell_index = np.nonzero(stacked)
    weights = stacked[group_index, cell_index].astype(np.float64)
    frame = MetricFrame(
        metrics={metric.name: functions[metric.name] for metric in RATE_METRICS},
        y_true=CELL_LABEL[cell_index],
        y_pred=CELL_DECISION[cell_index],
        sensitive_features=pd.Series(group_index, name="group"),
        sample_params={metric.name: {"sample_weight": weights} for metric in RATE_METRICS},
    )
    by_group = frame.by_group.reindex(np.arange(len(stacked)))
    undefined = undefined_rates(stacked)
    rates = {
        metric.name: np.where(
            undefined[metric.name] | (stacked.sum(axis=1) == 0),
            np.nan,
            by_group[metric.name].to_numpy(dtype=np.float64),
        )
        for metric in RATE_METRICS
    }
    return [
        {name: values[start:end] for name, values in rates.items()}
        for start, end in pairwise(offsets)
    ]


def roc_auc_by_group(
    scores: np.ndarray,
    labels: np.ndarray,
    row_groups: np.ndarray,
    n_groups: int,
    presorted: bool = False,
) -> np.ndarray:
    """Exact ROC AUC per group (NaN where a group lacks one label class).

    The Mann-Whitney form with mid-ranks for ties: scikit-learn's ``roc_auc_score`` to the
    last bit or two, but from one sort of the scores instead of one per group. ``presorted``:
    the rows already come in ascending order of score (a sort that the caller shares between
    slices; tied rows share a mid-rank, so their order does not matter); a slice then needs
    only a stable sort of its small group ids, which numpy does by radix sort, and reads each
    group's rows in order.
    """
    if not presorted:
        order = np.argsort(scores)
        scores, labels, row_groups = scores[order], labels[order], row_groups[order]
    # By group, then by score: the ids in their smallest type, which numpy sorts by radix.
    rows = np.argsort(row_groups.astype(np.min_scalar_type(n_groups)), kind="stable")
    counts = np.bincount(row_groups, minlength=n_groups)
    group_start = np.cumsum(counts) - counts
    group_end = group_start + counts
    ordered = scores[rows]
    size = len(rows)
    # Runs of equal (group, score): tied rows share the run's mid-rank. A group's rows are
    # contiguous and each group starts a run.
    new_run = np.empty(size, dtype=bool)
    new_run[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new_run[1:])
    new_run[group_start[counts > 0]] = True
    run_start = np.flatnonzero(new_run)
    run_end = np.append(run_start[1:], size)
    # Everything per run and per group from prefix sums at the boundaries: the positives of
    # each run, and the sum of their mid-ranks (1-based over all rows; a group's own ranks
    # are those less its first row's position). Mid-ranks are half-integers whose running sum
    # stays below 2**53 up to 134M rows, far past a table read whole, so every sum is exact.
    positive_before = np.concatenate(([0], np.cumsum(labels[rows], dtype=np.int64)))
    run_positives = positive_before[run_end] - positive_before[run_start]
    rank_before = np.concatenate(
        ([0.0], np.cumsum((run_start + run_end + 1) / 2.0 * run_positives))
    )
    first_run, end_run = (
        np.searchsorted(run_start, group_start),
        np.searchsorted(run_start, group_end),
    )
    positives = (positive_before[group_end] - positive_before[group_start]).astype(np.float64)
    negatives = counts - positives
    rank_sum = rank_before[end_run] - rank_before[first_run] - group_start * positives
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)
    return np.where((positives > 0) & (negatives > 0), auc, np.nan)


def auc_by_group_from_cells(
    histograms: np.ndarray, indicators: list[np.ndarray]
) -> list[np.ndarray]:
    """ROC AUC ``[..., groups]`` per indicator ``[cells, groups]`` from per-cell score
    histograms ``[..., cells, 2, bins]``: ``auc_from_histograms`` of each group's summed
    histograms, to the bit, without summing them.

    A group's concordant pairs are a sum over pairs of its cells (one cell's positives against
    the other cell's negatives), so one batched product gives every pair of cells and each
    slice adds up its groups' blocks: 2.5x faster than summing each slice's histograms on the
    bootstrap's blocks of Adult's [250, 10, 2, 256]. Every term is a multiple of 1/2 below
    2**53 (fewer than 190M rows), so every sum is exact in any order.
    """
    counts = histograms.astype(np.float64)
    negatives, positives = counts[..., 0, :], counts[..., 1, :]
    # Negatives below each bin, and half of those in it: what a positive there is ranked above.
    beaten = np.cumsum(negatives, axis=-1)
    beaten -= 0.5 * negatives
    concordant_by_cells = np.matmul(positives, np.swapaxes(beaten, -1, -2))  # [..., c, c']
    totals = counts.sum(axis=-1)  # [..., cells, 2]
    aucs = []
    for indicator in indicators:
        concordant = (np.matmul(concordant_by_cells, indicator) * indicator).sum(axis=-2)
        grouped = np.einsum("...cl,cg->...gl", totals, indicator)
        pairs = grouped[..., 0] * grouped[..., 1]
        with np.errstate(invalid="ignore", divide="ignore"):
            aucs.append(np.where(pairs > 0, concordant / pairs, np.nan))
    return aucs


def auc_from_histograms(histograms: np.ndarray) -> np.ndarray:
    """ROC AUC from score histograms ``[..., 2, bins]`` (negatives, positives).

    Scores in one bin count as ties (half a concordant pair). NaN where a class is absent.
    """
    negatives = histograms[..., 0, :].astype(np.float64)
    positives = histograms[..., 1, :].astype(np.float64)
    below = np.cumsum(negatives, axis=-1) - negatives
    concordant = (positives * (below + 0.5 * negatives)).sum(axis=-1)
    pairs = positives.sum(axis=-1) * negatives.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, concordant / pairs, np.nan)
