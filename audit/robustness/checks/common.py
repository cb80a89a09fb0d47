"""What the ``robustness.*`` checks share: the stage's result, or why they cannot run, and
one measurement per feature's gap."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from audit.core.check import AuditContext, CheckSkipped, Measurement
from audit.core.findings import Evidence
from audit.robustness.results import Gap, GroupValue, Recourse, Robustness, Stability
from audit.robustness.stage import STAGE_ID


def robustness_of(context: AuditContext) -> Robustness:
    report = context.report(STAGE_ID, Robustness)
    if report is None:
        raise CheckSkipped("the robustness stage did not run")
    if report.status != "ok":
        raise CheckSkipped(f"no robustness test: {report.reason}")
    return report


Part = TypeVar("Part", Stability, Recourse)


def part_of(part: Part | None, what: str) -> Part:
    if part is None:
        raise CheckSkipped(f"no {what}")
    if part.status != "ok":
        raise CheckSkipped(f"no {what}: {part.reason}")
    return part


def gap_measurement(
    context: AuditContext,
    gap: Gap,
    values: Sequence[GroupValue],
    threshold_name: str,
    disadvantaged_is_high: bool,
    words: dict[str, str],
) -> Measurement:
    """One feature's gap against its threshold; its groups named disadvantaged first."""
    threshold = context.policy.thresholds[threshold_name]
    worse, better = (gap.high, gap.low) if disadvantaged_is_high else (gap.low, gap.high)
    sizes = {value.group: value.n for value in values if value.feature == gap.feature}
    details: dict[str, object] = {
        "groups": [
            {"group": value.group, "n": value.n, "value": value.value, "ci": value.ci}
            for value in values
            if value.feature == gap.feature
        ]
    }
    if gap.value is None:
        details["undefined"] = gap.undefined
    pair = (worse, better) if worse is not None and better is not None else None
    return Measurement(
        key=(gap.feature, gap.metric),
        evidence=Evidence(
            metric=f"{gap.metric}_gap",
            value=gap.value,
            interval=gap.ci,
            threshold=threshold.limit,
            bound=threshold.bound,
            feature=(gap.feature,),
            groups=((pair[0],), (pair[1],)) if pair else (),
            n=tuple(sizes[group] for group in pair) if pair else (),
            details=details,
        ),
        threshold=threshold,
        words={
            "feature": gap.feature,
            "worse": worse or "one group",
            "better": better or "another",
            **words,
        },
    )
