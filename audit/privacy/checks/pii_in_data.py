"""privacy.pii_in_data: personal data in the audited data that the model does not use.

It is kept, copied and shown to people for no modelling purpose: a data-handling finding,
graded by what the column holds (a direct identifier more than a quasi-identifier) and how
sure the detection is.
"""

from __future__ import annotations

from audit.core.check import AuditContext, Measurement
from audit.core.findings import Evidence
from audit.privacy.checks.common import (
    by_column,
    describe,
    detection_details,
    privacy_report,
    ready,
)
from audit.privacy.report import PiiDetection, PiiScan


def grade_key(detections: list[PiiDetection]) -> str:
    """The knowledge table's severity grade for one column's detections."""
    sure = [detection for detection in detections if detection.confidence != "low"]
    if not sure:
        return "uncertain"
    if any(detection.in_text for detection in sure):
        return "text"
    return max((detection.category for detection in sure), key=["special", "quasi", "direct"].index)


class PiiInDataCheck:
    needs: tuple[str, ...] = ("privacy",)

    id = "privacy.pii_in_data"

    def run(self, context: AuditContext) -> tuple[Measurement, ...]:
        scan: PiiScan = ready(privacy_report(context).pii)
        measured = []
        for column, detections in by_column(scan.detections).items():
            if any(detection.model_input for detection in detections):
                continue  # privacy.pii_model_input reports it
            best = max(detections, key=lambda detection: detection.share)
            evidence = Evidence(
                metric="pii_share",
                value=best.share,
                feature=(column,),
                n=(best.sampled,),
                details=detection_details(detections),
            )
            measured.append(
                Measurement(
                    key=(column,),
                    evidence=evidence,
                    rule=grade_key(detections),
                    words={"column": column, "kinds": describe(detections)},
                )
            )
        return tuple(measured)
