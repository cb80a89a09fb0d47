"""Bootstrap intervals for the text probes: Poisson weights per row (or template), seeded.

Poisson(1) weights are the bootstrap the fairness tables use too: each replicate weighs every
unit independently, so a mean's replicates are one matrix product, never a loop over rows.
"""

from __future__ import annotations

import numpy as np

from audit.core.intervals import interval_of


def poisson_weights(rng: np.random.Generator, n_boot: int, n: int) -> np.ndarray:
    """float64 [n_boot, n]."""
    return rng.poisson(1.0, size=(n_boot, n)).astype(np.float64)


def mean_replicates(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted means, one per replicate; NaN for a replicate that drew no unit.

    ``values`` is [n] (one mean per replicate) or [n, k] (k means per replicate, [B, k]).
    """
    totals = weights.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        sums = weights @ values
        if values.ndim == 1:
            return np.where(totals > 0, sums / np.where(totals > 0, totals, 1.0), np.nan)
        safe = np.where(totals > 0, totals, 1.0)[:, None]
        return np.where(totals[:, None] > 0, sums / safe, np.nan)


def mean_interval(
    values: np.ndarray, rng: np.random.Generator, n_boot: int, level: float
) -> tuple[float, float] | None:
    if n_boot == 0 or len(values) == 0:
        return None
    return interval_of(mean_replicates(values, poisson_weights(rng, n_boot, len(values))), level)
