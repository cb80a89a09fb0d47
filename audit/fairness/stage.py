"""The fairness stage: every slice's group metrics and disparities with their intervals."""

from __future__ import annotations

import math
from collections.abc import Mapping

from audit.core.policy import Policy
from audit.core.prepared import PreparedAudit
from audit.core.stage import Need, StageOutcome
from audit.fairness.tables import FairnessTables, fairness_from_counts

STAGE_ID = "fairness"


def _rounded_up(value: float) -> str:
    """``value`` with two significant digits, rounded up: a bound must not be understated."""
    exponent = math.floor(math.log10(value))
    return f"{math.ceil(value / 10.0 ** (exponent - 1)) / 10:.1f}e{exponent:+03d}"


def _sketch_note(tables: FairnessTables, policy: Policy) -> tuple[str, ...]:
    if tables.auc_max_error == 0:
        return ()
    return (
        f"ROC AUC from a score sketch (more than exact_auc_rows = {policy.exact_auc_rows} rows): "
        f"each value is at most {_rounded_up(tables.auc_max_error)} from the exact one",
    )


class FairnessStage:
    id = STAGE_ID
    required = True  # its tables are the result's groups and disparities
    needs: tuple[Need, ...] = ()

    def runs_model(self, prepared: PreparedAudit) -> bool:
        return False

    def run(self, prepared: PreparedAudit, reports: Mapping[str, object]) -> StageOutcome:
        data, settings = prepared.data, prepared.settings
        tables = fairness_from_counts(
            data.fine.n_cells,
            list(data.slices),
            data.cell_counts,
            data.auc,
            data.calibration,
            settings.policy,
            settings.threads,
            settings.progress,
        )
        return StageOutcome(tables, notes=_sketch_note(tables, settings.policy))

    def skipped(self, reason: str) -> None:
        return None
