"""The CI gate: which findings fail the build under the policy, or, against a baseline report,
which findings are regressions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from audit.core.findings import Finding, Severity
from audit.core.policy import Policy
from audit.core.result import FileInfo, Gate, GateViolation


@dataclass(frozen=True)
class Baseline:
    """What the regression gate needs of an earlier report: its file and each finding's
    severity by fingerprint (``audit.core.compare.load_report`` reads one)."""

    file: FileInfo
    severities: Mapping[str, Severity]


@dataclass(frozen=True)
class Graded:
    """What the gate reads of one measurement of a finding."""

    severity: Severity
    statistically_clear: bool | None
    p_value: float | None  # a selection-rate ratio's Fisher's exact test; None for others


def chance_explains(p_value: float | None, p_value_alpha: float | None) -> bool:
    """Whether the policy lets chance explain a selection-rate ratio: it requires
    significance (``p_value_alpha`` set) and the ratio's test does not reach it."""
    return p_value_alpha is not None and p_value is not None and p_value >= p_value_alpha


def violates(
    measured: Graded,
    fail_on: Severity,
    require_significance: bool,
    p_value_alpha: float | None = None,
) -> bool:
    """Whether one measurement with this grade fails the absolute gate."""
    if measured.severity.rank < fail_on.rank:
        return False
    # statistically_clear is None where the finding has no sampling error to speak of.
    if require_significance and measured.statistically_clear is False:
        return False
    return not chance_explains(measured.p_value, p_value_alpha)


def finding_violates(
    measurements: Sequence[Graded],
    fail_on: Severity,
    require_significance: bool,
    p_value_alpha: float | None = None,
) -> bool:
    """Whether a finding (its headline first, then its related measurements) fails the
    absolute gate. Its headline decides, unless chance explains the headline's ratio: then
    the finding fails only if another of its measurements does (an equalized-odds gap, a
    more significant group's four-fifths ratio)."""
    headline, *related = measurements
    if violates(headline, fail_on, require_significance, p_value_alpha):
        return True
    if not violates(headline, fail_on, require_significance):
        return False
    return any(violates(row, fail_on, require_significance, p_value_alpha) for row in related)


def graded_rows(finding: Finding) -> tuple[Graded, ...]:
    return tuple(
        Graded(row.severity, row.evidence.statistically_clear, row.evidence.details.get("p_value"))
        for row in finding.measurements()
    )


ChangeKind = Literal["new", "resolved", "worsened", "improved", "unchanged"]


def change_kind(before: Severity | None, now: Severity | None) -> ChangeKind:
    """How a finding moved since the baseline: the one rule of the regression gate and of
    ``rai-audit diff`` (a regression is a new or worsened finding that fails the gate)."""
    if before is None:
        return "new"
    if now is None:
        return "resolved"
    if now.rank > before.rank:
        return "worsened"
    return "improved" if now.rank < before.rank else "unchanged"


def is_regression(kind: ChangeKind, fails_gate: bool) -> bool:
    """The one regression rule of the gate, ``rai-audit diff`` and the CLI's verdict: a new or
    worsened finding that would fail the absolute gate."""
    return fails_gate and kind in ("new", "worsened")


def evaluate_gate(
    findings: tuple[Finding, ...], policy: Policy, baseline: Baseline | None = None
) -> Gate:
    """The absolute gate, or with ``baseline`` the regression gate: of the findings that would
    fail the absolute gate, only those new since the baseline or graded more severe than there.
    """
    violations = []
    carried = 0
    for finding in findings:
        if not finding_violates(
            graded_rows(finding),
            policy.fail_on,
            policy.require_significance,
            policy.p_value_alpha,
        ):
            continue
        severity = finding.severity.value
        if baseline is None:
            violations.append(
                GateViolation(
                    finding=finding.id, severity=severity, reason=f"{severity}: {finding.title}"
                )
            )
            continue
        before = baseline.severities.get(finding.fingerprint)
        kind = change_kind(before, finding.severity)
        if not is_regression(kind, fails_gate=True):
            carried += 1
            continue
        change = "new" if before is None else f"was {before.value}"
        violations.append(
            GateViolation(
                finding=finding.id,
                severity=severity,
                reason=f"{severity} ({change}): {finding.title}",
                kind=kind,
            )
        )
    return Gate(
        passed=not violations,
        fail_on=policy.fail_on.value,
        require_significance=policy.require_significance,
        p_value_alpha=policy.p_value_alpha,
        violations=tuple(violations),
        baseline=baseline.file if baseline else None,
        carried=carried,
    )
