"""The engine's judgement: grading what the checks measured, and one finding per cause.

Each check returns measurements (audit.core.check.Measurement). Here each is graded against
its threshold or by its rule; a violation becomes a finding (its id, wording from the check's
knowledge file, owner from the accountability table). Every measurement is recorded as a
comparison with its outcome (passed, violated, or undefined when it has no value to hold against
its threshold), so that reports list what was compared without judging again. Then findings of
one cause are merged (audit.core.causes), once for every check.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

from audit.core.causes import one_finding_per_cause
from audit.core.check import AuditContext, Check, CheckSkipped, Grade, Measurement, grade, graded_as
from audit.core.check_knowledge import CheckInfo, causes
from audit.core.findings import Comparison, ComparisonOutcome, Finding, finding_id, fingerprint
from audit.core.knowledge import knowledge_of
from audit.core.result import CheckRun, CheckStatus


@dataclass(frozen=True)
class Verdicts:
    findings: tuple[Finding, ...]  # one per cause, most severe first
    comparisons: tuple[Comparison, ...]  # every measurement, in the order the checks made them
    runs: tuple[CheckRun, ...]  # in check order


def run_checks(context: AuditContext, checks: Sequence[Check]) -> Verdicts:
    findings: list[Finding] = []
    comparisons: list[Comparison] = []
    # In check order: a finished run, or the id and description of a check that ran and
    # whose counts wait for the judgement of causes.
    outcomes: list[CheckRun | tuple[str, str | None]] = []
    for check in checks:
        info = knowledge_of(check)
        # Carried into the result so that every report describes a check from one source.
        description = info.description if info is not None else None
        try:
            made, compared = _judged(check.id, info, context, check.run(context))
        except CheckSkipped as skip:
            outcomes.append(CheckRun(check.id, CheckStatus.SKIPPED, str(skip), 0, description))
            continue
        except Exception as exc:  # a crashing check is recorded; the audit goes on
            reason = f"{type(exc).__name__}: {exc}".strip()
            outcomes.append(CheckRun(check.id, CheckStatus.ERROR, reason, 0, description))
            continue
        findings.extend(made)
        comparisons.extend(compared)
        outcomes.append((check.id, description))
    merged = one_finding_per_cause(findings, causes(), context.policy.headline_order)
    headed = Counter(finding.check for finding in merged.findings)
    runs = tuple(
        outcome
        if isinstance(outcome, CheckRun)
        else CheckRun(
            outcome[0],
            CheckStatus.OK,
            None,
            headed[outcome[0]],
            outcome[1],
            violations=merged.violations.get(outcome[0], 0),
        )
        for outcome in outcomes
    )
    return Verdicts(merged.findings, tuple(comparisons), runs)


def _judged(
    check_id: str, info: CheckInfo | None, context: AuditContext, measured: Sequence[Measurement]
) -> tuple[list[Finding], list[Comparison]]:
    findings: list[Finding] = []
    comparisons: list[Comparison] = []
    if not measured:
        return findings, comparisons
    if info is None:
        raise LookupError(
            f"check {check_id!r} has no knowledge file: ship audit/knowledge/checks/"
            f"{check_id}.toml or give the check a 'knowledge' attribute (docs/plugins.md)"
        )
    for measurement in measured:
        key = fingerprint(info.id, *measurement.key)
        graded = judge(info, measurement)
        if graded is not None:
            finding = _finding(info, context, measurement, graded)
            findings.append(finding)
            # The finding's evidence, so that a report finds the finding that holds it.
            outcome, evidence = ComparisonOutcome.VIOLATED, finding.evidence
        elif measurement.threshold is not None and measurement.evidence.value is None:
            outcome, evidence = ComparisonOutcome.UNDEFINED, measurement.evidence
        else:
            outcome, evidence = ComparisonOutcome.PASSED, measurement.evidence
        comparisons.append(Comparison(info.id, key, evidence, outcome))
    return findings, comparisons


def judge(info: CheckInfo, measurement: Measurement) -> Grade | None:
    """The grade of one measurement, None when it complies with the policy."""
    if measurement.rule is not None:
        return graded_as(info, measurement.rule, **_words(measurement))
    evidence = measurement.evidence
    if measurement.threshold is None or evidence.value is None:
        return None
    return grade(info, measurement.threshold, evidence.value, evidence.interval, measurement.show)


def _words(measurement: Measurement) -> dict[str, object]:
    evidence, show = measurement.evidence, measurement.show
    words: dict[str, object] = {"value": show(evidence.value)}
    if evidence.threshold is not None:
        if evidence.value is not None:
            words["value"] = show.apart_from(evidence.value, evidence.threshold)
        words["threshold"] = show(evidence.threshold)
        words["bound"] = "minimum" if evidence.bound == "min" else "maximum"
    return {**words, **measurement.words}


def _finding(
    info: CheckInfo, context: AuditContext, measurement: Measurement, graded: Grade
) -> Finding:
    evidence = measurement.evidence
    if measurement.threshold is not None:
        evidence = replace(evidence, statistically_clear=graded.clear)
    words = _words(measurement)
    owner = context.accountability.owner(info, graded.severity)
    return Finding(
        id=finding_id(info.id, *measurement.key),
        fingerprint=fingerprint(info.id, *measurement.key),
        check=info.id,
        title=info.title.format(**words),
        severity=graded.severity,
        severity_reason=graded.reason,
        roles=(owner.accountable, *owner.consulted),
        accountable=owner.accountable,
        consulted=owner.consulted,
        actions=owner.actions,
        evidence=evidence,
        recommendation=info.recommendation.format(**words),
        references=owner.references,
    )
