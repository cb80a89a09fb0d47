"""explain.counterfactual_flip: changing only a sensitive input's value (the attribute's own
column, its encoded copies, or both together) changes decisions."""

from __future__ import annotations

from audit.core.check import AuditContext, grade, make_finding
from audit.core.check_knowledge import check_table
from audit.core.findings import Evidence, Finding
from audit.explain.checks.common import encoded_name, explanations_of, percent
from audit.explain.results import Flip

THRESHOLD = "explain_flip_rate"


class FlipCheck:
    needs: tuple[str, ...] = ("explain",)

    id = "explain.counterfactual_flip"

    def run(self, context: AuditContext) -> tuple[Finding, ...]:
        explanations = explanations_of(context)
        info = check_table()[self.id]
        threshold = context.policy.thresholds[THRESHOLD]
        by_attribute: dict[str, list[Flip]] = {}
        for flip in explanations.flips:
            if flip.changed_share is not None:
                by_attribute.setdefault(flip.attribute, []).append(flip)
        findings = []
        for attribute, flips in by_attribute.items():
            # One finding per attribute, graded by its worst pair; every pair is in the details.
            worst = max(flips, key=lambda flip: (flip.changed_share or 0.0, flip.n))
            assert worst.changed_share is not None  # filtered above
            graded = grade(info, threshold, worst.changed_share, worst.ci, percent)
            if graded is None:
                continue
            evidence = Evidence(
                metric="flip_rate",
                value=worst.changed_share,
                interval=worst.ci,
                threshold=threshold.limit,
                bound=threshold.bound,
                feature=(attribute,),
                groups=((worst.from_group,), (worst.to_group,)),
                n=(worst.n,),
                statistically_clear=graded.clear,
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
            findings.append(
                make_finding(
                    info,
                    context,
                    graded,
                    evidence,
                    key=(attribute,),
                    attribute=encoded_name(attribute, worst.columns),
                    value=percent(worst.changed_share),
                    threshold=percent(threshold.limit),
                    source=worst.from_group,
                    target=worst.to_group,
                )
            )
        return tuple(findings)
