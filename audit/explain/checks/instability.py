"""explain.instability: the explanations disagree with each other or do not add up, so they
should not be quoted as evidence."""

from __future__ import annotations

from audit.core.check import AuditContext, format_number, graded_as, make_finding
from audit.core.check_knowledge import check_table
from audit.core.findings import Evidence, Finding
from audit.core.policy import Threshold
from audit.explain.checks.common import explanations_of
from audit.explain.results import CAPTUM_METHODS

AGREEMENT = "explain_agreement"
COMPLETENESS = "explain_completeness_error"


class InstabilityCheck:
    needs: tuple[str, ...] = ("explain",)

    id = "explain.instability"

    def run(self, context: AuditContext) -> tuple[Finding, ...]:
        explanations = explanations_of(context)
        agreement_limit = context.policy.thresholds[AGREEMENT]
        completeness_limit = context.policy.thresholds[COMPLETENESS]
        findings = []
        for agreement in explanations.agreement:
            # SHAP against each Captum method: two independent families of explanation.
            if agreement.methods[0] != "shap" or agreement.methods[1] not in CAPTUM_METHODS:
                continue
            if agreement.spearman is None or not agreement_limit.violated_by(agreement.spearman):
                continue
            findings.append(
                self._finding(
                    context,
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
            measured = method.completeness
            if method.status != "ok" or measured is None or not measured.judged:
                continue
            error = measured.relative_error
            if error is None or not completeness_limit.violated_by(error):
                continue
            findings.append(
                self._finding(
                    context,
                    completeness_limit,
                    "completeness_error",
                    error,
                    (name,),
                    {"mean_abs_error": measured.mean_abs_error, "reference": measured.reference},
                    what=f"{name} attributions miss f(x) - f(reference) by "
                    f"{format_number(error)} of it on average",
                )
            )
        return tuple(findings)

    def _finding(
        self,
        context: AuditContext,
        threshold: Threshold,
        metric: str,
        value: float,
        methods: tuple[str, ...],
        details: dict[str, object],
        what: str,
    ) -> Finding:
        info = check_table()[self.id]
        # No sampling interval: the value describes these explanations, not a population.
        level = "critical" if threshold.critical_by(value) else "clear"
        evidence = Evidence(
            metric=metric,
            value=value,
            threshold=threshold.limit,
            bound=threshold.bound,
            feature=(),
            details={"methods": list(methods), **details},
        )
        return make_finding(
            info,
            context,
            graded_as(info, level, what=what, limit=format_number(threshold.limit)),
            evidence,
            key=(metric, methods),
            what=what,
            bound="minimum" if threshold.bound == "min" else "maximum",
            threshold=format_number(threshold.limit),
        )
