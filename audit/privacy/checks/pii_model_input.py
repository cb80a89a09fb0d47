"""privacy.pii_model_input: personal data, or a value derived from it, that the model uses.

Data minimisation (GDPR Art. 5(1)(c)) asks whether the model needs it; a direct identifier
as an input almost never is, a postcode or a special category of data needs a reason.
"""

from __future__ import annotations

from audit.core.check import AuditContext, CheckSkipped, graded_as, make_finding
from audit.core.check_knowledge import check_table
from audit.core.findings import Evidence, Finding
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

    def run(self, context: AuditContext) -> tuple[Finding, ...]:
        info = check_table()[self.id]
        scan: PiiScan = ready(privacy_report(context).pii)
        if context.features is None:
            raise CheckSkipped("no model: which columns it uses is unknown")
        findings = []
        for column, detections in by_column(scan.detections).items():
            used = [detection for detection in detections if detection.model_input]
            if not used:
                continue
            graded = graded_as(info, grade_key(used), kinds=describe(used))
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
            findings.append(
                make_finding(
                    info,
                    context,
                    graded,
                    evidence,
                    key=(column,),
                    column=column,
                    kinds=("derived from " if derived else "") + describe(used),
                )
            )
        return tuple(findings)
