"""datafit.label_noise: labels the model's own scores confidently contradict, per group.

A suspicion, not proof (docs/data-fit.md): graded info whatever its size. Groups smaller than
min_group_size get no value.
"""

from __future__ import annotations

from audit.core.check import AuditContext, Measurement
from audit.core.findings import Evidence
from audit.datafit.checks.common import WHOLE, data_fit_report, ready, undefined
from audit.datafit.results import GroupLabelNoise
from audit.explain.checks.common import percent

METRIC = "label_noise_rate"


class LabelNoiseCheck:
    needs: tuple[str, ...] = ("data_fit",)

    id = "datafit.label_noise"

    def run(self, context: AuditContext) -> tuple[Measurement, ...]:
        result = data_fit_report(context).label_noise
        ready(result.status, result.reason, "label-noise")
        measured = []
        if result.overall is not None:
            measured.append(self._group(context, None, result.overall))
        for feature in result.by_feature:
            measured.extend(self._group(context, feature.feature, g) for g in feature.groups)
        return tuple(measured)

    def _group(
        self, context: AuditContext, feature: str | None, group: GroupLabelNoise
    ) -> Measurement:
        threshold = context.policy.thresholds[METRIC]
        evidence = Evidence(
            metric=METRIC,
            value=group.rate,
            interval=group.interval,
            threshold=threshold.limit,
            bound=threshold.bound,
            feature=(feature,) if feature is not None else (),
            groups=((group.group,),) if feature is not None else (),
            n=(group.rows,),
            details={
                "negatives_scored_high": group.negatives_scored_high,
                "positives_scored_low": group.positives_scored_low,
            },
        )
        if group.rate is None:
            evidence = undefined(evidence, "fewer than min_group_size rows")
        return Measurement(
            key=("label_noise", *((feature, group.group) if feature is not None else ())),
            evidence=evidence,
            threshold=threshold,
            words={
                "where": f"for {feature} = {group.group}" if feature else WHOLE,
                "rows": f"the rows of {feature} = {group.group}" if feature else "the audited rows",
                "subject": "this group" if feature else "the data",
            },
            show=percent,
        )
