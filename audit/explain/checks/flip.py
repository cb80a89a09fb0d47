"""explain.counterfactual_flip: changing only a sensitive input's value (the attribute's own
column, its encoded copies, or both together) changes decisions."""

from __future__ import annotations

from audit.core.check import AuditContext, Measurement
from audit.core.findings import Evidence
from audit.explain.checks.common import encoded_name, explanations_of, percent
from audit.explain.results import Flip

THRESHOLD = "explain_flip_rate"


class FlipCheck:
    needs: tuple[str, ...] = ("explain",)

    id = "explain.counterfactual_flip"

    def run(self, context: AuditContext) -> tuple[Measurement, ...]:
        explanations = explanations_of(context)
        threshold = context.policy.thresholds[THRESHOLD]
        by_attribute: dict[str, list[Flip]] = {}
        for flip in explanations.flips:
            if flip.changed_share is not None:
                by_attribute.setdefault(flip.attribute, []).append(flip)
        measured = []
        for attribute, flips in by_attribute.items():
            # One measurement per attribute, its worst pair; every pair is in the details.
            worst = max(flips, key=lambda flip: (flip.changed_share or 0.0, flip.n))
            evidence = Evidence(
                metric="flip_rate",
                value=worst.changed_share,
                interval=worst.ci,
                threshold=threshold.limit,
                bound=threshold.bound,
                feature=(attribute,),
                groups=((worst.from_group,), (worst.to_group,)),
                n=(worst.n,),
                details={
                    "columns": list(worst.columns),
                    "mean_score_change": worst.mean_score_change,
                    "to_positive": worst.to_positive,
                    "to_negative": worst.to_negative,
                    "pairs": [
                        {
                            "from": flip.from_group,
                            "to": flip.to_group,
                            "n": flip.n,
                            "changed_share": flip.changed_share,
                            "mean_score_change": flip.mean_score_change,
                        }
                        for flip in flips
                    ],
                },
            )
            measured.append(
                Measurement(
                    key=(attribute,),
                    evidence=evidence,
                    threshold=threshold,
                    show=percent,
                    words={
                        "attribute": encoded_name(attribute, worst.columns),
                        "source": worst.from_group,
                        "target": worst.to_group,
                    },
                )
            )
        return tuple(measured)
