"""privacy.attribute_inference: a sensitive attribute can be read off the model's output.

The cross-validated attack's AUC against the policy threshold (chance is 0.5), graded by
its bootstrap interval. Whoever sees the scores learns the attribute, even where it was
never collected or may not be used.
"""

from __future__ import annotations

from audit.core.check import AuditContext, format_number, grade, make_finding
from audit.core.check_knowledge import check_table
from audit.core.findings import Evidence, Finding
from audit.privacy.checks.common import privacy_report, ready
from audit.privacy.report import AttributeInferenceResult

METRIC = "attribute_inference_auc"


class AttributeInferenceCheck:
    needs: tuple[str, ...] = ("privacy",)

    id = "privacy.attribute_inference"

    def run(self, context: AuditContext) -> tuple[Finding, ...]:
        info = check_table()[self.id]
        result: AttributeInferenceResult = ready(privacy_report(context).attribute_inference)
        threshold = context.policy.thresholds.get(METRIC)
        if threshold is None:
            return ()
        findings = []
        for attribute in result.attributes:
            if attribute.status != "ok" or attribute.auc is None:
                continue
            graded = grade(info, threshold, attribute.auc, attribute.ci)
            if graded is None:
                continue
            evidence = Evidence(
                metric=METRIC,
                value=attribute.auc,
                interval=attribute.ci,
                threshold=threshold.limit,
                bound=threshold.bound,
                feature=(attribute.attribute,),
                groups=tuple((group.group,) for group in attribute.groups),
                n=tuple(group.n for group in attribute.groups),
                statistically_clear=graded.clear,
                details={
                    "chance_auc": attribute.chance_auc,
                    "base_rate": attribute.base_rate,
                    "attack_accuracy": attribute.attack_accuracy,
                    "attack_inputs": list(result.inputs),
                    "attack_model": result.attack_model,
                },
            )
            findings.append(
                make_finding(
                    info,
                    context,
                    graded,
                    evidence,
                    key=(attribute.attribute,),
                    attribute=attribute.attribute,
                    value=format_number(attribute.auc),
                    bound="minimum" if threshold.bound == "min" else "maximum",
                    threshold=format_number(threshold.limit),
                    inputs=" and ".join(result.inputs),
                )
            )
        return tuple(findings)
