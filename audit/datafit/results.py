"""The data-fit part of a finished audit: frozen dataclasses serialized under ``data_fit``.

Every figure is an aggregate (a share, an index, a count); no value of any row is kept, and
a category appears only as a bin name, as the training data or the model's metadata names it.
"""

from __future__ import annotations

from dataclasses import dataclass

from audit.core.status import MeasuredStatus, RunStatus

Interval = tuple[float, float] | None


@dataclass(frozen=True)
class GroupDrift:
    """One column in one group (or in every row): how far it is from the training data."""

    group: str
    status: MeasuredStatus
    rows: int
    training_rows: int | None  # None: no training data (metadata bins)
    missing_rate: float | None
    training_missing_rate: float | None
    outside_rate: float | None  # outside the training range, or an unseen category
    outside_interval: Interval
    psi: float | None  # population stability index against the training rows of the group
    psi_noise: float | None  # the PSI sampling alone gives: (k - 1)(1/rows + 1/training_rows)
    psi_excess: float | None  # psi - psi_noise, at least 0: what the checks judge
    psi_interval: Interval  # of psi_excess
    ks: float | None  # Kolmogorov-Smirnov statistic (numeric columns)
    ks_p_value: float | None


@dataclass(frozen=True)
class FeatureDrift:
    """One column across the groups of one sensitive feature."""

    feature: str
    reference: str  # "the group's training rows", or "all training rows" (and why)
    groups: tuple[GroupDrift, ...]
    psi_gap: float | None  # most drifted group's excess PSI minus the least drifted's
    psi_gap_interval: Interval
    gap_groups: tuple[str, ...]  # (least drifted, most drifted)


@dataclass(frozen=True)
class ColumnDrift:
    column: str
    kind: str  # "numeric" or "categorical"
    bins: tuple[str, ...]  # the value bins, in words; missing values are one more bin
    overall: GroupDrift
    by_feature: tuple[FeatureDrift, ...]


@dataclass(frozen=True)
class DriftResult:
    status: RunStatus
    reason: str | None = None
    reference: str = "none"  # "training data", "model metadata" or "none"
    ks_rows: str | None = None  # which rows KS read: "every row" or the streamed sample
    columns: tuple[ColumnDrift, ...] = ()
    skipped_columns: tuple[str, ...] = ()  # one line each: the column and why


@dataclass(frozen=True)
class GroupLabelNoise:
    group: str
    status: MeasuredStatus
    rows: int
    negatives_scored_high: int  # negative labels the model scores at least confident_high
    positives_scored_low: int  # positive labels the model scores at most confident_low
    rate: float | None  # both, over the group's rows
    interval: Interval


@dataclass(frozen=True)
class FeatureLabelNoise:
    feature: str
    groups: tuple[GroupLabelNoise, ...]


@dataclass(frozen=True)
class LabelNoiseResult:
    status: RunStatus
    reason: str | None = None
    confident_high: float | None = None
    confident_low: float | None = None
    overall: GroupLabelNoise | None = None
    by_feature: tuple[FeatureLabelNoise, ...] = ()


@dataclass(frozen=True)
class DataFitReport:
    headline: str  # the section in one plain sentence
    drift: DriftResult
    label_noise: LabelNoiseResult
