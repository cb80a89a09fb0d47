"""What changed between a baseline report and the current one: the frozen result of
``audit.core.compare.compare``.

Kept apart from audit.core.compare, which reads and validates reports, so that a renderer
(reports.terminal) uses these types without loading the schema validator and the policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from audit.core.result import FileInfo

Assessment = Literal["worse", "better", "neutral"]
Scope = Literal["group", "disparity"]


@dataclass(frozen=True)
class FindingChange:
    fingerprint: str
    finding: str  # the finding's id, the same in both runs
    check: str
    title: str  # the current run's words, or the baseline's for a resolved finding
    baseline_severity: str | None  # None: not in the baseline
    current_severity: str | None  # None: not in the current run
    regression: bool  # new or worsened, and failing the current policy's gate


@dataclass(frozen=True)
class MetricChange:
    scope: Scope
    feature: tuple[str, ...]
    group: tuple[str, ...] | None  # for a group metric
    comparison: str | None  # for a disparity: between_groups or reference
    metric: str
    baseline_value: float
    baseline_interval: tuple[float, float]
    current_value: float
    current_interval: tuple[float, float]
    direction: Literal["up", "down"]
    assessment: Assessment  # disparities only are worse or better; group metrics neutral


@dataclass(frozen=True)
class RunSide:
    report: FileInfo | None  # None for a fresh result that has no file yet
    schema_version: str
    tool_version: str
    started_at: str
    model_kind: str
    model_file: FileInfo | None
    data_file: FileInfo


@dataclass(frozen=True)
class Comparison:
    baseline: RunSide
    current: RunSide
    fail_on: str  # the current run's policy decides what is a regression
    require_significance: bool
    warnings: tuple[str, ...]
    new: tuple[FindingChange, ...]
    resolved: tuple[FindingChange, ...]
    worsened: tuple[FindingChange, ...]
    improved: tuple[FindingChange, ...]
    unchanged: int
    metric_changes: tuple[MetricChange, ...]
    metrics_compared: int  # metrics present in both runs with a value and interval in each
    metrics_not_judged: int  # present in both, but without a value or interval on a side

    @property
    def regressions(self) -> tuple[FindingChange, ...]:
        return tuple(change for change in (*self.new, *self.worsened) if change.regression)

    @property
    def worse_metrics(self) -> tuple[MetricChange, ...]:
        return tuple(change for change in self.metric_changes if change.assessment == "worse")

    @property
    def got_worse(self) -> bool:
        """Exit 1 of ``rai-audit diff``: a regression finding or a disparity worse beyond
        the intervals."""
        return bool(self.regressions or self.worse_metrics)


__all__ = ["Assessment", "Comparison", "FindingChange", "MetricChange", "RunSide", "Scope"]
