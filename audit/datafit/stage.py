"""The data-fit stage: drift from the training data and label-noise suspicion, per group.

It reads the counts of every row (``AuditedData.fit``: counted here for data in memory, while
reading for a streamed audit), the training rows (--train-data) and the audited rows the
stages hold. A part that crashes is recorded as the stage's error and the other still runs.
"""

from __future__ import annotations

from collections.abc import Mapping

from audit.core.prepared import PreparedAudit
from audit.core.stage import Need, StageOutcome
from audit.core.stage_guard import guarded
from audit.datafit.drift import measure_drift
from audit.datafit.label_noise import measure_label_noise
from audit.datafit.results import DataFitReport, DriftResult, LabelNoiseResult

STAGE_ID = "data_fit"


def headline(drift: DriftResult, label_noise: LabelNoiseResult, psi_limit: float) -> str:
    """The section in one plain sentence."""
    if drift.status != "ok":
        said = "Drift from the training data was not measured"
    else:
        drifted = [
            column.column
            for column in drift.columns
            if (column.overall.psi_excess is not None and column.overall.psi_excess > psi_limit)
            or any(
                feature.psi_gap is not None and feature.psi_gap > psi_limit
                for feature in column.by_feature
            )
        ]
        if drift.reference != "training data":
            said = "Without training data, only missing and out-of-range values were counted"
        elif drifted:
            said = f"{len(drifted)} column(s) drifted from the training data ({', '.join(drifted)})"
        else:
            said = f"No column drifted from the training data past PSI {psi_limit:g}"
    if label_noise.status == "ok" and label_noise.overall is not None:
        rate = label_noise.overall.rate
        noise = (
            f"the model confidently contradicts {rate:.1%} of the labels"
            if rate is not None
            else "too few rows to count confidently contradicted labels"
        )
        return f"{said}; {noise}."
    return f"{said}."


class DataFitStage:
    """Is the data fit for the model: drift per column and group, label-noise suspicion."""

    id = STAGE_ID
    required = False
    needs: tuple[Need, ...] = ()

    def runs_model(self, prepared: PreparedAudit) -> bool:
        return False

    def run(self, prepared: PreparedAudit, reports: Mapping[str, object]) -> StageOutcome:
        data, policy = prepared.data, prepared.policy
        errors: list[str] = []
        counts = data.fit()
        drift = guarded(
            "drift",
            errors,
            DriftResult(status="skipped"),
            lambda: measure_drift(
                counts,
                data.members.frame if data.members is not None else None,
                data.frame,
                data.sensitive,
                policy,
                streamed=len(data.frame) < data.rows,
            ),
        )
        label_noise = guarded(
            "label_noise",
            errors,
            LabelNoiseResult(status="skipped"),
            lambda: measure_label_noise(counts, policy),
        )
        psi_limit = policy.thresholds["data_drift_psi"].limit
        report = DataFitReport(headline(drift, label_noise, psi_limit), drift, label_noise)
        return StageOutcome(report, tuple(errors))

    def skipped(self, reason: str) -> None:
        return None
