"""explain.instability: the explanations disagree with each other or do not add up, so they
should not be quoted as evidence."""

from __future__ import annotations

from audit.core.check import AuditContext, Measurement, format_number
from audit.core.findings import Evidence
from audit.core.policy import Threshold
from audit.explain.checks.common import explanations_of
from audit.explain.results import CAPTUM_METHODS

AGREEMENT = "explain_agreement"
COMPLETENESS = "explain_completeness_error"


class InstabilityCheck:
    needs: tuple[str, ...] = ("explain",)

    id = "explain.instability"

    def run(self, context: AuditContext) -> tuple[Measurement, ...]:
        explanations = explanations_of(context)
        agreement_limit = context.policy.thresholds[AGREEMENT]
        completeness_limit = context.policy.thresholds[COMPLETENESS]
        measured = []
        for agreement in explanations.agreement:
            # SHAP against each Captum method: two independent families of explanation.
            if agreement.methods[0] != "shap" or agreement.methods[1] not in CAPTUM_METHODS:
                continue
            if agreement.spearman is None:
                continue
            measured.append(
                _measurement(
                    agreement_limit,
                    "rank_agreement",
                    agreement.spearman,
                    agreement.methods,
                    {"columns": agreement.columns},
                    what=f"{agreement.methods[0]} and {agreement.methods[1]} rank the columns "
                    f"with Spearman correlation {format_number(agreement.spearman)}",
                )
            )
        for name, method in explanations.methods.items():
            completeness = method.completeness
            if method.status != "ok" or completeness is None or not completeness.judged:
                continue
            error = completeness.relative_error
            if error is None:
                continue
            measured.append(
                _measurement(
                    completeness_limit,
                    "completeness_error",
                    error,
                    (name,),
                    {
                        "mean_abs_error": completeness.mean_abs_error,
                        "reference": completeness.reference,
                    },
                    what=f"{name} attributions miss f(x) - f(reference) by "
                    f"{format_number(error)} of it on average",
                )
            )
        return tuple(measured)


def _measurement(
    threshold: Threshold,
    metric: str,
    value: float,
    methods: tuple[str, ...],
    details: dict[str, object],
    what: str,
) -> Measurement:
    # No sampling interval: the value describes these explanations, not a population, so a
    # violation is graded by rule, critical past the critical level.
    if not threshold.violated_by(value):
        level = None
    else:
        level = "critical" if threshold.critical_by(value) else "clear"
    evidence = Evidence(
        metric=metric,
        value=value,
        threshold=threshold.limit,
        bound=threshold.bound,
        feature=(),
        details={"methods": list(methods), **details},
    )
    return Measurement(
        key=(metric, methods),
        evidence=evidence,
        rule=level,
        words={"what": what, "limit": format_number(threshold.limit)},
    )
