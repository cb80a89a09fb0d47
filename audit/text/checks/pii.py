"""text.pii_in_text: personal data in the text column and the model's reaction to it.

Inserting a synthetic e-mail address, phone number or name into sampled texts should not
move the score; a mean change past ``pii_insertion_score_change`` is a finding, graded by
its interval. PII found in the texts is the privacy checks' to report (privacy.pii_*); only
when the privacy stage did not run does this check report it itself (severity "present").
"""

from __future__ import annotations

from audit.core.check import AuditContext, Measurement, format_number
from audit.core.findings import Evidence
from audit.privacy.stage import STAGE_ID as PRIVACY_STAGE
from audit.text.checks.common import oriented, ready, text_report


class PiiInTextCheck:
    needs: tuple[str, ...] = ("text",)

    id = "text.pii_in_text"

    def run(self, context: AuditContext) -> tuple[Measurement, ...]:
        text = text_report(context)
        result = text.pii
        ready(result.status, result.reason, "PII probe")
        threshold = context.policy.thresholds.get("pii_insertion_score_change")
        found = {detection.type: detection for detection in result.detections}
        measured = []
        for insertion in result.insertions:
            if threshold is None:
                break
            # The size of the change, whichever way it goes: a negative change is turned over.
            sign = -1.0 if insertion.mean_change < 0 else 1.0
            value, interval = oriented(insertion.mean_change, insertion.mean_change_ci, sign)
            detection = found.get(insertion.type)
            evidence = Evidence(
                metric="pii_insertion_score_change",
                value=value,
                interval=interval,
                threshold=threshold.limit,
                bound=threshold.bound,
                feature=(text.column,),
                n=(insertion.sentences,),
                details={
                    "type": insertion.type,
                    "mean_change": insertion.mean_change,
                    "flip_rate": insertion.flip_rate,
                    "flips_to_adverse": insertion.flips_to_adverse,
                    "found_in_texts_share": detection.share if detection else 0.0,
                },
            )
            direction = "up" if insertion.mean_change > 0 else "down"
            measured.append(
                Measurement(
                    key=(text.column, insertion.type, "insertion"),
                    evidence=evidence,
                    threshold=threshold,
                    words={
                        "column": text.column,
                        "what": (
                            # The maximum is the score change's: it stands next to it.
                            f"an inserted {insertion.label} moves the score {direction} by "
                            f"{format_number.apart_from(value, threshold.limit)} on average "
                            f"(maximum {format_number(threshold.limit)}) over {insertion.texts} "
                            f"texts, and flips {format_number(insertion.flip_rate)} of decisions"
                        ),
                    },
                )
            )
        if PRIVACY_STAGE not in context.reports:
            measured.extend(self._present(context))
        return tuple(measured)

    def _present(self, context: AuditContext) -> list[Measurement]:
        text = text_report(context)
        measured = []
        for detection in text.pii.detections:
            evidence = Evidence(
                metric="pii_share_of_texts",
                value=detection.share,
                feature=(text.column,),
                n=(detection.sampled,),
                details={
                    "type": detection.type,
                    "source": detection.source,
                    "masked_example": detection.masked_example,
                },
            )
            measured.append(
                Measurement(
                    key=(text.column, detection.type, "present"),
                    evidence=evidence,
                    rule="present",
                    words={
                        "label": detection.label,
                        "column": text.column,
                        "what": (
                            f"{detection.label} in {format_number(detection.share)} of "
                            f"{detection.sampled} sampled texts (e.g. {detection.masked_example})"
                        ),
                    },
                )
            )
        return measured
