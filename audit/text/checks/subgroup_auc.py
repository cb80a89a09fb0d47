"""text.subgroup_auc: subgroup, BPSN and BNSP AUCs per identity group (Borkan et al. 2019).

Each metric's gap to the overall AUC is judged against ``subgroup_auc_gap``, graded by its
paired bootstrap interval. Groups mentioned by fewer than ``min_group_size`` texts get no
metrics (shown as insufficient data in the text section).
"""

from __future__ import annotations

from audit.core.check import AuditContext, format_number, grade, make_finding
from audit.core.check_knowledge import check_table
from audit.core.findings import Evidence, Finding
from audit.text.checks.common import ready, text_report

METRIC_NAMES = {
    "subgroup_auc": "Subgroup AUC",
    "bpsn_auc": "BPSN AUC",
    "bnsp_auc": "BNSP AUC",
}


def meaning(metric: str, group: str, positive: str, negative: str) -> str:
    if metric == "subgroup_auc":
        return f"The model tells {positive} from {negative} texts about {group} worse than overall."
    if metric == "bpsn_auc":
        return (
            f"The model scores {negative} texts about {group} above {positive} texts about "
            f"others: mentioning {group} pushes a text towards {positive}."
        )
    return (
        f"The model scores {positive} texts about {group} below {negative} texts about "
        f"others: mentioning {group} pushes a text towards {negative}."
    )


class SubgroupAucCheck:
    needs: tuple[str, ...] = ("text",)

    id = "text.subgroup_auc"

    def run(self, context: AuditContext) -> tuple[Finding, ...]:
        info = check_table()[self.id]
        text = text_report(context)
        result = text.subgroup_auc
        ready(result.status, result.reason, "subgroup AUCs")
        threshold = context.policy.thresholds.get("subgroup_auc_gap")
        if threshold is None or result.overall_auc is None:
            return ()
        positive = text.model.positive_label
        negative = (
            text.model.adverse_label
            if text.model.adverse_decision == "negative"
            else f"non-{positive}"
        )
        labels = {(group.category, group.group): group.label for group in text.identity.groups}
        findings = []
        for group in result.groups:
            if group.status != "ok":
                continue
            label = labels.get((group.category, group.group), group.group)
            for metric, name in METRIC_NAMES.items():
                gap, auc = group.gap.get(metric), group.metrics.get(metric)
                if gap is None or auc is None:
                    continue
                graded = grade(info, threshold, gap, group.gap_ci.get(metric))
                if graded is None:
                    continue
                evidence = Evidence(
                    metric=metric,
                    value=gap,
                    interval=group.gap_ci.get(metric),
                    threshold=threshold.limit,
                    bound=threshold.bound,
                    feature=(group.category,),
                    groups=((group.group,),),
                    n=(group.n,),
                    statistically_clear=graded.clear,
                    details={
                        "auc": auc,
                        "auc_ci": group.ci.get(metric),
                        "overall_auc": result.overall_auc,
                        "positives": group.positives,
                    },
                )
                findings.append(
                    make_finding(
                        info,
                        context,
                        graded,
                        evidence,
                        key=(group.category, group.group, metric),
                        metric_name=name,
                        group=label,
                        category=text.identity.categories.get(group.category, group.category),
                        auc=format_number(auc),
                        value=format_number(gap),
                        overall=format_number(result.overall_auc),
                        bound="minimum" if threshold.bound == "min" else "maximum",
                        threshold=format_number(threshold.limit),
                        meaning=meaning(metric, label, positive, negative),
                    )
                )
        return tuple(findings)
