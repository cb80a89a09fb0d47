"""fairness.four_fifths: each group's selection rate against the highest group's."""

from __future__ import annotations

import numpy as np

from audit.core.check import AuditContext, Measurement
from audit.core.findings import Evidence
from audit.core.intervals import interval_of
from audit.fairness.checks.common import fairness_tables
from audit.fairness.significance import significance_details

THRESHOLD = "selection_rate_ratio"


class FourFifthsCheck:
    needs: tuple[str, ...] = ("fairness",)

    id = "fairness.four_fifths"

    def run(self, context: AuditContext) -> tuple[Measurement, ...]:
        policy = context.policy
        threshold = policy.thresholds[THRESHOLD]
        measured = []
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
                group, reference = stats.slice.labels[index], stats.slice.labels[top]
                evidence = Evidence(
                    metric=THRESHOLD,
                    value=ratio,
                    interval=interval_of(ratio_replicates[:, index], policy.confidence_level),
                    threshold=threshold.limit,
                    bound=threshold.bound,
                    feature=stats.slice.features,
                    groups=(group, reference),
                    n=(int(stats.counts[index].sum()), int(stats.counts[top].sum())),
                    details={
                        "selection_rate": float(rates[index]),
                        "highest_selection_rate": float(rates[top]),
                        **significance_details(
                            stats.counts, int(index), top, threshold.limit, policy
                        ),
                    },
                )
                measured.append(
                    Measurement(
                        key=(stats.slice.features, group),
                        evidence=evidence,
                        threshold=threshold,
                        words={
                            "feature": "×".join(stats.slice.features),
                            "group": "/".join(group),
                            "reference": "/".join(reference),
                        },
                    )
                )
        return tuple(measured)
