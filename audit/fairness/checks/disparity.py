"""fairness.disparity: each disparity metric of each slice against its policy threshold.

fairness.calibration_gap is the same judgement over the calibration-error disparity: it is
its own check because a gap in what the scores mean has its own cause and owner.

A disparity without a value (too few rows, no scores) is measured too, its reason in the
evidence's details, so that the engine records it as undefined rather than dropping it.
"""

from __future__ import annotations

from audit.core.check import AuditContext, Measurement, format_groups
from audit.core.check_knowledge import in_words
from audit.core.findings import Evidence
from audit.core.policy import Policy
from audit.core.result import Disparity
from audit.fairness.checks.common import fairness_tables
from audit.fairness.metrics import DISPARITIES
from audit.fairness.significance import significance_details
from audit.fairness.tables import FairnessTables

# Disparities that are one group's selection rate over another's: adverse-impact ratios,
# reported with their significance as the four-fifths rule's are.
SELECTION_RATIOS = frozenset(
    spec.name
    for spec in DISPARITIES
    if spec.kind == "ratio" and spec.components == ("selection_rate",)
)


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
            elif disparity.metric in SELECTION_RATIOS and len(disparity.groups) == 2:
                details.update(_significance(tables, disparity, threshold.limit, policy))
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
                        "metric": in_words(disparity.metric),
                        "feature": "×".join(disparity.feature),
                        "groups": format_groups(disparity.groups),
                    },
                )
            )
        return tuple(measured)


def _significance(
    tables: FairnessTables, disparity: Disparity, limit: float, policy: Policy
) -> dict[str, object]:
    """The p-value and shortfall of a selection-rate ratio: its less selected group of the
    pair that sets it against the more selected one."""
    stats = next(stats for stats in tables.slices if stats.slice.features == disparity.feature)
    first, second = (stats.slice.labels.index(group) for group in disparity.groups)
    rates = stats.point["selection_rate"]
    lower, higher = (first, second) if rates[first] <= rates[second] else (second, first)
    return significance_details(stats.counts, lower, higher, limit, policy)
