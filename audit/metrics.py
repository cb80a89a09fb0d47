"""Group metrics as a spec table over confusion cells, with Fairlearn as the point of truth.

Every group metric here is a ratio of confusion-cell counts, so it is exact on aggregated
data: Fairlearn's ``MetricFrame`` gets one row per (group, cell) with the cell's count as
``sample_weight`` instead of one row per person. Bootstrap replicates reuse the same spec
table on resampled counts, vectorized, so that no pandas code runs per replicate.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
from fairlearn.metrics import (
    MetricFrame,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn.metrics import accuracy_score, precision_score, roc_auc_score

# Confusion cells, in this order everywhere: index = 2 * (1 - decision) + (1 - label).
TP, FP, FN, TN = range(4)
ALL_CELLS = (TP, FP, FN, TN)
CELL_LABEL = np.array([1, 0, 1, 0], dtype=np.int8)
CELL_DECISION = np.array([1, 1, 0, 0], dtype=np.int8)


def confusion_index(labels: np.ndarray, decisions: np.ndarray) -> np.ndarray:
    return 2 * (1 - decisions.astype(np.int64)) + (1 - labels.astype(np.int64))


def _base_rate(y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray) -> float:
    # Fairlearn has no base-rate function: it is the selection rate of the labels.
    return float(selection_rate(y_true, y_true, sample_weight=sample_weight))


@dataclass(frozen=True)
class RateMetric:
    name: str
    numerator: tuple[int, ...]
    denominator: tuple[int, ...]
    fairlearn_function: Callable[..., float]
    undefined_reason: str
    meaning: str


RATE_METRICS: tuple[RateMetric, ...] = (
    RateMetric(
        "selection_rate",
        (TP, FP),
        ALL_CELLS,
        selection_rate,
        "the group has no rows",
        "Share of the group that receives the positive decision.",
    ),
    RateMetric(
        "base_rate",
        (TP, FN),
        ALL_CELLS,
        _base_rate,
        "the group has no rows",
        "Share of the group whose true label is positive.",
    ),
    RateMetric(
        "accuracy",
        (TP, TN),
        ALL_CELLS,
        accuracy_score,
        "the group has no rows",
        "Share of the group whose decision matches the true label.",
    ),
    RateMetric(
        "true_positive_rate",
        (TP,),
        (TP, FN),
        true_positive_rate,
        "the group has no positive labels",
        "Of the group's people with a positive label, the share the model decides positive.",
    ),
    RateMetric(
        "false_positive_rate",
        (FP,),
        (FP, TN),
        false_positive_rate,
        "the group has no negative labels",
        "Of the group's people with a negative label, the share the model decides positive.",
    ),
    RateMetric(
        "false_negative_rate",
        (FN,),
        (TP, FN),
        false_negative_rate,
        "the group has no positive labels",
        "Of the group's people with a positive label, the share the model misses.",
    ),
    RateMetric(
        "precision",
        (TP,),
        (TP, FP),
        partial(precision_score, zero_division=0.0),
        "the group has no positive decisions",
        "Of the group's positive decisions, the share whose true label is positive.",
    ),
)
ROC_AUC = "roc_auc"
ROC_AUC_MEANING = (
    "Chance that the model scores a random positive member of the group above a random "
    "negative one (0.5 is guessing)."
)
GROUP_METRIC_NAMES = (*(metric.name for metric in RATE_METRICS), ROC_AUC)
METRIC_MEANINGS = {metric.name: metric.meaning for metric in RATE_METRICS} | {
    ROC_AUC: ROC_AUC_MEANING
}


def rates_from_counts(counts: np.ndarray) -> dict[str, np.ndarray]:
    """Every rate metric from cell counts ``[..., 4]``; NaN where undefined."""
    rates = {}
    for metric in RATE_METRICS:
        numerator = counts[..., list(metric.numerator)].sum(axis=-1)
        denominator = counts[..., list(metric.denominator)].sum(axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            rates[metric.name] = np.where(denominator > 0, numerator / denominator, np.nan)
    return rates


def undefined_rates(counts: np.ndarray) -> dict[str, np.ndarray]:
    """Boolean masks ``[groups]``: where each rate metric has a zero denominator."""
    return {
        metric.name: counts[..., list(metric.denominator)].sum(axis=-1) == 0
        for metric in RATE_METRICS
    }


def fairlearn_rates(
    counts: np.ndarray, group_labels: list[tuple[str, ...]], feature: tuple[str, ...]
) -> dict[str, np.ndarray]:
    """Rate metrics per group from Fairlearn's MetricFrame over aggregated cells.

    ``counts`` is ``[groups, 4]``. Undefined values come back as NaN (Fairlearn itself
    returns 0 for an empty denominator, which would pass for a real rate).
    """
    group_index, cell_index = np.nonzero(counts)
    weights = counts[group_index, cell_index].astype(np.float64)
    sensitive = pd.DataFrame(
        {
            f"f{position}": [group_labels[g][position] for g in group_index]
            for position in range(len(feature))
        }
    )
    frame = MetricFrame(
        metrics={metric.name: metric.fairlearn_function for metric in RATE_METRICS},
        y_true=CELL_LABEL[cell_index],
        y_pred=CELL_DECISION[cell_index],
        sensitive_features=sensitive,
        sample_params={metric.name: {"sample_weight": weights} for metric in RATE_METRICS},
    )
    by_group = frame.by_group
    keys = [label if len(label) > 1 else label[0] for label in group_labels]
    undefined = undefined_rates(counts)
    present = counts.sum(axis=1) > 0
    rates = {}
    for metric in RATE_METRICS:
        values = np.full(len(group_labels), np.nan)
        for position, key in enumerate(keys):
            if present[position] and not undefined[metric.name][position]:
                values[position] = float(by_group.loc[key, metric.name])
        rates[metric.name] = values
    return rates


def roc_auc_by_group(
    scores: np.ndarray, labels: np.ndarray, row_groups: np.ndarray, n_groups: int
) -> np.ndarray:
    """Exact ROC AUC per group with scikit-learn; NaN where a group lacks one label class."""
    order = np.argsort(row_groups, kind="stable")
    bounds = np.searchsorted(row_groups[order], np.arange(n_groups + 1))
    values = np.full(n_groups, np.nan)
    for group in range(n_groups):
        rows = order[bounds[group] : bounds[group + 1]]
        group_labels = labels[rows]
        positives = int(group_labels.sum())
        if 0 < positives < len(rows):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                values[group] = roc_auc_score(group_labels, scores[rows])
    return values


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
