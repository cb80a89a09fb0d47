"""report.html: one self-contained page (inline CSS and SVG, no scripts, autoescaped)."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from importlib import resources
from typing import Any

from jinja2 import Environment, FunctionLoader, StrictUndefined, select_autoescape

from audit.findings import Severity
from audit.result import AuditResult, GroupResult, GroupStatus
from reports.charts import Bar, interval_bars

CHARTED_METRICS = ("selection_rate", "true_positive_rate", "false_positive_rate")


def _load_template(name: str) -> str:
    return resources.files("templates").joinpath(name).read_text("utf-8")


def environment() -> Environment:
    env = Environment(
        loader=FunctionLoader(_load_template),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = lambda value: "undefined" if value is None else f"{value:.3f}"
    env.filters["interval"] = lambda ci: "–" if ci is None else f"[{ci[0]:.3f}, {ci[1]:.3f}]"
    env.filters["label"] = lambda labels: " / ".join(labels)
    env.filters["words"] = lambda name: str(name).replace("_", " ")
    return env


def _slices(result: AuditResult) -> list[dict[str, Any]]:
    by_feature: dict[tuple[str, ...], list[GroupResult]] = defaultdict(list)
    for group in result.groups:
        by_feature[group.feature].append(group)
    slices = []
    for feature, groups in by_feature.items():
        charts = []
        for metric in CHARTED_METRICS:
            bars = [
                Bar(
                    label=" / ".join(group.group),
                    value=group.metrics.get(metric),
                    interval=group.ci.get(metric),
                    note="insufficient data"
                    if group.status is GroupStatus.INSUFFICIENT_DATA
                    else group.undefined.get(metric, ""),
                )
                for group in groups
            ]
            title = f"{metric.replace('_', ' ')} by {' × '.join(feature)}"
            charts.append((title, interval_bars(title, bars)))
        slices.append(
            {
                "feature": feature,
                "groups": groups,
                "charts": charts,
                "disparities": [d for d in result.disparities if d.feature == feature],
            }
        )
    return slices


class HtmlFormatter:
    extension = "html"

    def render(self, result: AuditResult) -> str:
        severity_counts = Counter(finding.severity for finding in result.findings)
        context = {
            "result": result,
            "run": result.run,
            "css": _load_template("report.css"),
            "severities": [
                (severity.value, severity_counts.get(severity, 0))
                for severity in reversed(list(Severity))
            ],
            "slices": _slices(result),
            # The metrics the engine computed, in its order; the report adds none of its own.
            "group_columns": next(
                (tuple(group.metrics) for group in result.groups if group.metrics), ()
            ),
            "config_json": json.dumps(result.run.config, indent=2, sort_keys=True),
        }
        return environment().get_template("report.html.j2").render(context)
