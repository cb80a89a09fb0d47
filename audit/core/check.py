"""What every check shares: its protocol, the context it reads and its knowledge-table entry."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import numpy as np
import pandas as pd

from audit.core.accountability import AccountabilityTable
from audit.core.check_knowledge import CheckInfo
from audit.core.findings import Evidence, Finding, Severity, finding_id, fingerprint
from audit.core.policy import Policy, Threshold
from audit.models.base import LoadedModel
from audit.models.features import FeatureMatrix


class CheckSkipped(Exception):
    """Raised by a check that cannot run here; the reason is reported, the audit goes on."""


Report = TypeVar("Report")


@dataclass(frozen=True)
class AuditContext:
    """Everything a check may read: the audited rows and the stages' reports, prepared once."""

    policy: Policy
    frame: pd.DataFrame
    labels: np.ndarray
    decisions: np.ndarray
    scores: np.ndarray | None
    sensitive: tuple[str, ...]
    features: FeatureMatrix | None
    model: LoadedModel | None
    accountability: AccountabilityTable
    # Each stage's report by stage id (audit.core.stage); a stage that did not run is absent.
    reports: Mapping[str, object] = field(default_factory=dict)

    def report(self, stage_id: str, kind: type[Report]) -> Report | None:
        """The report of stage ``stage_id``, None when the stage did not run."""
        report = self.reports.get(stage_id)
        if report is not None and not isinstance(report, kind):
            raise TypeError(f"stage {stage_id!r} reported a {type(report).__name__}, not {kind}")
        return report


class Check(Protocol):
    id: str
    # The stages whose reports the check reads: the runner runs a stage a check needs.
    needs: tuple[str, ...]

    def run(self, context: AuditContext) -> tuple[Finding, ...]: ...


def format_number(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.3f}"


def format_groups(groups: tuple[tuple[str, ...], ...]) -> str:
    return " and ".join("/".join(group) for group in groups) or "the groups"


@dataclass(frozen=True)
class Grade:
    severity: Severity
    clear: bool | None
    reason: str  # one plain sentence: why this severity (threshold, how far, the interval)


# The severity each threshold grade has unless a check caps it (its knowledge file's severity_note).
USUAL_SEVERITY = {
    "uncertain": Severity.MEDIUM,
    "clear": Severity.HIGH,
    "critical": Severity.CRITICAL,
}


def grade(
    info: CheckInfo,
    threshold: Threshold,
    value: float,
    interval: tuple[float, float] | None,
    show: Callable[[float | None], str] = format_number,
) -> Grade | None:
    """The severity of ``value`` against ``threshold``, or None when it complies.

    A violation whose whole interval lies past the threshold is "clear" (not plausibly
    noise) and graded worse than one whose interval straddles it. ``show`` writes a number
    as the finding's title does (3 decimals, or a percentage).
    """
    if not threshold.violated_by(value):
        return None
    past = "below" if threshold.bound == "min" else "above"
    side = "minimum" if threshold.bound == "min" else "maximum"
    limit = f"the {side} {show(threshold.limit)}"
    if interval is None:
        # Without an interval the violation cannot be shown to be more than noise.
        key, clear = "uncertain", False
        why = f"{show(value)} is {past} {limit}, but it has no interval to show it is not noise"
    else:
        span = f"[{show(interval[0])}, {show(interval[1])}]"
        clear = threshold.violated_by(interval[0]) and threshold.violated_by(interval[1])
        if not clear:
            key = "uncertain"
            why = (
                f"{show(value)} is {past} {limit}, but its confidence interval {span} reaches "
                "back across it, so the gap may be noise"
            )
        elif threshold.critical_by(value):
            key = "critical"
            why = (
                f"{show(value)} is {past} the critical level {show(threshold.critical or 0.0)} "
                f"({side} {show(threshold.limit)}), and its whole confidence interval {span} "
                f"is {past} the {side}"
            )
        else:
            key = "clear"
            why = f"{show(value)} is {past} {limit}, and so is its whole confidence interval {span}"
            if threshold.critical is not None:
                why += f"; it would be critical {past} {show(threshold.critical)}"
    severity = info.severity[key]
    return Grade(severity, clear, _sentence(info, key, severity, why))


def _sentence(info: CheckInfo, key: str, severity: Severity, why: str) -> str:
    sentence = f"{severity.value.capitalize()} because {why}."
    usual = USUAL_SEVERITY.get(key)
    if info.severity_note and usual is not None and severity.rank < usual.rank:
        sentence += f" {info.severity_note}"
    return sentence


def graded_as(info: CheckInfo, key: str, **words: Any) -> Grade:
    """The grade a check gives by rule rather than by threshold: its knowledge file's severity
    and reason for ``key`` (its {placeholders} filled from ``words``)."""
    severity = info.severity[key]
    return Grade(severity, None, _sentence(info, key, severity, info.reasons[key].format(**words)))


def make_finding(
    info: CheckInfo,
    context: AuditContext,
    graded: Grade,
    evidence: Evidence,
    key: tuple[Any, ...],
    **words: Any,
) -> Finding:
    owner = context.accountability.owner(info.id, graded.severity)
    return Finding(
        id=finding_id(info.id, *key),
        fingerprint=fingerprint(info.id, *key),
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
