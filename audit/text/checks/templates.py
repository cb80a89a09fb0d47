"""text.template_probes: neutral template sentences filled with each identity term.

A term whose neutral sentences are judged more adversely than those of its category's other
terms - by mean score (paired by template) or by the share judged adverse (Dixon et al.'s
false positive rate) - is a finding that names the term; the interval resamples templates.
Terms the model does not know reach it as the same unknown token, so they get the same
scores: those that are flagged together make one finding that names them all.
"""

from __future__ import annotations

from dataclasses import dataclass

from audit.core.check import AuditContext, Measurement, format_number, grade
from audit.core.check_knowledge import check_table
from audit.core.findings import Evidence
from audit.core.policy import Threshold
from audit.text.checks.common import Interval, oriented, quoted, ready, text_report
from audit.text.results import CategoryProbe, TermProbe, TextReport

METRICS = ("template_score_gap", "template_false_adverse_gap")


@dataclass(frozen=True)
class Probed:
    """One term's gap on one metric."""

    probe: TermProbe
    metric: str
    value: float
    interval: Interval
    threshold: Threshold


class TemplateProbesCheck:
    needs: tuple[str, ...] = ("text",)

    id = "text.template_probes"

    def run(self, context: AuditContext) -> tuple[Measurement, ...]:
        info = check_table()[self.id]
        text = text_report(context)
        result = text.templates
        ready(result.status, result.reason, "templated probes")
        toward_adverse = 1.0 if text.model.adverse_decision == "positive" else -1.0
        flagged: list[Probed] = []
        passed: list[Probed] = []
        for probe in result.terms:
            for metric in METRICS:
                threshold = context.policy.thresholds.get(metric)
                if threshold is None:
                    continue
                if metric == "template_score_gap":
                    value, interval = oriented(probe.score_gap, probe.score_gap_ci, toward_adverse)
                else:
                    value, interval = probe.false_adverse_gap, probe.false_adverse_gap_ci
                probed = Probed(probe, metric, value, interval, threshold)
                # The engine grades again; here the grade only decides the batches.
                if grade(info, threshold, value, interval) is None:
                    passed.append(probed)
                else:
                    flagged.append(probed)
        # Unknown terms flagged with the same value reach the model as the same tokens.
        batches: dict[tuple[str, str, float] | int, list[Probed]] = {}
        for position, item in enumerate(flagged):
            key: tuple[str, str, float] | int = (
                (item.probe.category, item.metric, round(item.value, 9))
                if not item.probe.in_vocabulary
                else position
            )
            batches.setdefault(key, []).append(item)
        categories = {category.category: category for category in result.categories}
        return tuple(
            _measurement(text, categories[batch[0].probe.category], batch)
            for batch in (*batches.values(), *([item] for item in passed))
        )


def _measurement(text: TextReport, category: CategoryProbe, batch: list[Probed]) -> Measurement:
    first = batch[0]
    probe, value = first.probe, first.value
    adverse = text.model.adverse_label
    label = text.identity.categories.get(probe.category, probe.category)
    terms = [item.probe.term for item in batch]
    named = ", ".join(map(quoted, terms))
    if not probe.in_vocabulary:
        named += " (not in the model's vocabulary: read as unknown tokens)"
    if first.metric == "template_score_gap":
        what = (
            f"{'are' if len(batch) > 1 else 'is'} judged more {adverse} than the other "
            f"{label} terms in {probe.templates} neutral sentences: mean score "
            f"{format_number(probe.mean_score)} against {format_number(category.mean_score)}"
            f", a gap of {format_number(value)}"
        )
    else:
        what = (
            f"{'make' if len(batch) > 1 else 'makes'} "
            f"{format_number(probe.false_adverse_rate)} of {probe.templates} neutral "
            f"sentences judged {adverse}, against {format_number(category.false_adverse_rate)}"
            f" for the category (gap {format_number(value)})"
        )
    evidence = Evidence(
        metric=first.metric,
        value=value,
        interval=first.interval,
        threshold=first.threshold.limit,
        bound=first.threshold.bound,
        feature=(probe.category,),
        groups=tuple(dict.fromkeys((item.probe.group,) for item in batch)),
        n=(probe.templates,),
        details={
            "terms": terms,
            "mean_score": probe.mean_score,
            "category_mean_score": category.mean_score,
            "false_adverse_rate": probe.false_adverse_rate,
            "category_false_adverse_rate": category.false_adverse_rate,
            "in_vocabulary": probe.in_vocabulary,
        },
    )
    return Measurement(
        key=(probe.category, tuple(terms), first.metric),
        evidence=evidence,
        threshold=first.threshold,
        words={"term": named, "category": label, "what": what, "adverse": adverse},
    )
