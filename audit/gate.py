"""The CI gate: which findings fail the build under the policy."""

from __future__ import annotations

from audit.findings import Finding
from audit.policy import Policy
from audit.result import Gate, GateViolation


def evaluate_gate(findings: tuple[Finding, ...], policy: Policy) -> Gate:
    violations = []
    for finding in findings:
        if finding.severity.rank < policy.fail_on.rank:
            continue
        # statistically_clear is None where the finding has no sampling error to speak of.
        if policy.require_significance and finding.evidence.statistically_clear is False:
            continue
        violations.append(
            GateViolation(
                finding=finding.id,
                severity=finding.severity.value,
                reason=f"{finding.severity.value}: {finding.title}",
            )
        )
    return Gate(
        passed=not violations,
        fail_on=policy.fail_on.value,
        require_significance=policy.require_significance,
        violations=tuple(violations),
    )
