"""The mitigation what-if of report.html and report.md: the trade-off table's rows and its
inline SVG charts, from ``result.what_if`` alone."""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup

from audit.core.result import AuditResult
from audit.mitigation.results import Method, SliceWhatIf, WhatIf
from reports.charts import Bar, interval_bars

# Bar labels: the methods' names are sentences, too long beside a bar.
SHORT_NAMES = {
    "before": "Before",
    "thresholds_demographic_parity": "Thresholds: dem. parity",
    "thresholds_equalized_odds": "Thresholds: eq. odds",
    "reweighting": "Reweighting (estimate)",
}
CHARTED = (
    ("accuracy", "Accuracy"),
    ("demographic_parity_difference", "Demographic parity difference"),
    ("equalized_odds_difference", "Equalized odds difference"),
)
CHART_LABEL_WIDTH = 170
CHART_PLOT_WIDTH = 260


@dataclass(frozen=True)
class GroupRow:
    """One group's selection rate under each method, in the methods' order."""

    group: str
    n: int
    rates: tuple[tuple[float | None, tuple[float, float] | None], ...]


@dataclass(frozen=True)
class SliceView:
    feature: str
    methods: tuple[Method, ...]
    measured: tuple[Method, ...]  # those that ran, the columns of the group table
    groups: tuple[GroupRow, ...]
    charts: tuple[tuple[str, Markup], ...]


def _group_rows(measured: tuple[Method, ...]) -> tuple[GroupRow, ...]:
    if not measured:
        return ()
    rows = []
    for position, group in enumerate(measured[0].groups):
        rates = tuple(
            (method.groups[position].selection_rate, method.groups[position].ci)
            for method in measured
        )
        rows.append(GroupRow(" / ".join(group.group), group.n, rates))
    return tuple(rows)


def _charts(slice_: SliceWhatIf, measured: tuple[Method, ...]) -> tuple[tuple[str, Markup], ...]:
    feature = " × ".join(slice_.feature)
    charts = []
    for metric, name in CHARTED:
        title = f"{name} by method, {feature}"
        bars = [
            Bar(
                SHORT_NAMES.get(method.id, method.id),
                method.metrics.get(metric),
                method.ci.get(metric),
                method.undefined.get(metric, ""),
            )
            for method in measured
        ]
        if any(bar.value is not None for bar in bars):
            chart = interval_bars(
                title, bars, label_width=CHART_LABEL_WIDTH, plot_width=CHART_PLOT_WIDTH
            )
            charts.append((title, chart))
    return tuple(charts)


def slice_views(what_if: WhatIf) -> tuple[SliceView, ...]:
    views = []
    for slice_ in what_if.slices:
        measured = tuple(method for method in slice_.methods if method.status == "ok")
        views.append(
            SliceView(
                feature=" × ".join(slice_.feature),
                methods=slice_.methods,
                measured=measured,
                groups=_group_rows(measured),
                charts=_charts(slice_, measured),
            )
        )
    return tuple(views)


def what_if_view(result: AuditResult) -> dict[str, object] | None:
    """What templates/what_if.html.j2 shows; None without a what-if section."""
    what_if = result.what_if
    if what_if is None:
        return None
    names = {info.role.value: info.name for info in result.knowledge.roles}
    return {
        "what_if": what_if,
        "slices": slice_views(what_if),
        "roles": [(names.get(role, role), text) for role, text in what_if.roles.items()],
    }
