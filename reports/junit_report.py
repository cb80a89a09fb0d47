"""report.junit.xml: the gate as JUnit test results, so CI systems show its failures natively.

One test suite per check; one test case per comparison the engine recorded for the fairness
and data checks (``AuditResult.comparisons``: each judged disparity, each group's selection
rate against the highest, each slice's base-rate gap and group sizes), and one for any other
finding at or above ``fail_on``. Nothing is judged or computed again here.

A case fails when the finding it heads is a gate violation; a comparison that is one more
measurement of a finding's cause (audit/core/causes.py) passes and names that finding, so each
cause fails once. A finding that does not fail the gate (below ``fail_on``, within its interval
under ``require_significance``, or not new against a baseline) passes with the finding in its
output. A comparison without a value is a skipped case, and so is a skipped check; a crashed
one is an error. The XML validates against the JUnit schema Jenkins uses
(tests/schemas/junit-10.xsd).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from audit.core.findings import Comparison, ComparisonOutcome, Evidence, Finding, Severity
from audit.core.result import AuditResult, CheckStatus
from reports.significance import significance_note

Outcome = Literal["passed", "failure", "error", "skipped"]

# XML 1.0 cannot carry most control characters, not even escaped.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml(text: object) -> str:
    return _NOT_XML.sub(lambda match: f"\\x{ord(match.group(0)):02x}", str(text))


def _number(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.3f}"


def _interval(ci: tuple[float, float] | None) -> str:
    return "none" if ci is None else f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def _label(parts: tuple[str, ...]) -> str:
    return "/".join(parts)


def _slice(feature: tuple[str, ...]) -> str:
    return "×".join(feature)


@dataclass
class Case:
    classname: str
    name: str
    outcome: Outcome = "passed"
    message: str = ""
    kind: str = ""
    body: str = ""  # the failure's, error's or skipped element's text
    output: str = ""  # system-out: what was compared, for passing cases too


class _Cases:
    """Builds the test cases of one result, remembering which findings they cover."""

    def __init__(self, result: AuditResult) -> None:
        self.result = result
        self.violations = {violation.finding: violation for violation in result.gate.violations}
        self.covered: set[str] = set()
        self.fail_on = Severity(result.gate.fail_on)
        self.confidence = f"{result.run.confidence_level:.0%}"

    def comparison_case(self, comparison: Comparison, describe: Describe) -> Case:
        """The case of one comparison. The finding that holds it decides the outcome when the
        comparison heads it; one that is another measurement of a finding's cause passes and
        names that finding, so that each cause fails once."""
        name, compared = describe(comparison, self.confidence)
        if comparison.outcome is ComparisonOutcome.UNDEFINED:
            why = comparison.evidence.details.get("undefined") or "no value"
            return Case(comparison.check, name, "skipped", message=f"undefined: {why}")
        case = Case(classname=comparison.check, name=name, output=compared)
        if comparison.outcome is not ComparisonOutcome.VIOLATED:
            return case
        for finding in self.result.findings:
            for position, row in enumerate(finding.measurements()):
                if row.check != comparison.check or row.evidence != comparison.evidence:
                    continue
                self.covered.add(finding.fingerprint)
                if position == 0:
                    self._apply(case, finding, compared)
                else:
                    case.output = (
                        f"{compared}\n\nPast its threshold ({row.severity.value}), and one more "
                        f"measurement of finding {finding.id}: {finding.title}. The cause is "
                        "reported, and fails the gate, once."
                    )
                return case
        return case

    def _apply(self, case: Case, finding: Finding, compared: str) -> None:
        violation = self.violations.get(finding.id)
        details = finding_details(finding, self.confidence)
        if violation is not None:
            case.outcome = "failure"
            case.message = violation.reason
            case.kind = f"{finding.severity.value} finding"
            case.body = details
            case.output = compared
        else:
            case.output = (
                f"{compared}\n\nNot a gate violation: {self._why_not(finding)}\n\n{details}"
            )

    def _why_not(self, finding: Finding) -> str:
        gate = self.result.gate
        if finding.severity.rank < self.fail_on.rank:
            return f"{finding.severity.value} is below fail_on={gate.fail_on}."
        if gate.require_significance and finding.evidence.statistically_clear is False:
            return "its interval straddles the threshold and require_significance is on."
        if getattr(gate, "baseline", None) is not None:
            return "it is neither new nor worse than in the baseline."
        return "the gate did not count it."

    def finding_case(self, finding: Finding) -> Case:
        """A case for a finding that no enumerated comparison covered."""
        case = Case(classname=finding.check, name=finding.fingerprint)
        self.covered.add(finding.fingerprint)
        self._apply(case, finding, finding.title)
        return case


def finding_details(finding: Finding, confidence: str) -> str:
    evidence = finding.evidence
    lines = [
        finding.title,
        "",
        f"check: {finding.check}",
        f"finding: {finding.id}",
        f"fingerprint: {finding.fingerprint}",
        f"severity: {finding.severity.value}",
        f"{evidence.metric}: {_number(evidence.value)}",
        f"{confidence} interval: {_interval(evidence.interval)}",
    ]
    if evidence.threshold is not None:
        lines.append(f"threshold: {_threshold(evidence)}")
    if evidence.groups:
        sizes = [
            f"{_label(group)} (n={evidence.n[index]})" if index < len(evidence.n) else _label(group)
            for index, group in enumerate(evidence.groups)
        ]
        lines.append(f"groups: {' vs '.join(sizes)}")
    if evidence.statistically_clear is not None:
        clear = "yes" if evidence.statistically_clear else "no (interval straddles threshold)"
        lines.append(f"statistically clear: {clear}")
    lines.append(f"accountable: {finding.accountable.value}")
    if finding.consulted:
        lines.append(f"consulted: {', '.join(role.value for role in finding.consulted)}")
    for role, action in finding.actions.items():
        lines.append(f"action for {role.value}: {action}")
    lines.append(f"recommendation: {finding.recommendation}")
    lines.extend(f"reference: {reference}" for reference in finding.references)
    return "\n".join(lines)


def _threshold(evidence: Evidence) -> str:
    side = "minimum" if evidence.bound == "min" else "maximum"
    return f"{side} {_number(evidence.threshold)}"


# Each enumerated comparison's case name and "compared" text, from what the engine recorded.
Describe = Callable[[Comparison, str], tuple[str, str]]


def _disparity(comparison: Comparison, confidence: str) -> tuple[str, str]:
    evidence = comparison.evidence
    name = f"{evidence.metric} for {_slice(evidence.feature)}"
    groups = " vs ".join(_label(group) for group in evidence.groups)
    compared = (
        f"{name}: {_number(evidence.value)}, {confidence} interval "
        f"{_interval(evidence.interval)}; threshold {_threshold(evidence)}; groups {groups}"
        f"{significance_note(evidence)}"
    )
    return name, compared


def _four_fifths(comparison: Comparison, confidence: str) -> tuple[str, str]:
    evidence = comparison.evidence
    group, top = evidence.groups
    name = f"{evidence.metric} for {_slice(evidence.feature)}={_label(group)}"
    compared = (
        f"{name}: selection rate {evidence.details['selection_rate']:.3f} over the highest, "
        f"{_label(top)}'s {evidence.details['highest_selection_rate']:.3f}, is "
        f"{_number(evidence.value)}; threshold {_threshold(evidence)}"
        f"{significance_note(evidence)}"
    )
    return name, compared


def _base_rate_gap(comparison: Comparison, confidence: str) -> tuple[str, str]:
    evidence = comparison.evidence
    low, high = evidence.groups
    name = f"{evidence.metric} for {_slice(evidence.feature)}"
    compared = (
        f"{name}: {_number(evidence.value)} between {_label(low)} "
        f"({evidence.details['lowest_base_rate']:.3f}) and {_label(high)} "
        f"({evidence.details['highest_base_rate']:.3f}); threshold {_threshold(evidence)}"
    )
    return name, compared


def _small_groups(comparison: Comparison, confidence: str) -> tuple[str, str]:
    evidence = comparison.evidence
    name = f"{evidence.metric} for {_slice(evidence.feature)}"
    minimum = f"min_group_size={evidence.threshold:.0f}"
    if comparison.outcome is ComparisonOutcome.VIOLATED:
        listed = ", ".join(
            f"{_label(group)} (n={n})" for group, n in zip(evidence.groups, evidence.n, strict=True)
        )
        compared = f"{name}: {len(evidence.groups)} group(s) below {minimum}: {listed}"
    else:
        # A slice that passes carries its smallest group as its evidence.
        compared = f"{name}: every group has at least {minimum} rows (smallest n={evidence.n[0]})"
    return name, compared


# The checks with one case per comparison, passed or not: each holds a slice or a group
# against a policy threshold, a test CI can follow from run to run. Every other check's
# findings at or above fail_on are cases already (finding_case); its passes would only pad
# the suite.
ENUMERATED: dict[str, Describe] = {
    "fairness.disparity": _disparity,
    "fairness.four_fifths": _four_fifths,
    "fairness.calibration_gap": _disparity,
    "data.base_rate_gap": _base_rate_gap,
    "data.small_groups": _small_groups,
}


def junit_cases(result: AuditResult) -> dict[str, list[Case]]:
    """The cases of each check, by check id, in the order the checks ran."""
    cases = _Cases(result)
    compared: dict[str, list[Comparison]] = {}
    for comparison in result.comparisons:
        compared.setdefault(comparison.check, []).append(comparison)
    suites: dict[str, list[Case]] = {}
    for check in result.checks:
        suite = suites.setdefault(check.id, [])
        if check.status is CheckStatus.SKIPPED:
            suite.append(Case(check.id, check.id, "skipped", message=check.reason or "skipped"))
        elif check.status is CheckStatus.ERROR:
            suite.append(
                Case(
                    check.id,
                    check.id,
                    "error",
                    message=check.reason or "the check crashed",
                    kind="check error",
                    body="The check crashed, so the audit is incomplete; rerun with --debug.",
                )
            )
        elif check.id in ENUMERATED:
            describe = ENUMERATED[check.id]
            suite.extend(
                cases.comparison_case(comparison, describe)
                for comparison in compared.get(check.id, [])
            )
    fail_on = Severity(result.gate.fail_on)
    for finding in result.findings:
        if finding.fingerprint in cases.covered:
            continue
        if finding.id in cases.violations or finding.severity.rank >= fail_on.rank:
            suites.setdefault(finding.check, []).append(cases.finding_case(finding))
    return suites


def _count(cases: list[Case], outcome: Outcome) -> int:
    return sum(case.outcome == outcome for case in cases)


def _properties(result: AuditResult) -> list[tuple[str, str]]:
    run = result.run
    properties = [
        ("rai-audit.version", result.tool_version),
        ("gate.passed", str(result.gate.passed).lower()),
        ("gate.fail_on", result.gate.fail_on),
        ("gate.require_significance", str(result.gate.require_significance).lower()),
        ("policy.compare", str(run.config.get("compare"))),
        ("seed", str(run.seed)),
        ("n_boot", str(run.n_boot)),
        ("confidence_level", str(run.confidence_level)),
        ("data.sha256", run.data.file.sha256),
    ]
    if run.model.file is not None:
        properties.append(("model.sha256", run.model.file.sha256))
    baseline = getattr(result.gate, "baseline", None)
    if baseline is not None:
        properties.append(("gate.baseline.sha256", baseline.sha256))
    return properties


class JunitFormatter:
    extension = "junit.xml"

    def render(self, result: AuditResult) -> str:
        suites = junit_cases(result)
        every = [case for cases in suites.values() for case in cases]
        root = ET.Element(
            "testsuites",
            name="rai-audit",
            tests=str(len(every)),
            failures=str(_count(every, "failure")),
            errors=str(_count(every, "error")),
            time=f"{result.run.duration_seconds:.3f}",
        )
        properties = _properties(result)
        for suite_id, cases in suites.items():
            suite = ET.SubElement(
                root,
                "testsuite",
                name=_xml(suite_id),
                tests=str(len(cases)),
                failures=str(_count(cases, "failure")),
                errors=str(_count(cases, "error")),
                skipped=str(_count(cases, "skipped")),
                time="0",
                timestamp=_xml(result.run.started_at),
            )
            bag = ET.SubElement(suite, "properties")
            for name, value in properties:
                ET.SubElement(bag, "property", name=name, value=_xml(value))
            for case in cases:
                element = ET.SubElement(
                    suite,
                    "testcase",
                    classname=_xml(case.classname),
                    name=_xml(case.name),
                    time="0",
                )
                if case.outcome != "passed":
                    outcome = ET.SubElement(element, case.outcome, message=_xml(case.message))
                    if case.kind:
                        outcome.set("type", _xml(case.kind))
                    if case.body:
                        outcome.text = _xml(case.body)
                if case.output:
                    ET.SubElement(element, "system-out").text = _xml(case.output)
        ET.indent(root)
        body = ET.tostring(root, encoding="unicode")
        return f'<?xml version="1.0" encoding="UTF-8"?>\n{body}\n'
