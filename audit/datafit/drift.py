"""Drift of each column from the training data, overall and per group, from mergeable counts.

The population stability index (PSI) and the out-of-range, unseen and missing rates come from
the counts (audit.datafit.histograms), so a streamed audit gets the numbers of an in-memory
one. The Kolmogorov-Smirnov statistic needs the values themselves: scipy's ``ks_2samp`` on the
audited rows the stages hold (every row, or a streamed audit's seeded sample).

PSI is written here because no maintained library computes it on binned counts; it is
sum((a - e) * ln(a / e)) over the bins, shares below ``share_floor`` counted as that floor. Its
excess over what sampling alone gives ((k - 1)(1/n + 1/m), large for small groups) is what the
checks judge, so that a small group never shows drift from its count alone. The interval is a
parametric bootstrap of the audited counts (multinomial draws with the group's shares), so it
needs only the counts too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from audit.core.intervals import interval_of
from audit.core.policy import Policy
from audit.data.table import SensitiveColumn
from audit.datafit.histograms import (
    MISSING,
    OUTSIDE,
    ColumnBins,
    FitBins,
    FitCounts,
    GroupCodes,
    Grouping,
    count_rows,
)
from audit.datafit.results import ColumnDrift, DriftResult, FeatureDrift, GroupDrift, Interval


def psi(expected: np.ndarray, actual: np.ndarray, floor: float) -> np.ndarray:
    """PSI of counts ``actual`` [..., bins] against ``expected`` [bins]; the last axis sums."""
    e = np.maximum(expected / expected.sum(), floor)
    a = np.maximum(actual / actual.sum(axis=-1, keepdims=True), floor)
    result: np.ndarray = ((a - e) * np.log(a / e)).sum(axis=-1)
    return result


def share_interval(count: int, rows: int, level: float) -> Interval:
    """Wilson score interval of a share. Written out because scipy's binomtest, which has it,
    also computes an exact p-value first (milliseconds a group, and many groups a column)."""
    z = float(stats.norm.ppf(0.5 + level / 2))
    share = count / rows
    centre = (share + z * z / (2 * rows)) / (1 + z * z / rows)
    half = z * np.sqrt(share * (1 - share) / rows + z * z / (4 * rows * rows)) / (1 + z * z / rows)
    return (float(max(centre - half, 0.0)), float(min(centre + half, 1.0)))


@dataclass(frozen=True)
class _Reference:
    """The training counts a grouping's groups are held against."""

    counts: Grouping  # one row per group of the audited grouping
    codes: np.ndarray | None  # the training rows' group codes (for KS); None: every row
    note: str


def training_codes(frame: pd.DataFrame, column: SensitiveColumn) -> np.ndarray | None:
    """The audited groups of the training rows, by the group's name: None when the training
    data lacks the column or it was banded (its bands are the audited data's)."""
    if column.name not in frame.columns or column.binning is not None:
        return None
    series = frame[column.name]
    codes = pd.Index(column.groups).get_indexer(pd.Index(series.astype(str)))
    return np.where(series.isna().to_numpy(), -1, codes).astype(np.int64)


def _references(
    bins: FitBins, training: pd.DataFrame, sensitive: Sequence[SensitiveColumn]
) -> tuple[_Reference, list[_Reference]]:
    rows = len(training)
    everyone = count_rows(bins, training, [], None, None).groupings[0]
    overall = _Reference(everyone, np.zeros(rows, dtype=np.int64), "all training rows")
    per_feature = []
    for column in sensitive:
        codes = training_codes(training, column)
        if codes is None:
            why = "banded" if column.binning is not None else "not in the training data"
            n = len(column.groups)
            per_feature.append(
                _Reference(
                    Grouping(
                        column.name,
                        column.groups,
                        {k: np.repeat(v, n, axis=0) for k, v in everyone.columns.items()},
                        np.repeat(everyone.labels, n, axis=0),
                    ),
                    None,
                    f"all training rows ({column.name!r} is {why})",
                )
            )
            continue
        grouped = count_rows(
            bins, training, [GroupCodes(column.name, column.groups, codes)], None, None
        )
        per_feature.append(_Reference(grouped.groupings[1], codes, "the group's training rows"))
    return overall, per_feature


@dataclass(frozen=True)
class _Frames:
    """The rows KS reads: the audited rows the stages hold and the training rows."""

    audited: pd.DataFrame
    audited_codes: np.ndarray
    training: pd.DataFrame | None
    training_codes: np.ndarray | None  # None: every training row is every group's reference


def _numbers(frame: pd.DataFrame, column: str, rows: np.ndarray) -> np.ndarray:
    if column not in frame.columns:
        return np.empty(0)
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)[rows]
    return values[~np.isnan(values)]


def _ks(column: ColumnBins, frames: _Frames, group: int, minimum: int) -> tuple[float, float]:
    if column.kind != "numeric" or frames.training is None:
        return np.nan, np.nan
    audited = _numbers(frames.audited, column.name, frames.audited_codes == group)
    codes = frames.training_codes
    trained = _numbers(
        frames.training,
        column.name,
        codes == group if codes is not None else np.ones(len(frames.training), dtype=bool),
    )
    if min(len(audited), len(trained)) < minimum:
        return np.nan, np.nan
    found = stats.ks_2samp(audited, trained)
    return float(found.statistic), float(found.pvalue)


def _optional(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def sampling_psi(expected: np.ndarray, counts: np.ndarray) -> float:
    """The PSI two samples of one distribution show by chance: (k - 1)(1/n + 1/m) for k
    occupied bins, n audited and m training rows (PSI is about the chi-square statistic over
    the rows, whose mean is its degrees of freedom)."""
    occupied = int(np.count_nonzero(expected + counts))
    return max(occupied - 1, 0) * (1 / counts.sum() + 1 / expected.sum())


def _group_drift(
    label: str,
    counts: np.ndarray,
    expected: np.ndarray | None,
    ks: tuple[float, float],
    policy: Policy,
    rng: np.random.Generator,
) -> tuple[GroupDrift, np.ndarray | None]:
    """One group's drift from its audited and training counts (value bins, missing, outside),
    and the bootstrap replicates of its excess PSI (None: no PSI)."""
    rows = int(counts[:OUTSIDE].sum())
    trained = int(expected[:OUTSIDE].sum()) if expected is not None else None
    enough = rows >= policy.min_group_size and (trained is None or trained >= policy.min_group_size)
    if not enough:
        empty = (None,) * 10
        return GroupDrift(label, "insufficient_data", rows, trained, *empty), None
    level = policy.confidence_level
    outside = int(counts[OUTSIDE])
    value = noise = excess = None
    replicates = None
    if expected is not None:
        value = float(psi(expected[:OUTSIDE], counts[:OUTSIDE], policy.data_fit.share_floor))
        noise = sampling_psi(expected[:OUTSIDE], counts[:OUTSIDE])
        excess = max(value - noise, 0.0)
        replicates = _bootstrap(expected[:OUTSIDE], counts[:OUTSIDE], value, noise, policy, rng)
    drift = GroupDrift(
        group=label,
        status="ok",
        rows=rows,
        training_rows=trained,
        missing_rate=counts[MISSING] / rows,
        training_missing_rate=(expected[MISSING] / trained if expected is not None else None),
        outside_rate=outside / rows,
        outside_interval=share_interval(outside, rows, level),
        psi=value,
        psi_noise=noise,
        psi_excess=excess,
        psi_interval=(
            interval_of(replicates, level) if replicates is not None and len(replicates) else None
        ),
        ks=_optional(ks[0]),
        ks_p_value=_optional(ks[1]),
    )
    return drift, replicates


def _bootstrap(
    expected: np.ndarray,
    counts: np.ndarray,
    value: float,
    noise: float,
    policy: Policy,
    rng: np.random.Generator,
) -> np.ndarray:
    """Excess PSI of ``n_boot`` multinomial redraws of the audited ``counts``, less the
    redraws' own bias (their mean over the observed PSI): a bias-corrected percentile
    bootstrap, since a redraw adds sampling PSI of its own; like the excess, never below 0."""
    rows = int(counts.sum())
    if policy.n_boot == 0:
        return np.empty(0)
    drawn = psi(
        expected,
        rng.multinomial(rows, counts / rows, size=policy.n_boot),
        policy.data_fit.share_floor,
    )
    corrected: np.ndarray = np.maximum(drawn - (drawn.mean() - value) - noise, 0.0)
    return corrected


def _grouping_drift(
    column: ColumnBins,
    audited: Grouping,
    reference: _Reference | None,
    frames: _Frames,
    policy: Policy,
    rng: np.random.Generator,
) -> tuple[list[GroupDrift], list[np.ndarray | None]]:
    drifts, replicates = [], []
    for index, label in enumerate(audited.groups):
        counts = audited.columns[column.name][index]
        expected = reference.counts.columns[column.name][index] if reference is not None else None
        ks = _ks(column, frames, index, policy.min_group_size)
        drift, drawn = _group_drift(label, counts, expected, ks, policy, rng)
        drifts.append(drift)
        replicates.append(drawn)
    return drifts, replicates


def _gap(
    drifts: list[GroupDrift], replicates: list[np.ndarray | None], level: float
) -> tuple[float | None, Interval, tuple[str, ...]]:
    measured = [(d, r) for d, r in zip(drifts, replicates, strict=True) if d.psi_excess is not None]
    if len(measured) < 2:
        return None, None, ()
    values = [d.psi_excess for d, _ in measured if d.psi_excess is not None]
    low, high = int(np.argmin(values)), int(np.argmax(values))
    gap = values[high] - values[low]
    draws = [r for _, r in measured if r is not None and len(r)]
    interval = None
    if len(draws) == len(measured):
        stacked = np.stack(draws)
        interval = interval_of(stacked.max(axis=0) - stacked.min(axis=0), level)
    return gap, interval, (measured[low][0].group, measured[high][0].group)


def measure_drift(
    counts: FitCounts,
    training: pd.DataFrame | None,
    audited: pd.DataFrame,
    sensitive: Sequence[SensitiveColumn],
    policy: Policy,
    streamed: bool,
) -> DriftResult:
    """Each column's drift overall and per group of each sensitive feature."""
    bins = counts.bins
    if bins.source == "none":
        return DriftResult(
            status="skipped",
            reason="no --train-data, and the model embeds no category lists or scaling: give "
            "the rows the model was trained on to measure drift",
            skipped_columns=bins.skipped,
        )
    if not bins.columns:
        return DriftResult(
            status="skipped",
            reason="no column of the training data can be binned (see skipped_columns)",
            reference=bins.source,
            skipped_columns=bins.skipped,
        )
    references: tuple[_Reference | None, list[_Reference | None]] = (None, [None] * len(sensitive))
    if training is not None:
        overall, per_feature = _references(bins, training, sensitive)
        references = (overall, list(per_feature))
    rows = len(audited)
    groupings = counts.groupings
    frames = [
        _Frames(
            audited,
            np.zeros(rows, dtype=np.int64),
            training,
            references[0].codes if references[0] is not None else None,
        ),
        *(
            _Frames(audited, column.codes, training, reference.codes if reference else None)
            for column, reference in zip(sensitive, references[1], strict=True)
        ),
    ]
    columns = []
    for position, column in enumerate(bins.columns):
        # One generator per column: its intervals do not depend on which columns precede it.
        rng = np.random.default_rng([policy.seed, position])
        overall_drift, _ = _grouping_drift(
            column, groupings[0], references[0], frames[0], policy, rng
        )
        by_feature = []
        for grouping, reference, rows_of in zip(
            groupings[1:], references[1], frames[1:], strict=True
        ):
            drifts, replicates = _grouping_drift(column, grouping, reference, rows_of, policy, rng)
            gap, interval, pair = _gap(drifts, replicates, policy.confidence_level)
            by_feature.append(
                FeatureDrift(
                    feature=str(grouping.name),
                    reference=reference.note if reference is not None else "no training data",
                    groups=tuple(drifts),
                    psi_gap=gap,
                    psi_gap_interval=interval,
                    gap_groups=pair,
                )
            )
        columns.append(
            ColumnDrift(
                column.name, column.kind, column.labels(), overall_drift[0], tuple(by_feature)
            )
        )
    return DriftResult(
        status="ok",
        reference=bins.source,
        ks_rows=(
            None
            if training is None
            else "the streamed audit's seeded sample"
            if streamed
            else "every row"
        ),
        columns=tuple(columns),
        skipped_columns=bins.skipped,
    )
