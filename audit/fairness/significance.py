"""Statistical significance beside the four-fifths rule.

A ratio below four-fifths in a small group may be chance. Beside each selection-rate ratio
the audit reports Fisher's exact test of the group's selections against the more selected
group's (the EEOC's practice of weighing practical and statistical significance together),
and the shortfall: how many more of the group's rows would have to be selected for the ratio
to reach the policy's limit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
from scipy.stats import fisher_exact

from audit.core.gate import chance_explains
from audit.core.policy import Policy
from audit.fairness.metrics import FP, TP

# The four-fifths rule's own limit, for a policy that has no selection_rate_ratio minimum.
FOUR_FIFTHS = 0.8


def four_fifths_limit(policy: Policy) -> float:
    """The minimum selection-rate ratio of the policy (the four-fifths rule's 0.8 by default)."""
    threshold = policy.thresholds.get("selection_rate_ratio")
    return threshold.min if threshold is not None and threshold.min is not None else FOUR_FIFTHS


@dataclass(frozen=True)
class SelectionTest:
    p_value: float  # two-sided Fisher's exact test of equal selection rates
    shortfall: int  # more selections of the lower group that would reach the limit


def selection_test(
    selected: int, rows: int, top_selected: int, top_rows: int, limit: float
) -> SelectionTest:
    """Fisher's exact test on [[selected, rejected], [top selected, top rejected]], and the
    selections the lower group lacks to reach ``limit`` times the top group's rate."""
    table = [[selected, rows - selected], [top_selected, top_rows - top_selected]]
    p_value = float(fisher_exact(table, alternative="two-sided").pvalue)
    # In exact fractions: at a ratio of exactly the limit, float rounding would decide
    # whether one more selection is needed.
    needed = Fraction(str(limit)) * Fraction(top_selected, top_rows) * rows - selected
    return SelectionTest(p_value, max(0, math.ceil(needed)))


def significance_details(
    counts: np.ndarray, lower: int, higher: int, limit: float, policy: Policy
) -> dict[str, Any]:
    """The evidence details of a selection-rate ratio of group ``lower`` over ``higher``
    (rows of a slice's confusion ``counts``): its p-value, its shortfall and, where the
    policy excuses it, why it fails no gate."""
    tested = selection_test(
        int(counts[lower, [TP, FP]].sum()),
        int(counts[lower].sum()),
        int(counts[higher, [TP, FP]].sum()),
        int(counts[higher].sum()),
        limit,
    )
    details: dict[str, Any] = {"p_value": tested.p_value, "shortfall": tested.shortfall}
    if chance_explains(tested.p_value, policy.p_value_alpha) and tested.shortfall > 0:
        details["not_significant"] = (
            f"p = {tested.p_value:.3g} is not below four_fifths_alpha = {policy.p_value_alpha:g}: "
            "the policy requires statistical significance (four_fifths_requires_p_value), so "
            "this ratio does not fail the gate"
        )
    return details
