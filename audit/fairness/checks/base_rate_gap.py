"""data.base_rate_gap: how far the share of positive labels differs between groups."""

from __future__ import annotations

import numpy as np

from audit.core.check import AuditContext, Measurement, format_groups
from audit.core.findings import Evidence
from audit.core.intervals import interval_of
from audit.fairness.checks.common import fairness_tables
from audit.fairness.tables import between_difference

THRESHOLD = "base_rate_gap"


class BaseRateGapCheck:
    needs: tuple[str, ...] = ("fairness",)

    id = "data.base_rate_gap"

    def run(self, context: AuditContext) -> tuple[Measurement, ...]:
        policy = context.policy
        threshold = policy.thresholds[THRESHOLD]
        measured = []
        for stats in fairness_tables(context).slices:
            rates = stats.usable("base_rate")
            gap = between_difference(rates)
            if not np.isfinite(gap):
                continue
            replicates = stats.usable_replicates("base_rate")
            low, high = int(np.nanargmin(rates)), int(np.nanargmax(rates))
            groups = (stats.slice.labels[low], stats.slice.labels[high])
            evidence = Evidence(
                metric=THRESHOLD,
                value=float(gap),
                interval=interval_of(between_difference(replicates), policy.confidence_level),
                threshold=threshold.limit,
                bound=threshold.bound,
                feature=stats.slice.features,
                groups=groups,
                n=(int(stats.counts[low].sum()), int(stats.counts[high].sum())),
                details={
                    "lowest_base_rate": float(rates[low]),
                    "highest_base_rate": float(rates[high]),
                },
            )
            measured.append(
                Measurement(
                    key=(stats.slice.features,),
                    evidence=evidence,
                    threshold=threshold,
                    words={
                        "feature": "×".join(stats.slice.features),
                        "groups": format_groups(groups),
                    },
                )
            )
        return tuple(measured)
