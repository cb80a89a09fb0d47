"""fairness.disparity: each disparity metric of each slice against its policy threshold.

fairness.calibration_gap is the same judgement over the calibration-error disparity: it is
its own check because a gap in what the scores mean has its own cause and owner.

A disparity without a value (too few rows, no scores) is measured too, its reason in the
evidence's details, so that the engine records it as undefined rather than dropping it.
"""

from __future__ import annotations

from audit.core.check import AuditContext, Measurement, format_groups
from audit.core.findings import Evidence
from audit.fairness.checks.common import fairness_tables
from audit.fairness.metrics import DISPARITIES


class DisparityCheck:
    needs: tuple[str, ...] = ("fairness",)

    def __init__(self, check_id: str = "fairness.disparity") -> None:
        self.id = check_id

    def run(self, context: AuditContext) -> tuple[Measurement, ...]:
        tables = fairness_tables(context)
        judged = {spec.name for spec in DISPARITIES if spec.check == self.id}
        policy = context.policy
        sizes = {
            (stats.slice.features, label): int(stats.counts[index].sum())
            for stats in tables.slices
            for index, label in enumerate(stats.slice.labels)
        }
        measured = []
        for disparity in tables.disparities:
            if disparity.metric not in judged or disparity.comparison != policy.compare:
                continue
            threshold = policy.thresholds.get(disparity.metric)
            if threshold is None:
                continue
            details: dict[str, object] = {
                "comparison": disparity.comparison,
                "reference_group": disparity.reference_group,
            }
            if disparity.value is None:
                details["undefined"] = disparity.undefined
            evidence = Evidence(
                metric=disparity.metric,
                value=disparity.value,
                interval=disparity.ci,
                threshold=threshold.limit,
                bound=threshold.bound,
                feature=disparity.feature,
                groups=disparity.groups,
                n=tuple(sizes[(disparity.feature, group)] for group in disparity.groups),
                details=details,
            )
            measured.append(
                Measurement(
                    key=(disparity.feature, disparity.metric, disparity.comparison),
                    evidence=evidence,
                    threshold=threshold,
                    words={
                        "metric": disparity.metric.replace("_", " "),
                        "feature": "×".join(disparity.feature),
                        "groups": format_groups(disparity.groups),
                    },
                )
            )
        return tuple(measured)
