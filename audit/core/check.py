"""What every check shares: its protocol, the context it reads and what it returns.

A check measures; the engine judges (audit.core.judge). A check returns one ``Measurement``
per subject it examined, passes included, and says how the subject is graded: against a policy
threshold, or by a rule of its knowledge file. The engine grades, makes the findings (their
ids, wording and owners) and records every comparison with its outcome, so no check builds a
finding itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import numpy as np
import pandas as pd

from audit.core.accountability import AccountabilityTable
from audit.core.check_knowledge import CheckInfo
from audit.core.findings import Evidence, Severity
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


@dataclass(frozen=True)
class NumberFormat:
    """How a finding writes a number: ``value * scale`` to ``decimals`` places, then ``suffix``."""

    decimals: int
    scale: float = 1.0
    suffix: str = ""

    def __call__(self, value: float | None, decimals: int | None = None) -> str:
        if value is None:
            return "undefined"
        return (
            f"{self.scale * value:.{self.decimals if decimals is None else decimals}f}{self.suffix}"
        )

    def apart_from(self, value: float, limit: float) -> str:
        """``value`` with as many more places as it takes not to read as ``limit``: "0.6004 is
        above the maximum 0.600", never "0.600 is above the maximum 0.600"."""
        for decimals in range(self.decimals, self.decimals + MORE_PLACES + 1):
            text = self(value, decimals)
            if text != self(limit, decimals):
                break
        return text


# Six more places than 3 reach 1e-9, below which a value counts as at its limit
# (audit.core.findings.AT_LEVEL); one closer is written as it rounds.
MORE_PLACES = 6
format_number = NumberFormat(decimals=3)


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
    show: NumberFormat = format_number,
) -> Grade | None:
    """The severity of ``value`` against ``threshold``, or None when it complies.

    A violation whose whole interval lies past the threshold is "clear" (not plausibly
    noise) and graded worse than one whose interval straddles it. ``show`` writes a number
    as the finding's title does (3 decimals, or a percentage), with more places where a number
    would otherwise read as the limit it is compared with.
    """
    if not threshold.violated_by(value):
        return None
    past = "below" if threshold.bound == "min" else "above"
    side = "minimum" if threshold.bound == "min" else "maximum"
    limit = f"the {side} {show(threshold.limit)}"
    shown = show.apart_from(value, threshold.limit)
    if interval is None:
        # Without an interval the violation cannot be shown to be more than noise.
        key, clear = "uncertain", False
        why = f"{shown} is {past} {limit}, but it has no interval to show it is not noise"
    else:
        low, high = (show.apart_from(bound, threshold.limit) for bound in interval)
        span = f"[{low}, {high}]"
        clear = threshold.violated_by(interval[0]) and threshold.violated_by(interval[1])
        if not clear:
            key = "uncertain"
            why = (
                f"{shown} is {past} {limit}, but its confidence interval {span} reaches "
                "back across it, so the gap may be noise"
            )
        elif threshold.critical is not None and threshold.critical_by(value):
            key = "critical"
            why = (
                f"{show.apart_from(value, threshold.critical)} is {past} the critical level "
                f"{show(threshold.critical)} ({side} {show(threshold.limit)}), and its whole "
                f"confidence interval {span} is {past} the {side}"
            )
        else:
            key = "clear"
            why = f"{shown} is {past} {limit}, and so is its whole confidence interval {span}"
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


@dataclass(frozen=True)
class Measurement:
    """What a check measured about one subject, and how the engine is to judge it.

    ``threshold``: graded by ``grade`` against it (value and interval from ``evidence``), a pass
    when it complies; without a value (``evidence.value`` None, ``evidence.details["undefined"]``
    saying why) it is recorded as undefined, neither a finding nor a pass. ``rule``: a violation
    whose grade is the knowledge file's ``rule`` key (``graded_as``). Neither: measured and
    within the policy, a pass.
    """

    key: tuple[Any, ...]  # the subject: the finding's id and fingerprint are made from it
    evidence: Evidence  # the engine sets statistically_clear when it grades by threshold
    # Placeholders of the knowledge file's title, recommendation and reasons. The engine adds
    # value, bound and threshold from the evidence, written by ``show``, unless given here.
    words: Mapping[str, Any] = field(default_factory=dict)
    threshold: Threshold | None = None
    rule: str | None = None
    show: NumberFormat = format_number

    def __post_init__(self) -> None:
        if self.threshold is not None and self.rule is not None:
            raise ValueError("a measurement is graded by a threshold or by a rule, not both")


class Check(Protocol):
    id: str
    # The stages whose reports the check reads: the runner runs a stage a check needs.
    needs: tuple[str, ...]

    def run(self, context: AuditContext) -> tuple[Measurement, ...]: ...
