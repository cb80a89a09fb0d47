"""The data-fit section's chart: PSI beyond sampling noise per column and group (inline SVG)."""

from __future__ import annotations

from markupsafe import Markup

from audit.datafit.results import DataFitReport
from reports.charts import Bar, interval_bars

MAX_BARS = 40  # the most drifted (column, group) pairs; the table lists every column


def psi_chart(report: DataFitReport, limit: float) -> Markup | None:
    """One bar per column and group with a PSI, most drifted first; None when drift was not
    measured against training data. PSI past 1 is drawn at the axis' end, its number printed."""
    bars = []
    for column in report.drift.columns:
        for feature in column.by_feature:
            for group in feature.groups:
                if group.psi_excess is not None:
                    bars.append(
                        Bar(
                            f"{column.column} · {feature.feature} = {group.group}",
                            max(group.psi_excess, 0.0),
                            group.psi_interval,
                        )
                    )
    if not bars:
        return None
    bars.sort(key=lambda bar: -(bar.value or 0.0))
    return interval_bars(
        "Population stability index beyond sampling noise, per column and group",
        bars[:MAX_BARS],
        limit,
        f"threshold {limit:g}",
    )
