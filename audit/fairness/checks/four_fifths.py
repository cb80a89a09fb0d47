"""fairness.four_fifths: each group's selection rate against the highest group's."""

from __future__ import annotations

import numpy as np

from audit.core.check import AuditContext, format_number, grade, make_finding
from audit.core.check_knowledge import check_table
from audit.core.findings import Evidence, Finding
from audit.core.intervals import interval_of
from audit.fairness.checks.common import fairness_tables

THRESHOLD = "selection_rate_ratio"


class FourFifthsCheck:
    needs: tuple[str, ...] = ("fairness",)

    id = "fairness.four_fifths"

    def run(self, context: AuditContext) -> tuple[Finding, ...]:
        info = check_table()[self.id]
        policy = context.policy
        threshold = policy.thresholds[THRESHOLD]
        findings = []
        for stats in fairness_tables(context).slices:
            rates = stats.usable("selection_rate")
            if np.isfinite(rates).sum() < 2 or np.nanmax(rates) <= 0:
                continue
            top = int(np.nanargmax(rates))
            replicates = stats.usable_replicates("selection_rate")
            with np.errstate(invalid="ignore", divide="ignore"):
                # The comparison group is the highest in each replicate, as in the rule.
                top_replicates = np.nanmax(
                    np.where(np.isnan(replicates), -np.inf, replicates), axis=1
                )
                ratio_replicates = replicates / top_replicates[:, None]
            for index in np.flatnonzero(np.isfinite(rates)):
                if index == top:
                    continue
                ratio = float(rates[index] / rates[top])
                interval = interval_of(ratio_replicates[:, index], policy.confidence_level)
                graded = grade(info, threshold, ratio, interval)
                if graded is None:
                    continue
                group, reference = stats.slice.labels[index], stats.slice.labels[top]
                evidence = Evidence(
                    metric=THRESHOLD,
                    value=ratio,
                    interval=interval,
                    threshold=threshold.limit,
                    bound=threshold.bound,
                    feature=stats.slice.features,
                    groups=(group, reference),
                    n=(int(stats.counts[index].sum()), int(stats.counts[top].sum())),
                    statistically_clear=graded.clear,
                    details={
                        "selection_rate": float(rates[index]),
                        "highest_selection_rate": float(rates[top]),
                    },
                )
                findings.append(
                    make_finding(
                        info,
                        context,
                        graded,
                        evidence,
                        key=(stats.slice.features, group),
                        feature="×".join(stats.slice.features),
                        group="/".join(group),
                        reference="/".join(reference),
                        value=format_number(ratio),
                        bound="minimum",
                        threshold=format_number(threshold.limit),
                    )
                )
        return tuple(findings)
