"""ROC AUC and TPR at a fixed FPR for attack scores, with a Poisson bootstrap.

The rows are sorted once; each bootstrap replicate only reweights them, so a thousand
replicates cost a thousand cumulative sums, not a thousand sorts.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from audit.core.intervals import interval_of

# Replicates weighted per block: bounds memory at about BLOCK x rows x 8 bytes.
_BLOCK = 64


@dataclass(frozen=True)
class RocSummary:
    auc: float | None
    auc_ci: tuple[float, float] | None
    tpr_at_fpr: dict[float, float | None]
    tpr_ci: dict[float, tuple[float, float] | None]


def _curves(
    sorted_positive: np.ndarray, cuts: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """TPR and FPR at every distinct-score cut, per row of ``weights`` ([b, n])."""
    positive_weight = np.cumsum(weights * sorted_positive, axis=1)[:, cuts]
    negative_weight = np.cumsum(weights * ~sorted_positive, axis=1)[:, cuts]
    with np.errstate(invalid="ignore", divide="ignore"):
        tpr = positive_weight / positive_weight[:, -1:]
        fpr = negative_weight / negative_weight[:, -1:]
    return tpr, fpr


def _auc(tpr: np.ndarray, fpr: np.ndarray) -> np.ndarray:
    # Trapezoids from (0, 0): ties between a positive and a negative count one half, as in
    # the Mann-Whitney statistic and scikit-learn's roc_auc_score.
    zero = np.zeros((tpr.shape[0], 1))
    tpr0 = np.hstack([zero, tpr])
    fpr0 = np.hstack([zero, fpr])
    return np.sum(np.diff(fpr0, axis=1) * (tpr0[:, 1:] + tpr0[:, :-1]) / 2, axis=1)


def _tpr_at(tpr: np.ndarray, fpr: np.ndarray, level: float) -> np.ndarray:
    # The highest TPR among cuts whose FPR does not exceed the level (TPR grows with FPR).
    allowed = np.where(fpr <= level + 1e-12, tpr, 0.0)
    return np.nanmax(np.where(np.isnan(allowed), 0.0, allowed), axis=1)


def roc_summary(
    scores: np.ndarray,
    positive: np.ndarray,
    fpr_levels: tuple[float, ...],
    n_boot: int,
    confidence_level: float,
    rng: np.random.Generator,
) -> RocSummary:
    """AUC of ``scores`` (higher = positive) and TPR at each FPR level, with intervals.

    TPR at a level is undefined (None) when there are fewer than 1/level negatives: then
    no threshold can have that false positive rate except zero.
    """
    positive = np.asarray(positive, dtype=bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return RocSummary(None, None, dict.fromkeys(fpr_levels), dict.fromkeys(fpr_levels))
    order, cuts = sorted_rows(scores, positive)
    sorted_positive = positive[order]
    tpr, fpr = _curves(sorted_positive, cuts, np.ones((1, len(order))))
    auc = float(_auc(tpr, fpr)[0])
    defined = {level: n_neg * level >= 1 for level in fpr_levels}
    point = {
        level: float(_tpr_at(tpr, fpr, level)[0]) if defined[level] else None
        for level in fpr_levels
    }
    if n_boot <= 0:
        return RocSummary(auc, None, point, dict.fromkeys(fpr_levels))
    aucs = []
    tprs: dict[float, list[np.ndarray]] = {level: [] for level in fpr_levels}
    for weights in poisson_blocks(rng, n_boot, len(order)):
        # Weights are drawn per sorted row: the same distribution as per original row.
        tpr_b, fpr_b = _curves(sorted_positive, cuts, weights)
        aucs.append(_auc(tpr_b, fpr_b))
        for level in fpr_levels:
            if defined[level]:
                tprs[level].append(_tpr_at(tpr_b, fpr_b, level))
    auc_ci = interval_of(np.concatenate(aucs), confidence_level)
    tpr_ci = {
        level: interval_of(np.concatenate(tprs[level]), confidence_level)
        if defined[level]
        else None
        for level in fpr_levels
    }
    return RocSummary(auc, auc_ci, point, tpr_ci)


def sorted_rows(scores: np.ndarray, positive: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sort order of ``scores`` (descending) and the cut after each distinct score."""
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    sorted_scores = np.asarray(scores, dtype=np.float64)[order]
    cuts = np.append(np.flatnonzero(np.diff(sorted_scores) != 0), len(sorted_scores) - 1)
    return order, cuts


def weighted_auc(
    positive: np.ndarray, order: np.ndarray, cuts: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """AUC per row of ``weights`` ([b, n], in the rows' original order)."""
    tpr, fpr = _curves(np.asarray(positive, dtype=bool)[order], cuts, weights[:, order])
    return _auc(tpr, fpr)


# The Poisson(1) distribution function: weights are drawn by inverting it on uniform
# numbers, several times faster than Generator.poisson; P(weight > 12) is below 1e-9.
_POISSON_CDF = np.cumsum(np.exp(-1.0) / np.cumprod(np.r_[1.0, np.arange(1.0, 13.0)]))
# float32 sums integer weights exactly while the total stays under 2**24.
_FLOAT32_ROWS = 2**24 // 16


def poisson_blocks(rng: np.random.Generator, n_boot: int, n: int) -> Iterator[np.ndarray]:
    """Poisson(1) bootstrap weights, ``_BLOCK`` replicates at a time."""
    dtype = np.float32 if n <= _FLOAT32_ROWS else np.float64
    cdf = _POISSON_CDF.astype(np.float32)
    for start in range(0, n_boot, _BLOCK):
        uniform = rng.random((min(_BLOCK, n_boot - start), n), dtype=np.float32)
        yield np.searchsorted(cdf, uniform, side="right").astype(dtype)
