"""Findings: what a check concludes, graded and owned."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_ORDER.index(self)


_SEVERITY_ORDER = [Severity.INFO, Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL]


class Role(StrEnum):
    DEVELOPER = "developer"
    DEPLOYER = "deployer"
    REGULATOR = "regulator"


@dataclass(frozen=True)
class RoleInfo:
    """A role in words (knowledge/roles.toml), for reports to name it and say its duty."""

    role: Role
    name: str
    duty: str


# How close to a threshold's level a value counts as at it: far below any difference a rate
# over fewer than a billion rows can show.
AT_LEVEL = 1e-9


def beyond(value: float, level: float, bound: str) -> bool:
    """Whether ``value`` lies past ``level`` on the side a ``bound`` ("min" or "max") forbids.

    A value at the level complies. Round-off puts one computed to be there a unit in the last
    place past it (0.8 - 0.7 against a maximum of 0.1), so that close counts as at it. One
    function, for the engine's thresholds and for the reports that mark a row as violated.
    """
    if math.isclose(value, level, rel_tol=AT_LEVEL, abs_tol=AT_LEVEL):
        return False
    return value < level if bound == "min" else value > level


@dataclass(frozen=True)
class Evidence:
    """Aggregates behind a finding; never raw rows."""

    metric: str
    value: float | None
    interval: tuple[float, float] | None = None
    threshold: float | None = None
    bound: str | None = None  # "min" or "max": which side of the threshold is a violation
    feature: tuple[str, ...] = ()
    groups: tuple[tuple[str, ...], ...] = ()
    n: tuple[int, ...] = ()
    statistically_clear: bool | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RelatedEvidence:
    """Another measurement of a finding's cause past its threshold, graded by its own check."""

    check: str
    title: str  # the measurement in one line, as its own finding would have said it
    severity: Severity
    severity_reason: str
    evidence: Evidence


@dataclass(frozen=True)
class Finding:
    id: str
    fingerprint: str  # check, metric and slice, never values: matches findings across runs
    check: str
    title: str
    severity: Severity
    roles: tuple[Role, ...]  # the accountable role first, then the consulted ones
    accountable: Role
    consulted: tuple[Role, ...]
    actions: dict[Role, str]
    evidence: Evidence  # the headline measurement: the one the title states
    recommendation: str
    references: tuple[str, ...]
    severity_reason: str = ""  # one plain sentence: why the finding has its severity
    # The cause's other measurements past their thresholds: other metrics of the same slice,
    # and intersections whose gap is no larger than this slice's ("also seen in").
    related_evidence: tuple[RelatedEvidence, ...] = ()

    def measurements(self) -> tuple[RelatedEvidence, ...]:
        """The headline and every related measurement, each with its check and grade."""
        headline = RelatedEvidence(
            self.check, self.title, self.severity, self.severity_reason, self.evidence
        )
        return (headline, *self.related_evidence)


class ComparisonOutcome(StrEnum):
    PASSED = "passed"  # within the policy
    VIOLATED = "violated"  # past its threshold or against its rule: a finding holds it
    UNDEFINED = "undefined"  # no value to hold against its threshold: details["undefined"]


@dataclass(frozen=True)
class Comparison:
    """One measurement as the engine judged it, kept in the order the checks made them, so
    that a report can list every comparison (JUnit's cases) without judging again.

    A violated one's evidence equals that of the finding's measurement that holds it (its
    headline or one of its related measurements, ``Finding.measurements``), with
    ``statistically_clear`` set as the engine graded it.
    """

    check: str
    fingerprint: str  # the measurement's own (check and subject), not its merged cause's
    evidence: Evidence
    outcome: ComparisonOutcome


def _part(value: object) -> str:
    if isinstance(value, tuple):
        return (
            ",".join(_part(item) for item in value)
            if any(isinstance(item, tuple) for item in value)
            else "/".join(map(str, value))
        )
    return str(value)


def fingerprint(check: str, *parts: object) -> str:
    """What a finding is about, readable: ``fairness.disparity|sex|demographic_parity_ratio``."""
    return "|".join([check, *(_part(part) for part in parts)])


def finding_id(check: str, *parts: object) -> str:
    """A stable id: the same check on the same slice and metric always gets the same id."""
    digest = hashlib.sha256(fingerprint(check, *parts).encode()).hexdigest()
    return f"{check}:{digest[:10]}"
