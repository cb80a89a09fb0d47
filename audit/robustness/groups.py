"""Per-group summaries of per-row measures, with bootstrap intervals, and the gap between groups.

Rows are the explanation stage's stratified sample, each standing for ``weight`` data rows, so
every summary is weighted back to the group's own mix of cells. Intervals resample rows: each
replicate gives every row a Poisson(1) count times its weight (the Poisson bootstrap the
fairness tables use). A group measured over fewer than min_group_size rows has no value: an
extreme rate from a handful of rows says nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from audit.core.intervals import interval_of
from audit.robustness.results import Gap, GroupValue

Summary = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Grouping:
    """The groups of one sensitive feature among the measured rows."""

    feature: str
    labels: tuple[str, ...]
    group_of_row: np.ndarray  # int64 [rows]


def weighted_mean(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Mean of ``values`` [n] under each weight row of ``weights`` [b, n]; NaN without weight."""
    totals = weights.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        means: np.ndarray = (weights @ values) / totals
    return means


def weighted_median(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The lower weighted median of ``values`` [n] under each weight row [b, n]."""
    if len(values) == 0:
        return np.full(len(weights), np.nan)
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[:, order], axis=1)
    totals = cumulative[:, -1]
    first = np.argmax(cumulative >= totals[:, None] / 2, axis=1)
    medians: np.ndarray = np.where(totals > 0, values[order][first], np.nan)
    return medians


def too_few(n: int, min_group_size: int, what: str) -> str:
    return f"insufficient data: {n} {what}, fewer than min_group_size ({min_group_size})"


def group_values(
    values: np.ndarray,
    weights: np.ndarray,
    boot: np.ndarray,
    groupings: Sequence[Grouping],
    summary: Summary,
    min_group_size: int,
    level: float,
    what: str,
) -> tuple[list[GroupValue], dict[str, np.ndarray]]:
    """Each group's summary with its interval, and each feature's replicates [b, groups]
    (NaN for a group without a value) for its gap.

    ``boot`` holds the Poisson counts [b, n] of the rows ``values`` are measured on.
    """
    results: list[GroupValue] = []
    replicates: dict[str, np.ndarray] = {}
    for grouping in groupings:
        columns = []
        for code, label in enumerate(grouping.labels):
            members = np.flatnonzero(grouping.group_of_row == code)
            if len(members) < min_group_size:
                reason = too_few(len(members), min_group_size, what)
                results.append(
                    GroupValue(grouping.feature, label, len(members), None, None, reason)
                )
                columns.append(np.full(len(boot), np.nan))
                continue
            member_values, member_weights = values[members], weights[members]
            estimate = float(summary(member_values, member_weights[None, :])[0])
            drawn = summary(member_values, boot[:, members] * member_weights)
            columns.append(drawn)
            results.append(
                GroupValue(
                    grouping.feature,
                    label,
                    len(members),
                    estimate,
                    interval_of(drawn, level) if len(boot) else None,
                )
            )
        replicates[grouping.feature] = np.column_stack(columns) if columns else np.zeros((0, 0))
    return results, replicates


def gaps(
    metric: str,
    values: Sequence[GroupValue],
    replicates: dict[str, np.ndarray],
    level: float,
) -> list[Gap]:
    """Highest minus lowest group value per feature, over the groups that have one."""
    found = []
    for feature, drawn in replicates.items():
        groups = [value for value in values if value.feature == feature]
        defined = [index for index, value in enumerate(groups) if value.value is not None]
        if len(defined) < 2:
            found.append(
                Gap(
                    feature,
                    metric,
                    None,
                    None,
                    None,
                    None,
                    "fewer than two groups have enough rows to compare",
                )
            )
            continue
        estimates = np.array([groups[index].value for index in defined], dtype=np.float64)
        high, low = defined[int(np.argmax(estimates))], defined[int(np.argmin(estimates))]
        interval = None
        if len(drawn):
            kept = drawn[:, defined]
            # fmax/fmin skip a group undefined in a replicate without warning.
            spread = np.fmax.reduce(kept, axis=1) - np.fmin.reduce(kept, axis=1)
            interval = interval_of(spread, level)
        found.append(
            Gap(
                feature,
                metric,
                float(estimates.max() - estimates.min()),
                interval,
                groups[high].group,
                groups[low].group,
            )
        )
    return found
