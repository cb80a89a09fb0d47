"""explain.direct_use: a sensitive attribute is a model input, by name or as an encoded copy
(an integer code or one-hot columns under other names: ``audit.explain.copies``), and carries
a material share of the attribution (the model's decisions rest on the protected attribute
itself)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from audit.core.check import AuditContext, Measurement
from audit.core.findings import Evidence
from audit.explain.checks.common import encoded_name, explanations_of, percent, primary_method
from audit.explain.results import Explanations, MethodResult

THRESHOLD = "explain_attribution_share"


@dataclass(frozen=True)
class SensitiveUse:
    """One way a sensitive attribute enters the model, with the attribution it carries."""

    words: str  # how a finding names it: "sex", or "sex (encoded as sex_code)"
    columns: tuple[str, ...]  # the input columns whose attribution is summed
    feature: tuple[str, ...]
    key: tuple[str, ...]  # the fingerprint's key: stable across runs
    value: float  # mean |attribution| of the columns, summed
    share: float
    share_ci: tuple[float, float] | None
    share_by_method: dict[str, float]
    details: dict[str, Any] = field(default_factory=dict)


def sensitive_uses(explanations: Explanations, method: MethodResult) -> list[SensitiveUse]:
    """Every sensitive input by name, then every encoded copy, as ``method`` attributes them."""
    uses = []
    for column in explanations.sensitive_inputs:
        importance = method.importance_of(column)
        if importance is None:
            continue
        uses.append(
            SensitiveUse(
                words=column,
                columns=(column,),
                feature=(column,),
                key=(column,),
                value=importance.value,
                share=importance.share,
                share_ci=importance.share_ci,
                share_by_method={
                    name: found.share
                    for name, result in explanations.methods.items()
                    if (found := result.importance_of(column)) is not None
                },
            )
        )
    for copy in explanations.encoded_copies:
        carried = method.copy_importance_of(copy)
        if carried is None:
            continue
        uses.append(
            SensitiveUse(
                words=encoded_name(copy.attribute, copy.columns),
                columns=copy.columns,
                # The attribute, as for a named input: direct use of sex is one cause however
                # sex enters the model (audit.core.causes merges them); the columns are in details.
                feature=(copy.attribute,),
                key=(copy.attribute, *copy.columns),
                value=carried.value,
                share=carried.share,
                share_ci=carried.share_ci,
                share_by_method={
                    name: summed.share
                    for name, result in explanations.methods.items()
                    if (summed := result.copy_importance_of(copy)) is not None
                },
                details={
                    "attribute": copy.attribute,
                    "encoded_as": list(copy.columns),
                    "encoding_measure": copy.measure,
                    "encoding_association": copy.value,
                    "group_code_share": copy.group_code_share,
                    "codes": {group: list(code) for group, code in copy.codes.items()},
                },
            )
        )
    return uses


class DirectUseCheck:
    needs: tuple[str, ...] = ("explain",)

    id = "explain.direct_use"

    def run(self, context: AuditContext) -> tuple[Measurement, ...]:
        explanations = explanations_of(context)
        if not explanations.sensitive_inputs and not explanations.encoded_copies:
            return ()  # no sensitive attribute feeds the model: nothing to use directly
        method = primary_method(explanations)
        threshold = context.policy.thresholds[THRESHOLD]
        measured = []
        for use in sensitive_uses(explanations, method):
            evidence = Evidence(
                metric="attribution_share",
                value=use.share,
                interval=use.share_ci,
                threshold=threshold.limit,
                bound=threshold.bound,
                feature=use.feature,
                n=(method.rows,),
                details={
                    "method": method.method,
                    "share_by_method": use.share_by_method,
                    "mean_abs_attribution": use.value,
                    # 1 + the columns that carry more attribution than these together.
                    "rank": 1
                    + sum(
                        item.value > use.value
                        for item in method.global_importance
                        if item.column not in use.columns
                    ),
                    "columns": len(method.global_importance),
                    **use.details,
                },
            )
            measured.append(
                Measurement(
                    key=use.key,
                    evidence=evidence,
                    threshold=threshold,
                    show=percent,
                    words={"column": use.words, "method": method.method},
                )
            )
        return tuple(measured)
