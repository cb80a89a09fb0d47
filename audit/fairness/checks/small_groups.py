"""data.small_groups: groups too small to measure, reported rather than dropped."""

from __future__ import annotations

import numpy as np

from audit.core.check import AuditContext, graded_as, make_finding
from audit.core.check_knowledge import check_table
from audit.core.findings import Evidence, Finding
from audit.fairness.checks.common import fairness_tables


class SmallGroupsCheck:
    needs: tuple[str, ...] = ("fairness",)

    id = "data.small_groups"

    def run(self, context: AuditContext) -> tuple[Finding, ...]:
        info = check_table()[self.id]
        minimum = context.policy.min_group_size
        findings = []
        for stats in fairness_tables(context).slices:
            small = np.flatnonzero(~stats.ok)
            if not len(small):
                continue
            groups = tuple(stats.slice.labels[index] for index in small)
            sizes = tuple(int(stats.counts[index].sum()) for index in small)
            evidence = Evidence(
                metric="group_size",
                value=float(min(sizes)),
                threshold=float(minimum),
                bound="min",
                feature=stats.slice.features,
                groups=groups,
                n=sizes,
            )
            findings.append(
                make_finding(
                    info,
                    context,
                    graded_as(info, "small", count=len(groups), minimum=minimum),
                    evidence,
                    key=(stats.slice.features,),
                    count=len(groups),
                    feature="×".join(stats.slice.features),
                    min_group_size=minimum,
                )
            )
        return tuple(findings)
