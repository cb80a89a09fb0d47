"""Percentile intervals of bootstrap replicates: numpy's nanpercentile of each number's
defined replicates, bit for bit, and no interval where fewer than half are defined."""

from __future__ import annotations

import numpy as np
import pytest

from audit.core.intervals import interval_of, percentile_interval


def by_column(replicates: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """The reference: each column on its own, NaN where fewer than half are defined."""
    tail = (1 - level) / 2 * 100
    low, high = np.full(replicates.shape[1], np.nan), np.full(replicates.shape[1], np.nan)
    for column in range(replicates.shape[1]):
        values = replicates[:, column]
        if np.isfinite(values).mean() >= 0.5:
            defined = np.where(np.isfinite(values), values, np.nan)
            low[column] = np.nanpercentile(defined, tail)
            high[column] = np.nanpercentile(defined, 100 - tail)
    return low, high


@pytest.mark.parametrize("undefined_share", [0.0, 0.3, 0.7])
@pytest.mark.parametrize("level", [0.9, 0.95])
def test_intervals_equal_each_columns_nanpercentile(undefined_share: float, level: float) -> None:
    rng = np.random.default_rng(11)
    for _ in range(40):
        replicates = np.round(rng.normal(size=(int(rng.integers(2, 1200)), 6)), 2)  # ties
        replicates[rng.random(replicates.shape) < undefined_share] = np.nan
        replicates[:, 0] = np.inf if undefined_share else replicates[:, 0]  # undefined too
        low, high = percentile_interval(replicates, level)
        expected_low, expected_high = by_column(replicates, level)
        np.testing.assert_array_equal(low, expected_low)
        np.testing.assert_array_equal(high, expected_high)


def test_one_number_and_no_replicates() -> None:
    replicates = np.linspace(0.0, 1.0, 1001)
    tail = (1 - 0.95) / 2 * 100
    assert interval_of(replicates, 0.95) == (
        float(np.percentile(replicates, tail)),
        float(np.percentile(replicates, 100 - tail)),
    )
    assert interval_of(np.zeros(0), 0.95) is None
    assert interval_of(np.full(10, np.nan), 0.95) is None
