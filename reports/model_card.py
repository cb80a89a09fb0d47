"""report.model-card.md: a Markdown model card (Mitchell et al., "Model Cards for Model
Reporting", FAT* 2019) filled from the audit, for the model's developer to complete.

The audit fills what it measured: the model file, the factors (sensitive features and their
groups), the metrics by group with intervals, the evaluation data, the findings by accountable
role and the caveats. What only the developer knows (intended use, training data, risks and
mitigations) is left as clearly marked ``TODO(developer): ...`` placeholders. Completed, the
card is the core of the instructions for use that EU AI Act Art. 13 asks providers to supply.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from audit.core.findings import Finding, Role
from audit.core.result import (
    AuditResult,
    CheckStatus,
    GroupResult,
    GroupStatus,
    undefined_metrics,
)
from reports.markdown_report import (
    MarkdownSafe,
    describe,
    generic_recommendation,
    judged_disparities,
    markdown_environment,
    seriousness,
    threshold_of,
    violated,
    violation_ids,
)

TODO = "TODO(developer):"

# One sentence per metric; the definitions are in docs/metrics.md.
METRIC_MEANING = {
    "selection_rate": "The share of the group that receives the positive decision.",
    "base_rate": "The share of the group whose true label is positive.",
    "accuracy": "The share of the group whose decision matches the true label.",
    "true_positive_rate": (
        "Of the group's people with a positive label, the share that the model decides positive."
    ),
    "false_positive_rate": (
        "Of the group's people with a negative label, the share that the model decides positive."
    ),
    "false_negative_rate": (
        "Of the group's people with a positive label, the share that the model misses."
    ),
    "precision": "Of the group's positive decisions, the share whose true label is positive.",
    "roc_auc": (
        "The chance that the model scores a random positive member of the group above a random "
        "negative one (0.5 is guessing)."
    ),
    "calibration_error": (
        "The average gap between predicted probability and observed positive rate, over 10 "
        "score bins; 0 is perfectly calibrated."
    ),
}
DISPARITY_MEANING = {
    "demographic_parity_difference": "Largest gap in selection rate between groups.",
    "demographic_parity_ratio": "Smallest selection rate over the largest.",
    "equalized_odds_difference": (
        "Largest gap between groups in true positive rate or false positive rate."
    ),
    "equalized_odds_ratio": "Smallest ratio between groups of true or false positive rates.",
    "equal_opportunity_difference": "Largest gap in true positive rate between groups.",
    "selection_rate_ratio": "Each group's selection rate over the highest group's.",
    "base_rate_gap": "Largest gap in the share of positive labels between groups.",
}


def _file_name(path: str) -> str:
    return path.replace("\\", "/").rsplit("/", 1)[-1]


def _slices(result: AuditResult) -> list[dict[str, Any]]:
    by_feature: dict[tuple[str, ...], list[GroupResult]] = defaultdict(list)
    for group in result.groups:
        by_feature[group.feature].append(group)
    rows = result.run.data.rows
    return [
        {
            "feature": feature,
            "groups": [
                {"group": group, "share": MarkdownSafe(f"{group.n / rows:.1%}" if rows else "–")}
                for group in groups
            ],
        }
        for feature, groups in by_feature.items()
    ]


def _role_sections(result: AuditResult) -> list[dict[str, Any]]:
    failing = violation_ids(result)
    sections = []
    for info in result.knowledge.roles:
        owned = sorted(
            (finding for finding in result.findings if finding.accountable == info.role),
            key=lambda finding: seriousness(finding, failing),
        )
        consulted = [finding for finding in result.findings if info.role in finding.consulted]
        actions: dict[str, list[Finding]] = {}
        for finding in owned + consulted:
            action = finding.actions.get(info.role)
            if action:
                actions.setdefault(action, []).append(finding)
        sections.append(
            {
                "info": info,
                "owned": owned,
                "consulted": consulted,
                "actions": [
                    {"text": text, "checks": sorted({finding.check for finding in findings})}
                    for text, findings in actions.items()
                ],
            }
        )
    return sections


def _disparity_rows(result: AuditResult) -> list[dict[str, Any]]:
    rows = []
    for disparity in judged_disparities(result):
        bound, limit = threshold_of(result, disparity.metric)
        if disparity.value is None:
            status = "undefined"
        else:
            status = "violated" if violated(bound, limit, disparity.value) else "within"
        rows.append({"disparity": disparity, "bound": bound, "limit": limit, "status": status})
    return rows


def _thresholds(result: AuditResult) -> list[dict[str, Any]]:
    rows = []
    for metric, entry in result.run.config.get("thresholds", {}).items():
        bound, limit = threshold_of(result, metric)
        rows.append(
            {"metric": metric, "bound": bound, "limit": limit, "critical": entry.get("critical")}
        )
    return rows


def _positives(result: AuditResult) -> int | None:
    """Positive labels in the data: every row is in exactly one group of a one-feature slice."""
    for feature in result.run.data.sensitive:
        groups = [group for group in result.groups if group.feature == (feature,)]
        if groups and sum(group.n for group in groups) == result.run.data.rows:
            return sum(group.positives for group in groups)
    return None


def model_card_context(result: AuditResult) -> dict[str, Any]:
    run = result.run
    columns = next((tuple(group.metrics) for group in result.groups if group.metrics), ())
    checks_with_findings = list(dict.fromkeys(finding.check for finding in result.findings))
    positives = _positives(result)
    unclear = [f for f in result.findings if f.evidence.statistically_clear is False]
    return {
        "todo": MarkdownSafe(f"`{TODO}`"),
        "result": result,
        "run": run,
        "model": run.model,
        "data": run.data,
        "model_name": _file_name(run.model.file.path) if run.model.file else None,
        "data_name": _file_name(run.data.file.path),
        "started": run.started_at,
        "confidence": f"{run.confidence_level:.0%}",
        "slices": _slices(result),
        "metric_columns": columns,
        "metric_meaning": METRIC_MEANING,
        "disparity_meaning": DISPARITY_MEANING,
        "insufficient": [
            group for group in result.groups if group.status is GroupStatus.INSUFFICIENT_DATA
        ],
        "insufficient_status": GroupStatus.INSUFFICIENT_DATA,
        "disparities": _disparity_rows(result),
        "thresholds": _thresholds(result),
        "roles": _role_sections(result),
        "failing": violation_ids(result),
        "describe": describe,
        "skipped": [check for check in result.checks if check.status is not CheckStatus.OK],
        "undefined": undefined_metrics(result.groups),
        "unclear": unclear,
        "recommendations": [
            {"check": check, "text": generic_recommendation(result, check)}
            for check in checks_with_findings
            if generic_recommendation(result, check)
        ],
        "positives": positives,
        "positive_share": MarkdownSafe(f"{positives / run.data.rows:.1%}")
        if positives is not None and run.data.rows
        else None,
        "role_enum": Role,
        "percent": lambda value: MarkdownSafe(f"{value:.0%}"),
    }


class ModelCardFormatter:
    extension = "model-card.md"

    def render(self, result: AuditResult) -> str:
        template = markdown_environment().get_template("model_card.md.j2")
        return template.render(model_card_context(result))
