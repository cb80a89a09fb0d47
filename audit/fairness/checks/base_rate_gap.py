"""data.base_rate_gap: how far the share of positive labels differs between groups."""

from __future__ import annotations

import numpy as np

from audit.core.check import (
    AuditContext,
    format_groups,
    format_number,
    grade,
    make_finding,
)
from audit.core.check_knowledge import check_table
from audit.core.findings import Evidence, Finding
from audit.core.intervals import interval_of
from audit.fairness.checks.common import fairness_tables
from audit.fairness.tables import between_difference

THRESHOLD = "base_rate_gap"


class BaseRateGapCheck:
    needs: tuple[str, ...] = ("fairness",)

    id = "data.base_rate_gap"

    def run(self, context: AuditContext) -> tuple[Finding, ...]:
        info = check_table()[self.id]
        policy = context.policy
        threshold = policy.thresholds[THRESHOLD]
        findings = []
        for stats in fairness_tables(context).slices:
            rates = stats.usable("base_rate")
            gap = between_difference(rates)
            if not np.isfinite(gap):
                continue
            replicates = stats.usable_replicates("base_rate")
            interval = interval_of(between_difference(replicates), policy.confidence_level)
            graded = grade(info, threshold, float(gap), interval)
            if graded is None:
                continue
            low, high = int(np.nanargmin(rates)), int(np.nanargmax(rates))
            groups = (stats.slice.labels[low], stats.slice.labels[high])
            evidence = Evidence(
                metric=THRESHOLD,
                value=float(gap),
                interval=interval,
                threshold=threshold.limit,
                bound=threshold.bound,
                feature=stats.slice.features,
                groups=groups,
                n=(int(stats.counts[low].sum()), int(stats.counts[high].sum())),
                statistically_clear=graded.clear,
                details={
                    "lowest_base_rate": float(rates[low]),
                    "highest_base_rate": float(rates[high]),
                },
            )
            findings.append(
                make_finding(
                    info,
                    context,
                    graded,
                    evidence,
                    key=(stats.slice.features,),
                    feature="×".join(stats.slice.features),
                    value=format_number(float(gap)),
                    bound="maximum",
                    threshold=format_number(threshold.limit),
                    groups=format_groups(groups),
                )
            )
        return tuple(findings)
