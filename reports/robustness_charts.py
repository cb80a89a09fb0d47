"""The robustness section of report.html: a plain-language headline and one chart per question.

``robustness_view(result)`` turns ``result.robustness`` into what
``templates/robustness.html.j2`` shows: are decisions stable (the share of decisions that
small input errors change, per group) and is recourse equally far (the share of rejected
people who could turn the decision around within the bound, per group). Charts are the
report's interval bars (``reports.charts``); every number is also in a table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from markupsafe import Markup

from audit.core.result import AuditResult
from audit.robustness.results import Gap, GroupValue, Recourse, Robustness, Stability
from reports.charts import Bar, interval_bars


@dataclass(frozen=True)
class GroupRow:
    feature: str
    group: str
    n: int
    first: GroupValue
    second: GroupValue | None  # the row's second measure, if it has one


@dataclass(frozen=True)
class RobustnessView:
    report: Robustness
    headline: str
    stability: Stability | None
    stability_chart: Markup | None
    stability_rows: tuple[GroupRow, ...]
    recourse: Recourse | None
    recourse_chart: Markup | None
    recourse_rows: tuple[GroupRow, ...]


def _bars(values: tuple[GroupValue, ...]) -> list[Bar]:
    return [
        Bar(f"{value.feature}={value.group}", value.value, value.ci, "too few rows")
        for value in values
    ]


def _rows(first: tuple[GroupValue, ...], second: tuple[GroupValue, ...]) -> tuple[GroupRow, ...]:
    by_group = {(value.feature, value.group): value for value in second}
    return tuple(
        GroupRow(
            value.feature, value.group, value.n, value, by_group.get((value.feature, value.group))
        )
        for value in first
    )


def _widest(gaps: tuple[Gap, ...], metric: str) -> Gap | None:
    defined = [gap for gap in gaps if gap.metric == metric and gap.value is not None]
    return max(defined, key=lambda gap: gap.value or 0.0) if defined else None


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _widest_gap_words(
    gap: Gap | None, values: tuple[GroupValue, ...], first: Literal["high", "low"]
) -> str:
    """The widest gap as a clause naming the attribute and both groups with their own values:
    "; the widest gap between groups is by race, White 2.0% against Other 0.3%". Only the
    attribute's groups are compared, so no group is called the highest overall."""
    if gap is None or not gap.value:
        return ""
    value = {(row.feature, row.group): row.value for row in values}
    ends = [gap.high, gap.low] if first == "high" else [gap.low, gap.high]
    first_group, second_group = (
        f"{group} {_percent(value.get((gap.feature, group or '')))}" for group in ends
    )
    return (
        f"; the widest gap between groups is by {gap.feature}, {first_group} against {second_group}"
    )


def _headline(stability: Stability | None, recourse: Recourse | None) -> str:
    """What the section found, in one or two sentences a non-specialist can read."""
    parts = []
    if stability is not None and stability.status == "ok":
        widest = _widest(stability.gaps, "flip_rate")
        parts.append(
            f"Small, realistic errors in a person's inputs change {_percent(stability.flip_rate)} "
            f"of decisions{_widest_gap_words(widest, stability.flip_rates, first='high')}."
        )
    if recourse is not None and recourse.status == "ok":
        widest = _widest(recourse.gaps, "recourse_share")
        parts.append(
            f"{_percent(recourse.share)} of rejected people could be approved by changing what "
            f"they can act on by at most {recourse.max_cost:g} standard deviations"
            f"{_widest_gap_words(widest, recourse.shares, first='low')}."
        )
    elif recourse is not None:
        parts.append(f"Recourse was not searched: {recourse.reason}.")
    return " ".join(parts)


def robustness_view(result: AuditResult) -> RobustnessView | None:
    report = result.robustness
    if report is None:
        return None
    stability = report.stability if report.status == "ok" else None
    recourse = report.recourse if report.status == "ok" else None
    stable = stability is not None and stability.status == "ok"
    searched = recourse is not None and recourse.status == "ok"
    return RobustnessView(
        report=report,
        headline=_headline(stability, recourse),
        stability=stability,
        stability_chart=(
            interval_bars(
                "Decisions changed by small input errors, per group", _bars(stability.flip_rates)
            )
            if stable and stability is not None
            else None
        ),
        stability_rows=(
            _rows(stability.flip_rates, stability.score_changes) if stable and stability else ()
        ),
        recourse=recourse,
        recourse_chart=(
            interval_bars("Rejected people with recourse, per group", _bars(recourse.shares))
            if searched and recourse is not None
            else None
        ),
        recourse_rows=_rows(recourse.shares, recourse.costs) if searched and recourse else (),
    )
