"""robustness.stability_gap: decisions of one group change under small, realistic
perturbations of its inputs far more often than another group's."""

from __future__ import annotations

from audit.core.check import AuditContext, Measurement
from audit.robustness.checks.common import gap_measurement, part_of, robustness_of
from audit.robustness.stage import FLIP_RATE

THRESHOLD = "robustness_flip_rate_gap"


class StabilityGapCheck:
    needs: tuple[str, ...] = ("robustness",)

    id = "robustness.stability_gap"

    def run(self, context: AuditContext) -> tuple[Measurement, ...]:
        stability = part_of(robustness_of(context).stability, "perturbation test")
        return tuple(
            gap_measurement(context, gap, stability.flip_rates, THRESHOLD, True, {})
            for gap in stability.gaps
            if gap.metric == FLIP_RATE
        )
