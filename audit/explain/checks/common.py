"""What the ``explain.*`` checks share: the stage's result, or why they cannot run."""

from __future__ import annotations

from collections.abc import Sequence

from audit.core.check import AuditContext, CheckSkipped, NumberFormat
from audit.explain.results import Explanations, MethodResult
from audit.explain.stage import STAGE_ID


def explanations_of(context: AuditContext) -> Explanations:
    explanations = context.report(STAGE_ID, Explanations)
    if explanations is None:
        raise CheckSkipped("the explanation stage did not run")
    if explanations.status != "ok":
        raise CheckSkipped(f"no explanations: {explanations.reason}")
    return explanations


def primary_method(explanations: Explanations) -> MethodResult:
    """The method whose importance a finding quotes (SHAP, else Captum)."""
    method = explanations.primary()
    if method is None:
        reasons = "; ".join(
            f"{name}: {result.reason}" for name, result in explanations.methods.items()
        )
        raise CheckSkipped(f"no attribution method ran ({reasons})")
    return method


percent = NumberFormat(decimals=1, scale=100, suffix="%")


def encoded_name(attribute: str, columns: Sequence[str]) -> str:
    """An attribute named with the other input columns that encode it: "sex (encoded as
    sex_code)", or "sex (also encoded as sex_code)" when sex itself is among them."""
    encodings = [column for column in columns if column != attribute]
    if not encodings:
        return attribute
    also = "also " if attribute in columns else ""
    return f"{attribute} ({also}encoded as {', '.join(encodings)})"
