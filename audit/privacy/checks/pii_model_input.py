"""privacy.pii_model_input: personal data, or a value derived from it, that the model uses.

Data minimisation (GDPR Art. 5(1)(c)) asks whether the model needs it; a direct identifier
as an input almost never is, a postcode or a special category of data needs a reason.
"""

from __future__ import annotations

from audit.core.check import AuditContext, CheckSkipped, Measurement
from audit.core.findings import Evidence
from audit.privacy.checks.common import (
    by_column,
    describe,
    detection_details,
    privacy_report,
    ready,
)
from audit.privacy.checks.pii_in_data import grade_key
from audit.privacy.report import PiiScan


class PiiModelInputCheck:
    needs: tuple[str, ...] = ("privacy",)

    id = "privacy.pii_model_input"

    def run(self, context: AuditContext) -> tuple[Measurement, ...]:
        scan: PiiScan = ready(privacy_report(context).pii)
        if context.features is None:
            raise CheckSkipped("no model: which columns it uses is unknown")
        measured = []
        for column, detections in by_column(scan.detections).items():
            used = [detection for detection in detections if detection.model_input]
            if not used:
                continue
            best = max(used, key=lambda detection: detection.share)
            derived = any(detection.basis == "derived name" for detection in used)
            evidence = Evidence(
                metric="pii_share",
                value=best.share,
                feature=(column,),
                n=(best.sampled,),
                details={
                    **detection_details(used),
                    "feature_source": context.features.source,
                    "derived": derived,
                },
            )
            measured.append(
                Measurement(
                    key=(column,),
                    evidence=evidence,
                    rule=grade_key(used),
                    words={
                        "column": column,
                        "kinds": describe(used),
                        "derived": "derived from " if derived else "",
                    },
                )
            )
        return tuple(measured)
