"""What the privacy checks share: reading the privacy stage's report from the context."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from audit.core.check import AuditContext, CheckSkipped
from audit.privacy.report import PiiDetection, PrivacyReport
from audit.privacy.stage import STAGE_ID


def privacy_report(context: AuditContext) -> PrivacyReport:
    report = context.report(STAGE_ID, PrivacyReport)
    if report is None:
        raise CheckSkipped("the privacy stage did not run")
    return report


def ready(section: Any) -> Any:
    """The section if it ran; CheckSkipped with its reason otherwise."""
    if section.status == "error":
        raise CheckSkipped("the privacy stage crashed here; see the check 'privacy'")
    if section.status != "ok":
        raise CheckSkipped(section.reason or "the privacy stage skipped this part")
    return section


def by_column(detections: tuple[PiiDetection, ...]) -> dict[str, list[PiiDetection]]:
    columns: dict[str, list[PiiDetection]] = defaultdict(list)
    for detection in detections:
        columns[detection.column].append(detection)
    return dict(columns)


def describe(detections: list[PiiDetection]) -> str:
    """``e-mail address (in free text), phone number``: the kinds found in one column."""
    return ", ".join(
        dict.fromkeys(
            detection.label + (" (in free text)" if detection.in_text else "")
            for detection in detections
        )
    )


def detection_details(detections: list[PiiDetection]) -> dict[str, Any]:
    """Aggregates for a finding's evidence: kinds, shares, confidence; masked examples only."""
    return {
        "types": [detection.type for detection in detections],
        "schemes": [detection.scheme for detection in detections],
        "categories": [detection.category for detection in detections],
        "confidence": [detection.confidence for detection in detections],
        "basis": [detection.basis for detection in detections],
        "shares": [detection.share for detection in detections],
        "masked_examples": [
            detection.masked_example for detection in detections if detection.masked_example
        ],
    }
