"""The finished audit: frozen dataclasses and enums that reports render and JSON serializes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from audit.core.check_knowledge import CheckInfo, MetricMeaning, Ownership
from audit.core.findings import Comparison, Finding, RoleInfo, Severity
from audit.core.status import CheckStatus, GroupStatus
from audit.datafit.results import DataFitReport
from audit.explain.results import Explanations
from audit.mitigation.results import WhatIf
from audit.privacy.report import PrivacyReport
from audit.regulatory.results import LL144Pack
from audit.robustness.results import Robustness
from audit.text.results import TextReport

SCHEMA_VERSION = "1.5.0"
# The metadata of a field that renderers in this process read but the JSON contract does not
# carry (the serializer leaves it out): ``field(default=..., metadata=IN_MEMORY)``.
IN_MEMORY = {"serialized": False}


# How a group metric over too few relevant rows says so (audit.fairness.tables.insufficient_reason):
# "insufficient data: 3 positive labels, fewer than min_group_size (30)".
INSUFFICIENT_DATA = "insufficient data"


@dataclass(frozen=True)
class GroupResult:
    feature: tuple[str, ...]
    group: tuple[str, ...]
    n: int
    positives: int  # rows with a positive label
    status: GroupStatus
    metrics: dict[str, float | None]
    undefined: dict[str, str]  # metric -> why it has no value
    ci: dict[str, tuple[float, float] | None]

    def shortfall(self, metric: str) -> tuple[str, str] | None:
        """Where a metric's denominator is too small: what the group has ("3 positive
        labels") and the rule it falls short of ("fewer than min_group_size (30)"); None for
        a value undefined for another reason. Read from the reason's fixed wording
        (audit.fairness.tables)."""
        reason = self.undefined.get(metric, "")
        if not reason.startswith(INSUFFICIENT_DATA + ": "):
            return None
        counted, _, rule = reason.removeprefix(INSUFFICIENT_DATA + ": ").partition(", ")
        return counted, rule

    def missing(self, metric: str) -> str:
        """What a table cell shows for a metric without a value: "too few (3 positive
        labels)" where its denominator is too small, else "undefined"."""
        shortfall = self.shortfall(metric)
        return "undefined" if shortfall is None else f"too few ({shortfall[0]})"


@dataclass(frozen=True)
class UndefinedMetric:
    """One metric left without a value for one reason, and the groups it is missing for."""

    metric: str
    reason: str
    groups: tuple[str, ...]  # "Female / Black (sex × race)", with its count where too few


def undefined_metrics(groups: Iterable[GroupResult]) -> tuple[UndefinedMetric, ...]:
    """Every metric left without a value, one entry per metric and reason, for the reports:
    groups short of min_group_size share an entry whatever their own counts, which it
    lists per group ("Female / Black (sex × race): 19 positive labels")."""
    found: dict[tuple[str, str], list[str]] = {}
    for group in groups:
        name = f"{' / '.join(group.group)} ({' × '.join(group.feature)})"
        for metric, reason in group.undefined.items():
            shortfall = group.shortfall(metric)
            if shortfall is None:
                found.setdefault((metric, reason), []).append(name)
            else:
                counted, rule = shortfall
                found.setdefault((metric, f"{INSUFFICIENT_DATA}: {rule}"), []).append(
                    f"{name}: {counted}"
                )
    return tuple(
        UndefinedMetric(metric, reason, tuple(names))
        for (metric, reason), names in sorted(found.items())
    )


@dataclass(frozen=True)
class Disparity:
    feature: tuple[str, ...]
    metric: str
    comparison: str  # "between_groups" or "reference"
    value: float | None
    ci: tuple[float, float] | None
    reference_group: tuple[str, ...] | None
    groups: tuple[tuple[str, ...], ...]  # the groups that set the value (worst pair)
    undefined: str | None = None
    judged_by: str = "fairness.disparity"  # the check that holds it against its threshold


@dataclass(frozen=True)
class CheckRun:
    id: str
    status: CheckStatus
    reason: str | None
    findings: int
    # What the check judges (its knowledge file); None for a stage ("explain", "privacy", "text").
    description: str | None = None
    # Its measurements past their thresholds: more than ``findings`` where several are one
    # cause (audit.core.causes) and another check's finding heads them. None for a stage.
    violations: int | None = None


@dataclass(frozen=True)
class GateViolation:
    finding: str
    severity: str
    reason: str
    kind: str | None = None  # with a baseline: "new" or "worsened"; None for the absolute gate


@dataclass(frozen=True)
class Gate:
    passed: bool
    fail_on: str
    require_significance: bool
    violations: tuple[GateViolation, ...]
    # The level below which a selection-rate ratio's p-value must fall for the ratio to fail
    # the gate (four_fifths_alpha); None when the policy does not require it.
    p_value_alpha: float | None = None
    baseline: FileInfo | None = None  # the report the run was gated against (--baseline)
    # With a baseline: findings that fail the absolute gate but were already in the baseline
    # at that grade or worse. The terminal summary counts them; the report lists the findings.
    carried: int = field(default=0, metadata=IN_MEMORY)


@dataclass(frozen=True)
class FileInfo:
    path: str
    sha256: str
    bytes: int


@dataclass(frozen=True)
class ModelInfo:
    kind: str
    file: FileInfo | None
    trusted: bool  # loaded by unpickling because the user passed --trust-model
    output_kind: str
    output_shape: tuple[int, ...]
    threshold: float | None
    positive_label: str
    feature_source: str | None
    features: tuple[str, ...]
    notes: tuple[str, ...]


@dataclass(frozen=True)
class DataInfo:
    file: FileInfo
    rows: int
    columns: int
    target: str
    sensitive: tuple[str, ...]
    binning: dict[str, str]
    unseen_categories: dict[str, int]


@dataclass(frozen=True)
class RunInfo:
    started_at: str
    duration_seconds: float
    command: tuple[str, ...]
    seed: int
    n_boot: int
    confidence_level: float
    model: ModelInfo
    data: DataInfo
    config: dict[str, Any]
    config_file: str | None
    versions: dict[str, str]
    platform: str


@dataclass(frozen=True)
class Knowledge:
    """What the audit knew about its checks, roles and metrics, copied into the result so that
    renderers read everything from the result (audit.core.knowledge builds it)."""

    checks: Mapping[str, CheckInfo] = field(default_factory=dict)  # by check id, plugins too
    # Who acts on a finding of each check at each severity, the policy's overrides applied.
    owners: Mapping[str, Mapping[Severity, Ownership]] = field(default_factory=dict)
    roles: tuple[RoleInfo, ...] = ()
    metrics: Mapping[str, MetricMeaning] = field(default_factory=dict)
    # The shipped policy as JSON, so a report can show what the run changed from it.
    policy_defaults: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditResult:
    tool_version: str
    run: RunInfo
    groups: tuple[GroupResult, ...]
    disparities: tuple[Disparity, ...]
    findings: tuple[Finding, ...]
    checks: tuple[CheckRun, ...]
    gate: Gate
    schema_version: str = field(default=SCHEMA_VERSION)
    # PII found, membership and attribute inference, the model file scan (audit.privacy).
    privacy: PrivacyReport | None = None
    # Attributions, proxies and the flip test (audit.explain); None when the stage was not run.
    explanations: Explanations | None = None
    # Identity-term probes of a text model (audit.text); None unless --text-column was given.
    text: TextReport | None = None
    # The mitigation what-if (audit.mitigation); None unless --what-if was given.
    what_if: WhatIf | None = None
    # The New York City Local Law 144 pack (audit.regulatory); None unless --format ll144.
    ll144: LL144Pack | None = None
    # Perturbation stability and recourse per group (audit.robustness); None when not run.
    robustness: Robustness | None = None
    # Drift from the training data and label-noise suspicion, per group (audit.datafit).
    data_fit: DataFitReport | None = None
    # Every measurement with its outcome, in the order the checks made them.
    comparisons: tuple[Comparison, ...] = field(default=(), metadata=IN_MEMORY)
    knowledge: Knowledge = field(default_factory=Knowledge, metadata=IN_MEMORY)

    @property
    def incomplete(self) -> bool:
        return any(check.status is CheckStatus.ERROR for check in self.checks)

    @property
    def inapplicable(self) -> tuple[CheckRun, ...]:
        """Skipped checks made for another kind of audit: the text checks of a tabular one.
        Summaries leave them out of "skipped", which should list only what this audit could
        have done with more input."""
        if self.text is not None:
            return ()
        return tuple(
            check
            for check in self.checks
            if check.status is CheckStatus.SKIPPED and check.id.startswith("text.")
        )
