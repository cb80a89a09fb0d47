"""report.junit.xml: the gate as JUnit test results, so CI systems show its failures natively.

One test suite per check; one test case per comparison the check judged against a policy
threshold (each judged disparity, each group's selection rate against the highest, each
slice's base-rate gap and group sizes), and one for any other finding at or above ``fail_on``.
A case fails when the finding it heads is a gate violation; a comparison that is one more
measurement of a finding's cause (audit/core/causes.py) passes and names that finding, so each
cause fails once. A finding that does not fail the gate (below
``fail_on``, within its interval under ``require_significance``, or not new against a baseline)
passes with the finding in its output. A skipped check is a skipped case, a crashed one an
error. The XML validates against the JUnit schema Jenkins uses (tests/schemas/junit-10.xsd).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from audit.core.findings import Evidence, Finding, Severity
from audit.core.result import AuditResult, CheckStatus, Disparity, GroupResult, GroupStatus

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

    def judged(
        self, check: str, name: str, measured: Callable[[Evidence], bool], compared: str
    ) -> Case:
        """The case of one comparison. The finding that measured it decides the outcome when
        the comparison heads it; one that is another measurement of a finding's cause passes
        and names that finding, so that each cause fails once."""
        case = Case(classname=check, name=name, output=compared)
        for finding in self.result.findings:
            for position, row in enumerate(finding.measurements()):
                if row.check != check or not measured(row.evidence):
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
        side = "minimum" if evidence.bound == "min" else "maximum"
        lines.append(f"threshold: {side} {evidence.threshold:.3f}")
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


def _slices(result: AuditResult) -> dict[tuple[str, ...], list[GroupResult]]:
    slices: dict[tuple[str, ...], list[GroupResult]] = {}
    for group in result.groups:
        slices.setdefault(group.feature, []).append(group)
    return slices


def _threshold(result: AuditResult, metric: str) -> str:
    entry = result.run.config.get("thresholds", {}).get(metric) or {}
    if entry.get("min") is not None:
        return f"minimum {entry['min']:.3f}"
    if entry.get("max") is not None:
        return f"maximum {entry['max']:.3f}"
    return "no threshold"


def _disparity_cases(cases: _Cases, check: str) -> list[Case]:
    result = cases.result
    config = result.run.config
    built = []
    for disparity in result.disparities:
        if disparity.judged_by != check or disparity.comparison != config.get("compare"):
            continue
        if disparity.metric not in config.get("thresholds", {}):
            continue
        name = f"{disparity.metric} for {_slice(disparity.feature)}"
        if disparity.value is None:
            built.append(
                Case(
                    classname=check,
                    name=name,
                    outcome="skipped",
                    message=f"undefined: {disparity.undefined or 'no value'}",
                )
            )
            continue
        groups = " vs ".join(_label(group) for group in disparity.groups)
        compared = (
            f"{name}: {_number(disparity.value)}, {cases.confidence} interval "
            f"{_interval(disparity.ci)}; threshold {_threshold(result, disparity.metric)}; "
            f"groups {groups}"
        )
        built.append(cases.judged(check, name, _is_disparity(disparity), compared))
    return built


def _four_fifths_cases(cases: _Cases, check: str) -> list[Case]:
    # The same comparisons as the check: each measured group against the group with the
    # highest selection rate (the first such group on ties).
    built = []
    threshold = _threshold(cases.result, "selection_rate_ratio")
    for feature, groups in _slices(cases.result).items():
        rated = [
            (group, group.metrics.get("selection_rate"))
            for group in groups
            if group.status is GroupStatus.OK and group.metrics.get("selection_rate") is not None
        ]
        if len(rated) < 2:
            continue
        top, top_rate = max(rated, key=lambda pair: pair[1] or 0.0)
        if not top_rate or top_rate <= 0:
            continue
        for group, rate in rated:
            if group is top or rate is None:
                continue
            name = f"selection_rate_ratio for {_slice(feature)}={_label(group.group)}"
            compared = (
                f"{name}: selection rate {rate:.3f} over the highest, "
                f"{_label(top.group)}'s {top_rate:.3f}, is {rate / top_rate:.3f}; "
                f"threshold {threshold}"
            )
            built.append(cases.judged(check, name, _is_group(feature, group.group), compared))
    return built


def _base_rate_cases(cases: _Cases, check: str) -> list[Case]:
    built = []
    threshold = _threshold(cases.result, "base_rate_gap")
    for feature, groups in _slices(cases.result).items():
        rates = [
            (group, group.metrics["base_rate"])
            for group in groups
            if group.status is GroupStatus.OK and group.metrics.get("base_rate") is not None
        ]
        if len(rates) < 2:
            continue
        low = min(rates, key=lambda pair: pair[1] or 0.0)
        high = max(rates, key=lambda pair: pair[1] or 0.0)
        gap = (high[1] or 0.0) - (low[1] or 0.0)
        name = f"base_rate_gap for {_slice(feature)}"
        compared = (
            f"{name}: {gap:.3f} between {_label(low[0].group)} ({low[1]:.3f}) and "
            f"{_label(high[0].group)} ({high[1]:.3f}); threshold {threshold}"
        )
        built.append(cases.judged(check, name, _is_slice(feature), compared))
    return built


def _small_group_cases(cases: _Cases, check: str) -> list[Case]:
    built = []
    minimum = cases.result.run.config.get("min_group_size")
    for feature, groups in _slices(cases.result).items():
        small = [group for group in groups if group.status is GroupStatus.INSUFFICIENT_DATA]
        name = f"group_size for {_slice(feature)}"
        if small:
            listed = ", ".join(f"{_label(group.group)} (n={group.n})" for group in small)
            compared = f"{name}: {len(small)} group(s) below min_group_size={minimum}: {listed}"
        else:
            smallest = min(group.n for group in groups)
            compared = f"{name}: every group has at least min_group_size={minimum} rows "
            compared += f"(smallest n={smallest})"
        built.append(cases.judged(check, name, _is_slice(feature), compared))
    return built


def _is_disparity(disparity: Disparity) -> Callable[[Evidence], bool]:
    def measured(evidence: Evidence) -> bool:
        return (
            evidence.feature == disparity.feature
            and evidence.metric == disparity.metric
            and evidence.details.get("comparison") == disparity.comparison
        )

    return measured


def _is_group(feature: tuple[str, ...], group: tuple[str, ...]) -> Callable[[Evidence], bool]:
    def measured(evidence: Evidence) -> bool:
        return evidence.feature == feature and evidence.groups[:1] == (group,)

    return measured


def _is_slice(feature: tuple[str, ...]) -> Callable[[Evidence], bool]:
    def measured(evidence: Evidence) -> bool:
        return evidence.feature == feature

    return measured


ENUMERATED = {
    "fairness.disparity": _disparity_cases,
    "fairness.four_fifths": _four_fifths_cases,
    "fairness.calibration_gap": _disparity_cases,
    "data.base_rate_gap": _base_rate_cases,
    "data.small_groups": _small_group_cases,
}


def junit_cases(result: AuditResult) -> dict[str, list[Case]]:
    """The cases of each check, by check id, in the order the checks ran."""
    cases = _Cases(result)
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
            suite.extend(ENUMERATED[check.id](cases, check.id))
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
