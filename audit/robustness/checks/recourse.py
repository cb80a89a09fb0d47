"""robustness.recourse_gap: rejected people of one group need a larger change of what they
can act on to be approved than another group's, or can less often reach approval at all."""

from __future__ import annotations

from audit.core.check import AuditContext, Measurement
from audit.robustness.checks.common import gap_measurement, part_of, robustness_of
from audit.robustness.stage import RECOURSE_COST, RECOURSE_SHARE

# The gap metric's threshold, and whether its higher group is the disadvantaged one.
JUDGED = {
    RECOURSE_SHARE: ("recourse_share_gap", False, "share of rejected people with recourse"),
    RECOURSE_COST: ("recourse_cost_gap", True, "median cost of recourse"),
}


class RecourseGapCheck:
    needs: tuple[str, ...] = ("robustness",)

    id = "robustness.recourse_gap"

    def run(self, context: AuditContext) -> tuple[Measurement, ...]:
        recourse = part_of(robustness_of(context).recourse, "recourse search")
        measured = []
        for gap in recourse.gaps:
            threshold, high_is_worse, what = JUDGED[gap.metric]
            values = recourse.shares if gap.metric == RECOURSE_SHARE else recourse.costs
            measured.append(
                gap_measurement(context, gap, values, threshold, high_is_worse, {"measure": what})
            )
        return tuple(measured)
