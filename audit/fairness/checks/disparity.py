"""fairness.disparity: each disparity metric of each slice against its policy threshold.

fairness.calibration_gap is the same judgement over the calibration-error disparity: it is
its own check because a gap in what the scores mean has its own cause and owner.
"""

from __future__ import annotations

from audit.core.check import AuditContext, format_groups, format_number, grade, make_finding
from audit.core.check_knowledge import check_table
from audit.core.findings import Evidence, Finding
from audit.fairness.checks.common import fairness_tables
from audit.fairness.metrics import DISPARITIES


class DisparityCheck:
    needs: tuple[str, ...] = ("fairness",)

    def __init__(self, check_id: str = "fairness.disparity") -> None:
        self.id = check_id

    def run(self, context: AuditContext) -> tuple[Finding, ...]:
        tables = fairness_tables(context)
        info = check_table()[self.id]
        judged = {spec.name for spec in DISPARITIES if spec.check == self.id}
        policy = context.policy
        sizes = {
            (stats.slice.features, label): int(stats.counts[index].sum())
            for stats in tables.slices
            for index, label in enumerate(stats.slice.labels)
        }
        findings = []
        for disparity in tables.disparities:
            if (
                disparity.metric not in judged
                or disparity.comparison != policy.compare
                or disparity.value is None
            ):
                continue
            threshold = policy.thresholds.get(disparity.metric)
            if threshold is None:
                continue
            graded = grade(info, threshold, disparity.value, disparity.ci)
            if graded is None:
                continue
            evidence = Evidence(
                metric=disparity.metric,
                value=disparity.value,
                interval=disparity.ci,
                threshold=threshold.limit,
                bound=threshold.bound,
                feature=disparity.feature,
                groups=disparity.groups,
                n=tuple(sizes[(disparity.feature, group)] for group in disparity.groups),
                statistically_clear=graded.clear,
                details={
                    "comparison": disparity.comparison,
                    "reference_group": disparity.reference_group,
                },
            )
            findings.append(
                make_finding(
                    info,
                    context,
                    graded,
                    evidence,
                    key=(disparity.feature, disparity.metric, disparity.comparison),
                    metric=disparity.metric.replace("_", " "),
                    feature="×".join(disparity.feature),
                    value=format_number(disparity.value),
                    bound="minimum" if threshold.bound == "min" else "maximum",
                    threshold=format_number(threshold.limit),
                    groups=format_groups(disparity.groups),
                )
            )
        return tuple(findings)
