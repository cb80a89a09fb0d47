"""text.counterfactual_substitution: identity terms swapped in real texts (Dixon et al. 2018).

Per term pair of a category (he<->she, christian<->muslim, Emily<->Lakisha, ...): the mean
score change, turned so that it names the term whose version is judged more adversely, and
the share of decisions that flip, each against its threshold and graded by its interval.
Pairs with fewer changed texts than ``min_group_size`` are reported in the text section
only, like small groups.
"""

from __future__ import annotations

from audit.core.check import AuditContext, Measurement, format_number
from audit.core.findings import Evidence
from audit.text.checks.common import oriented, quoted, ready, text_report
from audit.text.results import SwapResult


class CounterfactualSubstitutionCheck:
    needs: tuple[str, ...] = ("text",)

    id = "text.counterfactual_substitution"

    def run(self, context: AuditContext) -> tuple[Measurement, ...]:
        text = text_report(context)
        result = text.counterfactual
        ready(result.status, result.reason, "counterfactual substitution")
        adverse = text.model.adverse_label
        # +1 when a higher positive-class score is the adverse direction.
        toward_adverse = 1.0 if text.model.adverse_decision == "positive" else -1.0
        measured = []
        for pair in result.pairs:
            if pair.status != "ok":
                continue
            first, second = pair.terms[0], pair.terms[1]
            for metric in ("counterfactual_score_gap", "counterfactual_flip_rate"):
                threshold = context.policy.thresholds.get(metric)
                if threshold is None:
                    continue
                if metric == "counterfactual_score_gap":
                    if pair.score_gap is None:
                        continue
                    # Positive: the second term's version is judged more adversely.
                    shift, shift_ci = oriented(pair.score_gap, pair.score_gap_ci, toward_adverse)
                    sign = 1.0 if shift >= 0 else -1.0
                    value, interval = oriented(shift, shift_ci, sign)
                    disfavoured, favoured = (second, first) if sign > 0 else (first, second)
                    what = (
                        f"texts with {quoted(disfavoured)} instead of {quoted(favoured)} are "
                        f"judged more {adverse}: mean score change {format_number(value)} over "
                        f"{pair.oriented_rows} texts"
                    )
                else:
                    if pair.flip_rate is None:
                        continue
                    value, interval = pair.flip_rate, pair.flip_rate_ci
                    disfavoured = pair.disfavoured or second
                    favoured = first if disfavoured == second else second
                    what = (
                        f"swapping {quoted(first)} and {quoted(second)} flips "
                        f"{format_number(value)} of {pair.rows} decisions "
                        f"({pair.flips_to_adverse} to {adverse})"
                    )
                unknown = [
                    term
                    for term, known in zip(pair.terms, pair.in_vocabulary, strict=True)
                    if not known
                ]
                if unknown:
                    what += f"; {', '.join(map(quoted, unknown))} not in the model's vocabulary"
                evidence = Evidence(
                    metric=metric,
                    value=value,
                    interval=interval,
                    threshold=threshold.limit,
                    bound=threshold.bound,
                    feature=(pair.category,),
                    groups=(pair.groups[0:1], pair.groups[1:2]),
                    n=(pair.rows,),
                    details=_details(pair, disfavoured),
                )
                measured.append(
                    Measurement(
                        key=(pair.category, pair.terms, metric),
                        evidence=evidence,
                        threshold=threshold,
                        words={
                            "category": text.identity.categories.get(pair.category, pair.category),
                            "what": what,
                            "disfavoured": quoted(disfavoured),
                            "favoured": quoted(favoured),
                            "adverse": adverse,
                        },
                    )
                )
        return tuple(measured)


def _details(pair: SwapResult, disfavoured: str) -> dict[str, object]:
    return {
        "terms": list(pair.terms),
        "disfavoured": disfavoured,
        "score_gap": pair.score_gap,
        "score_gap_ci": pair.score_gap_ci,
        "flip_rate": pair.flip_rate,
        "flips_to_adverse": pair.flips_to_adverse,
        "flips_from_adverse": pair.flips_from_adverse,
        "mean_abs_change": pair.mean_abs_change,
        "in_vocabulary": list(pair.in_vocabulary),
    }
