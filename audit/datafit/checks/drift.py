"""datafit.drift: how far each column of the audited data is from the training data.

Per column: its population stability index over every row; per column and sensitive feature,
the gap between the most and the least drifted group's PSI (the data moved for one group more
than for the others) and the group with the largest share out of range or of unseen
categories. Groups smaller than min_group_size get no value.
"""

from __future__ import annotations

from audit.core.check import AuditContext, Measurement
from audit.core.findings import Evidence
from audit.datafit.checks.common import WHOLE, data_fit_report, ready, undefined
from audit.datafit.results import ColumnDrift, FeatureDrift, GroupDrift
from audit.explain.checks.common import percent

PSI, GAP, OUTSIDE = "data_drift_psi", "data_drift_psi_gap", "data_out_of_range_rate"
TOO_FEW = "fewer than min_group_size rows in the audited or the training data"


class DriftCheck:
    needs: tuple[str, ...] = ("data_fit",)

    id = "datafit.drift"

    def run(self, context: AuditContext) -> tuple[Measurement, ...]:
        drift = data_fit_report(context).drift
        ready(drift.status, drift.reason, "drift")
        measured: list[Measurement] = []
        for column in drift.columns:
            if drift.reference == "training data":
                measured.append(self._psi(context, column))
                measured.extend(self._gap(context, column, f) for f in column.by_feature)
            measured.append(self._outside(context, column, None, (column.overall,)))
            measured.extend(
                self._outside(context, column, feature, feature.groups)
                for feature in column.by_feature
            )
        return tuple(measured)

    def _psi(self, context: AuditContext, column: ColumnDrift) -> Measurement:
        threshold = context.policy.thresholds[PSI]
        overall = column.overall
        evidence = Evidence(
            metric=PSI,
            value=overall.psi_excess,
            interval=overall.psi_interval,
            threshold=threshold.limit,
            bound=threshold.bound,
            feature=(column.column,),
            n=(overall.rows, overall.training_rows or 0),
            details={
                "column": column.column,
                "psi": overall.psi,
                "psi_noise": overall.psi_noise,
                "ks": overall.ks,
                "ks_p_value": overall.ks_p_value,
            },
        )
        if overall.psi_excess is None:
            evidence = undefined(evidence, TOO_FEW)
        return Measurement(
            key=("psi", column.column),
            evidence=evidence,
            threshold=threshold,
            words={
                "what": "population stability index (beyond sampling noise)",
                "column": column.column,
                "where": WHOLE,
            },
        )

    def _gap(
        self, context: AuditContext, column: ColumnDrift, feature: FeatureDrift
    ) -> Measurement:
        threshold = context.policy.thresholds[GAP]
        by_group = {group.group: group for group in feature.groups}
        pair = [by_group[name] for name in feature.gap_groups]
        evidence = Evidence(
            metric=GAP,
            value=feature.psi_gap,
            interval=feature.psi_gap_interval,
            threshold=threshold.limit,
            bound=threshold.bound,
            feature=(feature.feature,),
            groups=tuple((group.group,) for group in pair),
            n=tuple(group.rows for group in pair),
            details={
                "column": column.column,
                "reference": feature.reference,
                "psi_excess": {group.group: group.psi_excess for group in feature.groups},
            },
        )
        if feature.psi_gap is None:
            evidence = undefined(evidence, "fewer than two groups with min_group_size rows")
        most = pair[-1].group if pair else "a group"
        return Measurement(
            key=("psi_gap", column.column, feature.feature),
            evidence=evidence,
            threshold=threshold,
            words={
                "what": f"gap in population stability index between groups of {feature.feature}",
                "column": column.column,
                "where": f"for {feature.feature} = {most} more than for the other groups",
            },
        )

    def _outside(
        self,
        context: AuditContext,
        column: ColumnDrift,
        feature: FeatureDrift | None,
        groups: tuple[GroupDrift, ...],
    ) -> Measurement:
        threshold = context.policy.thresholds[OUTSIDE]
        measured = [group for group in groups if group.outside_rate is not None]
        worst = max(measured, key=lambda group: group.outside_rate or 0.0, default=None)
        name = feature.feature if feature is not None else None
        evidence = Evidence(
            metric=OUTSIDE,
            value=worst.outside_rate if worst is not None else None,
            interval=worst.outside_interval if worst is not None else None,
            threshold=threshold.limit,
            bound=threshold.bound,
            feature=(name,) if name is not None else (),
            groups=((worst.group,),) if worst is not None and name is not None else (),
            n=(worst.rows,) if worst is not None else (),
            details={
                "column": column.column,
                "missing_rate": worst.missing_rate if worst is not None else None,
            },
        )
        if worst is None:
            evidence = undefined(evidence, TOO_FEW)
        outside = "of a category never seen" if column.kind == "categorical" else "out of range"
        where = f"for {name} = {worst.group}" if worst is not None and name else WHOLE
        return Measurement(
            key=("out_of_range", column.column, *((name,) if name is not None else ())),
            evidence=evidence,
            threshold=threshold,
            words={"what": f"share of values {outside}", "column": column.column, "where": where},
            show=percent,
        )
