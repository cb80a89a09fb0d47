"""Bootstrap replicates to intervals: one rule for every interval the audit reports.

A percentile interval is reported only when the number is defined in at least half of the
replicates; otherwise it would describe a different population than the estimate.
"""

from __future__ import annotations

import numpy as np

MIN_DEFINED_SHARE = 0.5


def percentile_interval(replicates: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval over axis 0, NaN where too few replicates are defined."""
    tail = (1 - level) / 2 * 100
    defined = np.isfinite(replicates)
    share = defined.mean(axis=0) if len(replicates) else np.zeros(replicates.shape[1:])
    safe = np.where(defined, replicates, 0.0)
    low = np.full(replicates.shape[1:], np.nan)
    high = np.full(replicates.shape[1:], np.nan)
    enough = share >= MIN_DEFINED_SHARE
    if enough.any():
        masked = np.where(defined, safe, np.nan)[:, enough]
        # numpy's nanpercentile takes the columns one at a time in Python whenever the
        # array has more than one; np.percentile gives the same values at once without NaN.
        percentile = np.percentile if defined[:, enough].all() else np.nanpercentile
        low[enough], high[enough] = percentile(masked, [tail, 100 - tail], axis=0)
    return low, high


def finite_interval(low: float, high: float) -> tuple[float, float] | None:
    return (float(low), float(high)) if np.isfinite(low) and np.isfinite(high) else None


def interval_of(replicates: np.ndarray, level: float) -> tuple[float, float] | None:
    """The percentile interval of one number's replicates ``[n_boot]``, or None (no
    replicates, or too few defined)."""
    if replicates.size == 0:
        return None
    low, high = percentile_interval(replicates[:, None], level)
    return finite_interval(low[0], high[0])
