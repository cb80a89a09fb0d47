"""The mitigation what-if of a finished audit: frozen dataclasses serialized under the
report's ``what_if`` (docs/what-if.md).

Every figure is measured on audited rows that the mitigation was not fitted on (cross-fitting),
with a Poisson-bootstrap interval of the measured confusion counts. Nothing here is advice to
deploy: ``caution`` and ``roles`` say what the figures are evidence of.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from audit.core.status import MeasuredStatus, RunStatus

Interval = tuple[float, float] | None

# The figures of one method, in the order the trade-off table shows them.
ACCURACY = "accuracy"
TRADE_OFF_METRICS = (ACCURACY, "demographic_parity_difference", "equalized_odds_difference")
BEFORE = "before"


@dataclass(frozen=True)
class GroupSelection:
    """One group's selection rate under one method."""

    group: tuple[str, ...]
    n: int
    status: MeasuredStatus  # insufficient_data: fewer than min_group_size rows, no rate shown
    selection_rate: float | None
    ci: Interval


@dataclass(frozen=True)
class Method:
    """One row of the trade-off table: the model's own decisions ("before") or a mitigation."""

    id: str  # before, thresholds_demographic_parity, thresholds_equalized_odds, reweighting
    name: str  # in words, for the tables
    status: RunStatus
    reason: str | None  # why it was skipped or crashed
    metrics: dict[str, float | None]  # TRADE_OFF_METRICS; None where undefined
    ci: dict[str, Interval]
    undefined: dict[str, str]  # metric -> why it has no value
    groups: tuple[GroupSelection, ...]
    # Groups the mitigation left at the model's decisions (too few rows, one label class, no
    # training rows), each with why.
    unchanged: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SliceWhatIf:
    """The trade-off table of one sensitive feature: its groups get their own thresholds."""

    feature: tuple[str, ...]
    methods: tuple[Method, ...]  # "before" first


@dataclass(frozen=True)
class WhatIf:
    status: RunStatus
    reason: str | None
    # How the figures were made: the split, the libraries, the interval.
    method: str = ""
    caution: str = ""  # per-group thresholds can be disparate treatment: evidence, not advice
    roles: dict[str, str] = field(default_factory=dict)  # role -> what it reads in the figures
    reweighting: str = ""  # what the reweighting estimate is: an approximation, not a retrain
    seed: int = 0
    halves: tuple[int, ...] = ()  # rows in each half of the cross-fitting split
    slices: tuple[SliceWhatIf, ...] = ()
    notes: tuple[str, ...] = ()
