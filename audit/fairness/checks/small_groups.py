"""data.small_groups: groups too small to measure, reported rather than dropped."""

from __future__ import annotations

import numpy as np

from audit.core.check import AuditContext, Measurement
from audit.core.findings import Evidence
from audit.fairness.checks.common import fairness_tables


class SmallGroupsCheck:
    needs: tuple[str, ...] = ("fairness",)

    id = "data.small_groups"

    def run(self, context: AuditContext) -> tuple[Measurement, ...]:
        minimum = context.policy.min_group_size
        measured = []
        for stats in fairness_tables(context).slices:
            small = np.flatnonzero(~stats.ok)
            # A slice without small groups passes with its smallest group as the evidence.
            shown = small if len(small) else [int(np.argmin(stats.counts.sum(axis=1)))]
            groups = tuple(stats.slice.labels[index] for index in shown)
            sizes = tuple(int(stats.counts[index].sum()) for index in shown)
            evidence = Evidence(
                metric="group_size",
                value=float(min(sizes)),
                threshold=float(minimum),
                bound="min",
                feature=stats.slice.features,
                groups=groups,
                n=sizes,
            )
            measured.append(
                Measurement(
                    key=(stats.slice.features,),
                    evidence=evidence,
                    rule="small" if len(small) else None,
                    words={
                        "count": len(groups),
                        "minimum": minimum,
                        "feature": "×".join(stats.slice.features),
                        "min_group_size": minimum,
                    },
                )
            )
        return tuple(measured)
