"""What the data-fit checks share: the stage's report, or why they cannot run."""

from __future__ import annotations

from audit.core.check import AuditContext, CheckSkipped
from audit.core.findings import Evidence
from audit.datafit.results import DataFitReport
from audit.datafit.stage import STAGE_ID


def data_fit_report(context: AuditContext) -> DataFitReport:
    report = context.report(STAGE_ID, DataFitReport)
    if report is None:
        raise CheckSkipped("the data-fit stage did not run")
    return report


# Where a finding about all the audited rows, not one group's, is: "9.0% of the labels over
# all rows", never "in every row", which reads as each row.
WHOLE = "over all rows"


def ready(status: str, reason: str | None, part: str) -> None:
    """Skip the check when its part of the report did not run."""
    if status != "ok":
        raise CheckSkipped(reason or f"the {part} part of the data-fit stage {status}")


def undefined(evidence: Evidence, why: str) -> Evidence:
    """The evidence of a subject too small to measure: no value, and why."""
    return Evidence(
        metric=evidence.metric,
        value=None,
        threshold=evidence.threshold,
        bound=evidence.bound,
        feature=evidence.feature,
        groups=evidence.groups,
        n=evidence.n,
        details={**evidence.details, "undefined": why},
    )
