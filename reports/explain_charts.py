"""The explanations section of report.html: inline SVG charts and the rows of its tables.

``explanation_view(result)`` turns ``result.explanations`` into what
``templates/explanations.html.j2`` shows: global importance bars with intervals, a per-group
comparison of each column's share of attribution, and the tables (methods, agreement, encoded
copies, associations, flip test). Charts are hand-written SVG like ``reports.charts``; groups
are told apart by marker shape and a legend as well as colour, and every number is also in a
table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

from audit.core.result import AuditResult
from audit.explain.results import Explanations, MethodResult
from reports.charts import shorten, svg_open, whisker

ROW_HEIGHT = 22
LABEL_WIDTH = 170
PLOT_WIDTH = 340
VALUE_WIDTH = 170
METHOD_NAMES = {
    "shap": "SHAP (permutation)",
    "integrated_gradients": "Integrated Gradients (Captum)",
    "gradient_shap": "GradientShap (Captum)",
}


def method_name(method: str) -> str:
    """An attribution method as the report names it: ``shap`` reads "SHAP (permutation)"."""
    return METHOD_NAMES.get(method, method)


# Marker shapes and colours for groups, in order; the shape alone tells groups apart.
MARKERS = ("circle", "square", "triangle", "diamond", "cross", "bar")
COLOURS = ("#1f4e79", "#b45309", "#166534", "#7e22ce", "#9f1239", "#334155")
GROUP_CHART_LIMIT = len(MARKERS)  # more groups than markers: the table only


def _top(values: list[float]) -> float:
    """A round upper end for a share axis: the next tick (at least 0.05)."""
    largest = max([value for value in values if math.isfinite(value)] or [0.0])
    step = 0.05 if largest <= 0.25 else 0.1 if largest <= 0.5 else 0.25
    return min(1.0, max(0.05, math.ceil(largest / step - 1e-9) * step))


def _ticks(top: float) -> list[float]:
    step = 0.05 if top <= 0.25 else 0.1 if top <= 0.5 else 0.25
    return [step * index for index in range(round(top / step) + 1)]


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def importance_chart(method: MethodResult, title: str) -> Markup:
    """Each column's share of attribution, largest first, with its bootstrap interval."""
    items = sorted(method.global_importance, key=lambda item: -item.share)
    top = _top([item.share_ci[1] if item.share_ci else item.share for item in items])
    height = ROW_HEIGHT * len(items) + 30
    width = LABEL_WIDTH + PLOT_WIDTH + VALUE_WIDTH
    bottom = height - 24

    def x(value: float) -> float:
        return LABEL_WIDTH + max(0.0, min(top, value)) / top * PLOT_WIDTH

    parts = [
        *svg_open(title, width, height),
        f'<line x1="{LABEL_WIDTH}" y1="0" x2="{LABEL_WIDTH}" y2="{bottom}" class="axis"/>',
    ]
    for tick in _ticks(top):
        parts.append(
            f'<text x="{x(tick):.1f}" y="{height - 8}" class="tick" text-anchor="middle">'
            f"{100 * tick:.0f}%</text>"
        )
    for row, item in enumerate(items):
        y_top = row * ROW_HEIGHT + 4
        middle = y_top + ROW_HEIGHT / 2 - 2
        parts.append(
            f'<text x="{LABEL_WIDTH - 6}" y="{middle + 4:.1f}" text-anchor="end" class="label">'
            f"{escape(shorten(item.column, LABEL_WIDTH - 10))}</text>"
            f'<rect x="{LABEL_WIDTH}" y="{y_top + 3}" width="{x(item.share) - LABEL_WIDTH:.1f}" '
            f'height="{ROW_HEIGHT - 10}" class="bar"/>'
        )
        text = _percent(item.share)
        if item.share_ci is not None:
            low, high = item.share_ci
            parts.append(whisker(x(low), x(high), middle))
            text += f" [{_percent(low)}, {_percent(high)}]"
        parts.append(
            f'<text x="{LABEL_WIDTH + PLOT_WIDTH + 8}" y="{middle + 4:.1f}" class="value">'
            f"{escape(text)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _marker(shape: str, cx: float, cy: float, colour: str) -> str:
    size = 4.5
    common = f'fill="{colour}" stroke="{colour}"'
    if shape == "circle":
        return f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{size}" {common}/>'
    if shape == "square":
        return (
            f'<rect x="{cx - size:.1f}" y="{cy - size:.1f}" width="{2 * size}" '
            f'height="{2 * size}" {common}/>'
        )
    if shape == "triangle":
        corners = ((cx, cy - size), (cx - size, cy + size), (cx + size, cy + size))
        points = " ".join(f"{a:.1f},{b:.1f}" for a, b in corners)
        return f'<polygon points="{points}" {common}/>'
    if shape == "diamond":
        diamond = ((cx, cy - size), (cx + size, cy), (cx, cy + size), (cx - size, cy))
        points = " ".join(f"{a:.1f},{b:.1f}" for a, b in diamond)
        return f'<polygon points="{points}" {common}/>'
    if shape == "cross":
        return (
            f'<path d="M{cx - size:.1f} {cy - size:.1f}L{cx + size:.1f} {cy + size:.1f}'
            f'M{cx - size:.1f} {cy + size:.1f}L{cx + size:.1f} {cy - size:.1f}" '
            f'stroke="{colour}" stroke-width="2" fill="none"/>'
        )
    return (
        f'<rect x="{cx - 1.5:.1f}" y="{cy - size - 1:.1f}" width="3" height="{2 * size + 2}" '
        f"{common}/>"
    )


def group_chart(
    groups: list[tuple[str, int, dict[str, float]]], columns: list[str], title: str
) -> Markup:
    """Each column's share of attribution in each group: one row per column, one marker per
    group (shape and colour, named in the legend)."""
    legend_rows = len(groups)
    top = _top([share for _, _, shares in groups for share in shares.values()])
    legend_height = 18 * legend_rows + 6
    height = legend_height + ROW_HEIGHT * len(columns) + 30
    width = LABEL_WIDTH + PLOT_WIDTH + 20
    plot_top = legend_height
    bottom = height - 24

    def x(value: float) -> float:
        return LABEL_WIDTH + max(0.0, min(top, value)) / top * PLOT_WIDTH

    parts = svg_open(title, width, height)
    for index, (label, n, _) in enumerate(groups):
        y = 10 + 18 * index
        parts.append(_marker(MARKERS[index], LABEL_WIDTH + 8, y, COLOURS[index]))
        parts.append(
            f'<text x="{LABEL_WIDTH + 20}" y="{y + 4}" class="label">'
            f"{escape(shorten(f'{label} ({n} rows explained)', PLOT_WIDTH - 30))}</text>"
        )
    parts.append(
        f'<line x1="{LABEL_WIDTH}" y1="{plot_top}" x2="{LABEL_WIDTH}" y2="{bottom}" class="axis"/>'
    )
    for tick in _ticks(top):
        parts.append(
            f'<text x="{x(tick):.1f}" y="{height - 8}" class="tick" text-anchor="middle">'
            f"{100 * tick:.0f}%</text>"
        )
    for row, column in enumerate(columns):
        middle = plot_top + row * ROW_HEIGHT + ROW_HEIGHT / 2 + 2
        parts.append(
            f'<text x="{LABEL_WIDTH - 6}" y="{middle + 4:.1f}" text-anchor="end" class="label">'
            f"{escape(shorten(column, LABEL_WIDTH - 10))}</text>"
            f'<line x1="{LABEL_WIDTH}" y1="{middle:.1f}" x2="{LABEL_WIDTH + PLOT_WIDTH}" '
            f'y2="{middle:.1f}" stroke="#d4d4d4"/>'
        )
        for index, (_, _, shares) in enumerate(groups):
            parts.append(
                _marker(MARKERS[index], x(shares.get(column, 0.0)), middle, COLOURS[index])
            )
    parts.append("</svg>")
    return Markup("".join(parts))


@dataclass(frozen=True)
class GroupComparison:
    feature: str
    chart: Markup | None  # None when there are more groups than markers
    groups: list[tuple[str, int, dict[str, float]]]  # label, rows explained, column -> share


@dataclass(frozen=True)
class ExplanationView:
    explanations: Explanations
    primary: MethodResult | None
    primary_name: str
    importance_chart: Markup | None
    columns: list[str]  # by the primary method's importance, largest first
    share_rows: list[dict[str, Any]]  # per column: its share per method that ran
    methods: list[dict[str, Any]]  # every method: name, status, reason, completeness
    comparisons: list[GroupComparison]
    strong_associations: list[dict[str, Any]]  # proxies: encoded copies are listed apart
    copies: list[dict[str, Any]]  # encoded copies, with the primary method's summed share
    share_limit: float | None
    association_limit: float | None
    copy_limit: float | None


def _limit(result: AuditResult, name: str) -> float | None:
    entry = result.run.config.get("thresholds", {}).get(name, {})
    value = entry.get("max", entry.get("min"))
    return float(value) if value is not None else None


def explanation_view(result: AuditResult) -> ExplanationView | None:
    """What the section shows, or None when the explanation stage did not run at all."""
    explanations = getattr(result, "explanations", None)
    if explanations is None:
        return None
    primary = explanations.primary()
    ran = explanations.ran()
    columns = (
        [item.column for item in sorted(primary.global_importance, key=lambda i: -i.value)]
        if primary is not None
        else list(explanations.columns)
    )
    share_rows = [
        {
            "column": column,
            "shares": [
                (
                    method_name(method.method),
                    found.share if (found := method.importance_of(column)) else None,
                    found.share_ci if found else None,
                )
                for method in ran
            ],
            "sensitive": column in explanations.sensitive_inputs,
            "encodes": [
                copy.attribute for copy in explanations.encoded_copies if column in copy.columns
            ],
        }
        for column in columns
    ]
    methods = [
        {
            "name": method_name(name),
            "status": method.status,
            "reason": method.reason,
            "library": method.library,
            "rows": method.rows,
            "seconds": method.seconds,
            "completeness": method.completeness,
        }
        for name, method in explanations.methods.items()
    ]
    comparisons = []
    if primary is not None:
        for feature in dict.fromkeys(g.feature for g in primary.groups if len(g.feature) == 1):
            groups = [
                (" / ".join(g.group), g.n, g.share) for g in primary.groups if g.feature == feature
            ]
            title = (
                f"Share of attribution per column, by {feature[0]} ({method_name(primary.method)})"
            )
            chart = (
                group_chart(groups, columns, title) if len(groups) <= GROUP_CHART_LIMIT else None
            )
            comparisons.append(GroupComparison(feature[0], chart, groups))
    association_limit = _limit(result, "explain_association")
    copied = {(c, copy.attribute) for copy in explanations.encoded_copies for c in copy.columns}
    copies = [
        {
            "attribute": copy.attribute,
            "columns": copy.columns,
            "measure": copy.measure,
            "value": copy.value,
            "group_code_share": copy.group_code_share,
            "codes": copy.codes,
            "share": carried.share
            if primary and (carried := primary.copy_importance_of(copy))
            else None,
        }
        for copy in explanations.encoded_copies
    ]
    strong = sorted(
        (
            {
                "column": a.column,
                "attribute": a.attribute,
                "measure": a.measure,
                "value": a.value,
                "mutual_information": a.mutual_information,
                "share": found.share
                if primary and (found := primary.importance_of(a.column))
                else None,
            }
            for a in explanations.associations
            if a.value is not None
            and association_limit is not None
            and a.value > association_limit
            and (a.column, a.attribute) not in copied
        ),
        key=lambda row: -row["value"],
    )
    return ExplanationView(
        explanations=explanations,
        primary=primary,
        primary_name=method_name(primary.method) if primary else "",
        importance_chart=importance_chart(
            primary, f"Share of attribution per column ({method_name(primary.method)})"
        )
        if primary is not None
        else None,
        columns=columns,
        share_rows=share_rows,
        methods=methods,
        comparisons=comparisons,
        strong_associations=strong,
        copies=copies,
        share_limit=_limit(result, "explain_attribution_share"),
        association_limit=association_limit,
        copy_limit=_limit(result, "explain_encoded_copy"),
    )
