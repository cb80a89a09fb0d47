"""The check: the largest gap between group mean scores of each sensitive column.

It measures; rai-audit's engine grades each measurement against the policy's threshold for
``mean_score_gap`` (its default is in ``example.mean_score_gap.toml``; a policy file may change
it), words the finding from the same file and names its owner from it.
"""

from __future__ import annotations

from importlib import resources

import numpy as np

from audit.core.check import AuditContext, CheckSkipped, Measurement, format_groups
from audit.core.check_knowledge import load_check_info
from audit.core.findings import Evidence
from audit.core.intervals import interval_of
from rai_audit_example_plugin.stage import STAGE_ID, ScoreMeans

CHECK_ID = "example.mean_score_gap"
METRIC = "mean_score_gap"


class MeanScoreGapCheck:
    id = CHECK_ID
    needs = (STAGE_ID,)
    knowledge = load_check_info(
        CHECK_ID,
        resources.files(__package__).joinpath(f"{CHECK_ID}.toml").read_text("utf-8"),
    )

    def run(self, context: AuditContext) -> tuple[Measurement, ...]:
        report = context.report(STAGE_ID, ScoreMeans)
        if report is None:
            raise CheckSkipped("the score means stage did not run (the audit has no scores)")
        threshold = context.policy.thresholds[METRIC]
        measured = []
        for column in report.columns:
            if len(column.groups) < 2:
                continue
            low, high = int(np.argmin(column.means)), int(np.argmax(column.means))
            groups = ((column.groups[low],), (column.groups[high],))
            evidence = Evidence(
                metric=METRIC,
                value=column.means[high] - column.means[low],
                interval=interval_of(np.asarray(column.gap_replicates), report.confidence_level),
                threshold=threshold.limit,
                bound=threshold.bound,
                feature=(column.column,),
                groups=groups,
                n=(column.sizes[low], column.sizes[high]),
                details={"lowest_mean": column.means[low], "highest_mean": column.means[high]},
            )
            measured.append(
                Measurement(
                    key=(column.column,),
                    evidence=evidence,
                    threshold=threshold,
                    words={"feature": column.column, "groups": format_groups(groups)},
                )
            )
        return tuple(measured)
