"""The ll144 stage: the Local Law 144 bias-audit pack, computed when --format ll144 asks for it."""

from __future__ import annotations

from collections.abc import Mapping

from audit.core.prepared import PreparedAudit
from audit.core.stage import Need, StageOutcome
from audit.fairness.significance import four_fifths_limit
from audit.regulatory.ll144 import ll144_pack, scored_cells, selected_cells
from audit.regulatory.results import LL144Pack
from audit.regulatory.settings import pack_columns

STAGE_ID = "ll144"


class LL144Stage:
    id = STAGE_ID
    required = True  # no check reads it: it is an output, made when that output is asked for
    needs: tuple[Need, ...] = (
        Need(
            "ll144 pack",
            lambda prepared: prepared.settings.ll144,
            "the ll144 pack was not asked for (--format ll144)",
        ),
    )

    def runs_model(self, prepared: PreparedAudit) -> bool:
        return False

    def run(self, prepared: PreparedAudit, reports: Mapping[str, object]) -> StageOutcome:
        data, settings = prepared.data, prepared.policy.ll144
        totals = (
            scored_cells(data.cell_counts, data.auc, data.rows)
            if settings.mode == "scoring"
            else selected_cells(data.cell_counts)
        )
        pack: LL144Pack = ll144_pack(
            settings,
            pack_columns(settings, data.sensitive_columns),
            data.sensitive,
            data.fine.cell_codes,
            totals,
            four_fifths_limit(prepared.policy),
        )
        return StageOutcome(pack)

    def skipped(self, reason: str) -> None:
        return None
