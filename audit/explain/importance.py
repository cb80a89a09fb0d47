"""Importance of each column: globally with bootstrap intervals, per group, and its shifts.

Importance is the mean absolute attribution, in the explained score's units (probability).
The explained sample over-represents small groups on purpose (``sampling``), so means are
weighted by each row's sampling weight: global importance describes the data as it is, and a
group's importance describes that group.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from audit.core.intervals import finite_interval, interval_of, percentile_interval
from audit.data.slices import Slice
from audit.explain.results import (
    ColumnImportance,
    CopyImportance,
    EncodedCopy,
    GroupImportance,
    ImportanceShift,
)
from audit.explain.sampling import STREAM_BOOTSTRAP, generator

# A group needs this many explained rows before its importance is compared with others'.
MIN_ROWS_FOR_SHIFT = 10
# Largest shifts reported per method.
SHIFTS_REPORTED = 10


def _shares(importance: np.ndarray) -> np.ndarray:
    total = importance.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, importance / np.where(total > 0, total, 1.0), 0.0)


@lru_cache(maxsize=1)
def _replicate_weights(weights: bytes, n_boot: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Poisson-bootstrap row weights ``[n_boot, rows]`` and their sums ``[n_boot, 1]``.

    Each row appears Poisson(1) times per replicate, which resamples rows without a pass per
    replicate; sampling weights carry through. Every method of an audit explains the same
    rows with the same weights and seed, so they share one draw (the same values as a draw
    each, which took 0.012 s a method); ``weights``: the float64 weights' bytes, hashable.
    """
    row_weights = np.frombuffer(weights, dtype=np.float64)
    rng = generator(seed, STREAM_BOOTSTRAP)
    replicate_weights = rng.poisson(1.0, size=(n_boot, len(row_weights))) * row_weights
    totals = replicate_weights.sum(axis=1, keepdims=True)
    replicate_weights.flags.writeable = False
    totals.flags.writeable = False
    return replicate_weights, totals


def _weighted_importance(
    magnitude: np.ndarray, weights: np.ndarray, n_boot: int, seed: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """Each column's weighted mean |attribution| and its bootstrap replicates (None without)."""
    importance = weights @ magnitude / weights.sum()
    if n_boot <= 0 or len(magnitude) <= 1:
        return importance, None
    replicate_weights, totals = _replicate_weights(
        np.ascontiguousarray(weights, dtype=np.float64).tobytes(), n_boot, seed
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        replicates = (replicate_weights @ magnitude) / totals
    replicates[totals[:, 0] == 0] = np.nan
    return importance, replicates


def global_importance(
    values: np.ndarray,
    weights: np.ndarray,
    columns: Sequence[str],
    inputs_per_column: np.ndarray,
    n_boot: int,
    level: float,
    seed: int,
) -> tuple[ColumnImportance, ...]:
    importance, replicates = _weighted_importance(np.abs(values), weights, n_boot, seed)
    shares = _shares(importance)
    intervals: list[tuple[float, float] | None] = [None] * len(columns)
    share_intervals: list[tuple[float, float] | None] = [None] * len(columns)
    if replicates is not None:
        low, high = percentile_interval(replicates, level)
        share_low, share_high = percentile_interval(_shares(replicates), level)
        intervals = [finite_interval(a, b) for a, b in zip(low, high, strict=True)]
        share_intervals = [
            finite_interval(a, b) for a, b in zip(share_low, share_high, strict=True)
        ]
    return tuple(
        ColumnImportance(
            column=column,
            value=float(importance[index]),
            ci=intervals[index],
            share=float(shares[index]),
            share_ci=share_intervals[index],
            inputs=int(inputs_per_column[index]),
        )
        for index, column in enumerate(columns)
    )


def copy_importance(
    values: np.ndarray,
    weights: np.ndarray,
    columns: Sequence[str],
    copies: Sequence[EncodedCopy],
    n_boot: int,
    level: float,
    seed: int,
) -> tuple[CopyImportance, ...]:
    """Each encoded copy's columns together: their importance and shares summed, the share's
    interval from the same replicates as ``global_importance`` (same seed, same draws)."""
    if not copies:
        return ()
    importance, replicates = _weighted_importance(np.abs(values), weights, n_boot, seed)
    shares = _shares(importance)
    replicate_shares = _shares(replicates) if replicates is not None else None
    results = []
    for copy in copies:
        members = [columns.index(column) for column in copy.columns]
        interval = None
        if replicate_shares is not None:
            summed = replicate_shares[:, members].sum(axis=1, keepdims=True)
            interval = interval_of(summed[:, 0], level)
        results.append(
            CopyImportance(
                attribute=copy.attribute,
                columns=copy.columns,
                value=float(importance[members].sum()),
                share=float(shares[members].sum()),
                share_ci=interval,
            )
        )
    return tuple(results)


def group_importance(
    values: np.ndarray,
    weights: np.ndarray,
    cells: np.ndarray,
    columns: Sequence[str],
    slices: Sequence[Slice],
) -> tuple[GroupImportance, ...]:
    """Per group of every slice; ``cells`` is each explained row's fine cell."""
    magnitude = np.abs(values)
    results = []
    for item in slices:
        group_of_row = item.group_of_cell[cells]
        for group, label in enumerate(item.labels):
            members = group_of_row == group
            count = int(members.sum())
            if count == 0:
                continue
            member_weights = weights[members]
            importance = member_weights @ magnitude[members] / member_weights.sum()
            shares = _shares(importance)
            results.append(
                GroupImportance(
                    feature=item.features,
                    group=label,
                    n=count,
                    importance={c: float(v) for c, v in zip(columns, importance, strict=True)},
                    share={c: float(v) for c, v in zip(columns, shares, strict=True)},
                )
            )
    return tuple(results)


def largest_shifts(
    groups: Sequence[GroupImportance], columns: Sequence[str]
) -> tuple[ImportanceShift, ...]:
    """For each slice and column, the two groups whose shares of attribution differ most;
    the largest differences overall, among groups with enough explained rows."""
    by_feature: dict[tuple[str, ...], list[GroupImportance]] = {}
    for entry in groups:
        if entry.n >= MIN_ROWS_FOR_SHIFT:
            by_feature.setdefault(entry.feature, []).append(entry)
    shifts = []
    for feature, members in by_feature.items():
        if len(members) < 2:
            continue
        for column in columns:
            shares = [member.share[column] for member in members]
            low, high = int(np.argmin(shares)), int(np.argmax(shares))
            difference = shares[high] - shares[low]
            if difference <= 0:
                continue
            shifts.append(
                ImportanceShift(
                    feature=feature,
                    column=column,
                    groups=(members[low].group, members[high].group),
                    shares=(shares[low], shares[high]),
                    difference=float(difference),
                )
            )
    shifts.sort(key=lambda shift: (-shift.difference, shift.feature, shift.column))
    return tuple(shifts[:SHIFTS_REPORTED])
