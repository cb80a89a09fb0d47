"""Agreement between two methods: Spearman rank correlation of their global importance.

Two independent methods that rank the columns alike give an explanation a reviewer can lean
on; a low correlation says the ranking depends on the method, so neither should be quoted as
evidence on its own.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
from scipy.stats import spearmanr

from audit.explain.results import Agreement, MethodResult

# Fewer columns than this make a rank correlation meaningless (two columns give only +-1).
MIN_COLUMNS = 3


def rank_agreement(first: MethodResult, second: MethodResult) -> Agreement:
    # Every method explains the same columns (one column map), so they pair by name.
    second_values = {item.column: item.value for item in second.global_importance}
    columns = [item.column for item in first.global_importance]
    a = np.array([item.value for item in first.global_importance])
    b = np.array([second_values[column] for column in columns])
    methods = (first.method, second.method)
    if len(columns) < MIN_COLUMNS:
        return Agreement(methods, None, len(columns), f"fewer than {MIN_COLUMNS} columns to rank")
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return Agreement(methods, None, len(columns), "a method gives every column the same value")
    rho = float(spearmanr(a, b).statistic)
    return Agreement(methods, rho, len(columns))


def agreements(methods: list[MethodResult]) -> tuple[Agreement, ...]:
    """Every pair of methods that ran, in the order given."""
    return tuple(rank_agreement(a, b) for a, b in combinations(methods, 2))
