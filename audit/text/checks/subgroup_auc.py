"""text.subgroup_auc: subgroup, BPSN and BNSP AUCs per identity group (Borkan et al. 2019).

Each metric's gap to the overall AUC is judged against ``subgroup_auc_gap``, graded by its
paired bootstrap interval. Groups mentioned by fewer than ``min_group_size`` texts get no
metrics (shown as insufficient data in the text section).
"""

from __future__ import annotations

from audit.core.check import AuditContext, Measurement, format_number
from audit.core.findings import Evidence
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

    def run(self, context: AuditContext) -> tuple[Measurement, ...]:
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
        measured = []
        for group in result.groups:
            if group.status != "ok":
                continue
            label = labels.get((group.category, group.group), group.group)
            for metric, name in METRIC_NAMES.items():
                gap, auc = group.gap.get(metric), group.metrics.get(metric)
                if gap is None or auc is None:
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
                    details={
                        "auc": auc,
                        "auc_ci": group.ci.get(metric),
                        "overall_auc": result.overall_auc,
                        "positives": group.positives,
                    },
                )
                measured.append(
                    Measurement(
                        key=(group.category, group.group, metric),
                        evidence=evidence,
                        threshold=threshold,
                        words={
                            "metric_name": name,
                            "group": label,
                            "category": text.identity.categories.get(
                                group.category, group.category
                            ),
                            "auc": format_number(auc),
                            "overall": format_number(result.overall_auc),
                            "meaning": meaning(metric, label, positive, negative),
                        },
                    )
                )
        return tuple(measured)
