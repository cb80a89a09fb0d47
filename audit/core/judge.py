"""Running the checks and judging what they found: one finding per cause (audit.core.causes)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from audit.core.causes import one_finding_per_cause
from audit.core.check import AuditContext, Check, CheckSkipped
from audit.core.check_knowledge import causes, check_table
from audit.core.findings import Finding
from audit.core.result import CheckRun, CheckStatus


def run_checks(
    context: AuditContext, checks: Sequence[Check]
) -> tuple[tuple[Finding, ...], tuple[CheckRun, ...]]:
    findings: list[Finding] = []
    # In check order: a finished run, or the id and description of a check that ran and
    # whose counts wait for the judgement of causes.
    outcomes: list[CheckRun | tuple[str, str | None]] = []
    for check in checks:
        # Carried into the result so that every report describes a check from one source.
        info = check_table().get(check.id)
        description = info.description if info is not None else None
        try:
            found = check.run(context)
        except CheckSkipped as skip:
            outcomes.append(CheckRun(check.id, CheckStatus.SKIPPED, str(skip), 0, description))
            continue
        except Exception as exc:  # a crashing check is recorded; the audit goes on
            reason = f"{type(exc).__name__}: {exc}".strip()
            outcomes.append(CheckRun(check.id, CheckStatus.ERROR, reason, 0, description))
            continue
        findings.extend(found)
        outcomes.append((check.id, description))
    judged = one_finding_per_cause(findings, causes(), context.policy.headline_order)
    headed = Counter(finding.check for finding in judged.findings)
    runs = tuple(
        outcome
        if isinstance(outcome, CheckRun)
        else CheckRun(
            outcome[0],
            CheckStatus.OK,
            None,
            headed[outcome[0]],
            outcome[1],
            violations=judged.violations.get(outcome[0], 0),
        )
        for outcome in outcomes
    )
    return judged.findings, runs
