"""The what-if stage (--what-if): the mitigation trade-off table of every sensitive feature.

Required, so that it runs without a check needing it; without --what-if it is skipped and the
result has no section. A streamed audit holds a stratified sample of rows (each combination of
groups capped), not the population: thresholds fitted and measured on it would describe the
sample, so it is skipped there with that reason.
"""

from __future__ import annotations

from collections.abc import Mapping

from audit.core.prepared import PreparedAudit
from audit.core.stage import Need, StageOutcome
from audit.mitigation.results import WhatIf
from audit.mitigation.what_if import WhatIfInputs, what_if

STAGE_ID = "what_if"
NOT_ASKED = "not asked for (--what-if)"
STREAMED = (
    "a streamed audit keeps a stratified sample of rows, not every row: thresholds fitted and "
    "measured on it would describe the sample; run the what-if without --chunk-rows, "
    "partitions or --engine dask, on data that fits in memory"
)


class WhatIfStage:
    id = STAGE_ID
    required = True
    needs: tuple[Need, ...] = (
        Need("--what-if given", lambda prepared: prepared.settings.what_if, NOT_ASKED),
        Need("every row in memory", lambda prepared: not prepared.data.sampled, STREAMED),
        Need(
            "a tabular audit with sensitive columns",
            lambda prepared: prepared.model.text is None and bool(prepared.data.sensitive),
            "a text audit has no sensitive columns to set thresholds by",
        ),
    )

    def runs_model(self, prepared: PreparedAudit) -> bool:
        return False  # it moves thresholds over the scores already made

    def run(self, prepared: PreparedAudit, reports: Mapping[str, object]) -> StageOutcome:
        data, model, settings = prepared.data, prepared.model, prepared.settings
        section, errors = what_if(
            WhatIfInputs(
                labels=data.target.y,
                decisions=model.predictions.decisions,
                scores=model.predictions.scores,
                fine=data.fine,
                slices=data.slices,
                sensitive=data.sensitive,
                policy=settings.policy,
                threshold=settings.threshold,
                thresholded=model.loaded is not None,
                members=data.members,
                target_column=data.target_column,
                positive_label=data.target.positive_label,
            )
        )
        return StageOutcome(section, errors)

    def skipped(self, reason: str) -> WhatIf | None:
        # Not asked for: no section, so reports without --what-if are as they were.
        return None if reason == NOT_ASKED else WhatIf(status="skipped", reason=reason)
