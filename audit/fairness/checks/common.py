"""What the fairness and data checks share: the fairness stage's tables, or why they cannot run."""

from __future__ import annotations

from audit.core.check import AuditContext, CheckSkipped
from audit.fairness.stage import STAGE_ID
from audit.fairness.tables import FairnessTables


def fairness_tables(context: AuditContext) -> FairnessTables:
    tables = context.report(STAGE_ID, FairnessTables)
    if tables is None:
        raise CheckSkipped("the fairness stage did not run")
    if not tables.slices:
        raise CheckSkipped(
            "no --sensitive column: a text audit's groups come from identity terms "
            "(see the text checks)"
        )
    return tables
