"""explain.direct_use: a sensitive column is a model input and carries a material share of the
attribution (the model's decisions rest on the protected attribute itself)."""

from __future__ import annotations

from audit.check_knowledge import check_table
from audit.checks.base import AuditContext, grade, make_finding
from audit.checks.explain_common import explanations_of, percent, primary_method
from audit.findings import Evidence, Finding

THRESHOLD = "explain_attribution_share"


class DirectUseCheck:
    id = "explain.direct_use"

    def run(self, context: AuditContext) -> tuple[Finding, ...]:
        explanations = explanations_of(context)
        if not explanations.sensitive_inputs:
            return ()  # no sensitive column feeds the model: nothing to use directly
        method = primary_method(explanations)
        info = check_table()[self.id]
        threshold = context.policy.thresholds[THRESHOLD]
        ranked = sorted(method.global_importance, key=lambda item: -item.value)
        findings = []
        for column in explanations.sensitive_inputs:
            importance = method.importance_of(column)
            if importance is None:
                continue
            graded = grade(info, threshold, importance.share, importance.share_ci, percent)
            if graded is None:
                continue
            shares = {
                name: found.share
                for name, result in explanations.methods.items()
                if (found := result.importance_of(column)) is not None
            }
            evidence = Evidence(
                metric="attribution_share",
                value=importance.share,
                interval=importance.share_ci,
                threshold=threshold.limit,
                bound=threshold.bound,
                feature=(column,),
                n=(method.rows,),
                statistically_clear=graded.clear,
                details={
                    "method": method.method,
                    "share_by_method": shares,
                    "mean_abs_attribution": importance.value,
                    "rank": 1 + [item.column for item in ranked].index(column),
                    "columns": len(ranked),
                },
            )
            findings.append(
                make_finding(
                    info,
                    context,
                    graded,
                    evidence,
                    key=(column,),
                    column=column,
                    value=percent(importance.share),
                    threshold=percent(threshold.limit),
                    method=method.method,
                )
            )
        return tuple(findings)
