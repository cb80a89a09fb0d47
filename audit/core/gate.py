"""The CI gate: which findings fail the build under the policy, or, against a baseline report,
which findings are regressions."""

from __future__ import annotations

from collections.abc import Mapping
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


def violates(
    severity: Severity,
    statistically_clear: bool | None,
    fail_on: Severity,
    require_significance: bool,
) -> bool:
    """Whether a finding with this grade fails the absolute gate."""
    if severity.rank < fail_on.rank:
        return False
    # statistically_clear is None where the finding has no sampling error to speak of.
    return not (require_significance and statistically_clear is False)


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
        if not violates(
            finding.severity,
            finding.evidence.statistically_clear,
            policy.fail_on,
            policy.require_significance,
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
        violations=tuple(violations),
        baseline=baseline.file if baseline else None,
        carried=carried,
    )
