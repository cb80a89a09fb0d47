"""privacy.attribute_inference: a sensitive attribute can be read off the model's output.

The cross-validated attack's AUC against the policy threshold (chance is 0.5), graded by
its bootstrap interval. Whoever sees the scores learns the attribute, even where it was
never collected or may not be used.
"""

from __future__ import annotations

from audit.core.check import AuditContext, Measurement
from audit.core.findings import Evidence
from audit.privacy.checks.common import privacy_report, ready
from audit.privacy.report import AttributeInferenceResult

METRIC = "attribute_inference_auc"


class AttributeInferenceCheck:
    needs: tuple[str, ...] = ("privacy",)

    id = "privacy.attribute_inference"

    def run(self, context: AuditContext) -> tuple[Measurement, ...]:
        result: AttributeInferenceResult = ready(privacy_report(context).attribute_inference)
        threshold = context.policy.thresholds.get(METRIC)
        if threshold is None:
            return ()
        measured = []
        for attribute in result.attributes:
            if attribute.status != "ok" or attribute.auc is None:
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
                details={
                    "chance_auc": attribute.chance_auc,
                    "base_rate": attribute.base_rate,
                    "attack_accuracy": attribute.attack_accuracy,
                    "attack_inputs": list(result.inputs),
                    "attack_model": result.attack_model,
                },
            )
            measured.append(
                Measurement(
                    key=(attribute.attribute,),
                    evidence=evidence,
                    threshold=threshold,
                    words={"attribute": attribute.attribute, "inputs": " and ".join(result.inputs)},
                )
            )
        return tuple(measured)
