"""One finding per cause: the engine's judgement over what the checks found.

A check reports every measurement past its threshold. Several of them often describe one
cause: the gap between women and men shows in the selection-rate ratio, the parity
difference, the equalized-odds ratio and the four-fifths rule at once. Checks that share a
``cause`` (in their knowledge files) are merged here per slice (their evidence's ``feature``):
the policy's first violated metric (``headline_order``) heads the finding, every other
measurement becomes its related evidence. The headline is the most severe measurement (the
first in the policy's order among equals), so the finding's title, grade and reason are one
measurement's.

An intersection (sex×race) whose headline gap is no larger than a parent slice's, i.e. its
value does not lie past that parent's interval for the same metric, is the parent's cause
seen again: it joins the parent's finding as related evidence ("also seen in sex×race").
One whose gap is clearly larger stands alone, because intersectional harm is the point of
slicing.

The merged finding's fingerprint is the cause and the slice, never the metric, so it matches
across runs even when another metric heads it. ``cause_fingerprint`` gives an older report's
findings the same keys (audit.core.compare reads baselines through it).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from audit.core.check_knowledge import in_words
from audit.core.findings import Evidence, Finding, Role, finding_id, fingerprint


@dataclass(frozen=True)
class Judged:
    findings: tuple[Finding, ...]  # most severe first
    violations: Mapping[str, int]  # per check: its measurements past their thresholds


def cause_fingerprint(cause: str, feature: Sequence[str]) -> str:
    return fingerprint(cause, tuple(feature))


def one_finding_per_cause(
    findings: Iterable[Finding], causes: Mapping[str, str], headline_order: Sequence[str]
) -> Judged:
    """Merge the findings of checks that ``causes`` maps to a cause, per cause and slice."""
    found = list(findings)
    violations = Counter(finding.check for finding in found)
    rank = {metric: position for position, metric in enumerate(headline_order)}
    standing: list[Finding] = []
    groups: dict[tuple[str, tuple[str, ...]], list[Finding]] = {}
    for finding in found:
        cause = causes.get(finding.check)
        if cause is None:
            standing.append(finding)
        else:
            groups.setdefault((cause, finding.evidence.feature), []).append(finding)
    merged: dict[tuple[str, tuple[str, ...]], Finding] = {}
    # Single features first, so that an intersection finds its parents already merged.
    for (cause, feature), members in sorted(groups.items(), key=lambda item: len(item[0][1])):
        finding = _merge(cause, feature, members, rank)
        parent = _parent(finding, cause, feature, merged)
        if parent is None:
            merged[(cause, feature)] = finding
        else:
            key, host = parent
            merged[key] = replace(
                host, related_evidence=(*host.related_evidence, *finding.measurements())
            )
    ordered = sorted((*standing, *merged.values()), key=lambda item: (-item.severity.rank, item.id))
    return Judged(tuple(ordered), dict(violations))


def _order(finding: Finding, rank: Mapping[str, int]) -> tuple[int, int, float]:
    """Headline order: the most severe; then the policy's first metric, and of one metric
    the value furthest past its threshold."""
    evidence = finding.evidence
    past = 0.0
    if evidence.value is not None and evidence.threshold is not None:
        past = evidence.threshold - evidence.value
        past = past if evidence.bound == "min" else -past
    return -finding.severity.rank, rank.get(evidence.metric, len(rank)), -past


def _merge(
    cause: str, feature: tuple[str, ...], members: list[Finding], rank: Mapping[str, int]
) -> Finding:
    members = sorted(members, key=lambda member: _order(member, rank))
    headline = members[0]
    reason = headline.severity_reason
    if len(members) > 1:
        # Among several measurements, say which one the grade is read from.
        metric = in_words(headline.evidence.metric)
        reason = reason.replace(" because ", f" because the {metric} ", 1)
    accountable = headline.accountable
    consulted = _unique(role for member in members for role in member.roles)
    consulted = tuple(role for role in consulted if role is not accountable)
    actions: dict[Role, str] = {}
    for member in members:
        for role, action in member.actions.items():
            actions.setdefault(role, action)
    return replace(
        headline,
        id=finding_id(cause, feature),
        fingerprint=cause_fingerprint(cause, feature),
        severity_reason=reason,
        roles=(accountable, *consulted),
        consulted=consulted,
        actions=actions,
        references=_unique(reference for member in members for reference in member.references),
        related_evidence=tuple(row for member in members[1:] for row in member.measurements()),
    )


def _unique(items: Iterable[Any]) -> tuple[Any, ...]:
    return tuple(dict.fromkeys(items))


def _parent(
    finding: Finding,
    cause: str,
    feature: tuple[str, ...],
    merged: Mapping[tuple[str, tuple[str, ...]], Finding],
) -> tuple[tuple[str, tuple[str, ...]], Finding] | None:
    """The parent slice's finding that this intersection's gap does not exceed, if any.

    Among several, the most severe parent (then the first slice) takes it in.
    """
    if len(feature) < 2:
        return None
    headline = finding.evidence
    candidates = []
    for (parent_cause, parent_feature), parent in merged.items():
        if parent_cause != cause or not set(parent_feature) < set(feature):
            continue
        same = [
            row.evidence for row in parent.measurements() if row.evidence.metric == headline.metric
        ]
        if same and not _clearly_worse(headline, _worst_row(same)):
            candidates.append(((parent_cause, parent_feature), parent))
    if not candidates:
        return None
    return max(candidates, key=lambda candidate: candidate[1].severity.rank)


def _worst_row(rows: list[Evidence]) -> Evidence:
    """The row of one metric whose value lies furthest on its violating side."""
    known = [row for row in rows if row.value is not None] or rows
    if known[0].bound == "min":
        return min(known, key=lambda row: row.value or 0.0)
    return max(known, key=lambda row: row.value or 0.0)


def _clearly_worse(row: Evidence, parent: Evidence) -> bool:
    """Whether ``row``'s value lies past ``parent``'s interval on the violating side."""
    if row.value is None or parent.value is None:
        return False
    low, high = parent.interval if parent.interval is not None else (parent.value,) * 2
    return row.value < low if row.bound == "min" else row.value > high


__all__ = ["Judged", "cause_fingerprint", "one_finding_per_cause"]
