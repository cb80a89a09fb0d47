"""Label-noise suspicion: labels the model's own scores confidently contradict, per group.

The audited rows are out of sample for the model (it was not trained on them), so a negative
label scored at least ``confident_high``, or a positive one at most ``confident_low``, is a
row the model and the label disagree on with confidence. A high share in one group suggests
its labels are noisier, or that the model fits it worse; it is a suspicion, not proof.
"""

from __future__ import annotations

from audit.core.policy import Policy
from audit.datafit.drift import share_interval
from audit.datafit.histograms import FitCounts
from audit.datafit.results import FeatureLabelNoise, GroupLabelNoise, LabelNoiseResult


def _group(label: str, counts: list[int], policy: Policy) -> GroupLabelNoise:
    rows, high, low = counts
    if rows < policy.min_group_size:
        return GroupLabelNoise(label, "insufficient_data", rows, high, low, None, None)
    return GroupLabelNoise(
        label,
        "ok",
        rows,
        high,
        low,
        (high + low) / rows,
        share_interval(high + low, rows, policy.confidence_level),
    )


def measure_label_noise(counts: FitCounts, policy: Policy) -> LabelNoiseResult:
    if not counts.scored:
        return LabelNoiseResult(
            status="skipped",
            reason="no scores: the audit read decisions only; give --scores with --predictions",
        )
    everyone, *features = counts.groupings
    return LabelNoiseResult(
        status="ok",
        confident_high=counts.bins.confident_high,
        confident_low=counts.bins.confident_low,
        overall=_group("all", [int(v) for v in everyone.labels[0]], policy),
        by_feature=tuple(
            FeatureLabelNoise(
                str(grouping.name),
                tuple(
                    _group(label, [int(v) for v in grouping.labels[index]], policy)
                    for index, label in enumerate(grouping.groups)
                ),
            )
            for grouping in features
        ),
    )
