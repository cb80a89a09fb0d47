"""Bootstrap replicates drawn in blocks and reduced on threads equal one draw of them all."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from conftest import adult_request

from audit.api import run_audit
from audit.core.registry import CHECKS
from audit.core.replicates import poisson_resampled, replicates_in_blocks

COUNTS = np.random.default_rng(0).integers(0, 500, size=(6, 3))
INDICATOR = np.array([[1, 0], [1, 0], [0, 1], [0, 1], [0, 1], [1, 0]], dtype=np.float64)


def reduce(drawn: np.ndarray) -> list[np.ndarray]:
    """Two outputs per block: group totals of column 0, and each replicate's grand total."""
    grouped = np.einsum("bcm,cg->bgm", drawn, INDICATOR)
    return [grouped[..., 0], drawn.sum(axis=(1, 2))[:, None].astype(np.float64)]


@pytest.mark.parametrize("threads", [1, 2, 5])
@pytest.mark.parametrize("block", [1, 7, 10_000])
def test_blocks_and_threads_do_not_change_a_replicate(threads: int, block: int) -> None:
    whole = reduce(np.random.default_rng(3).poisson(COUNTS, size=(101, *COUNTS.shape)))
    rng = np.random.default_rng(3)
    drawn = replicates_in_blocks(
        lambda size: rng.poisson(COUNTS, size=(size, *COUNTS.shape)),
        reduce,
        [2, 1],
        101,
        block,
        threads,
    )
    assert [part.shape for part in drawn] == [(101, 2), (101, 1)]
    for ours, expected in zip(drawn, whole, strict=True):
        np.testing.assert_array_equal(ours, expected)


def test_no_replicates_give_empty_outputs_of_each_width() -> None:
    def never(size: int) -> np.ndarray:
        raise AssertionError("nothing is drawn for n_boot = 0")

    drawn = replicates_in_blocks(never, reduce, [2, 1], 0, 10, 2)
    assert [part.shape for part in drawn] == [(0, 2), (0, 1)]


def test_an_audits_intervals_do_not_depend_on_its_threads() -> None:
    fairness = tuple(check for check in CHECKS if check.id.startswith(("fairness.", "data.")))
    request = adult_request()
    one, two = (run_audit(replace(request, threads=n), fairness) for n in (1, 2))
    intervals = [group.ci for group in one.groups]
    assert any("roc_auc" in ci and "calibration_error" in ci for ci in intervals)
    assert intervals == [group.ci for group in two.groups]
    assert [d.ci for d in one.disparities] == [d.ci for d in two.disparities]


@pytest.mark.parametrize(
    "counts",
    [
        # Mostly empty, as score histograms are, with rates on both sides of NumPy's switch
        # from the multiplication sampler to PTRS at 10.
        np.where(np.arange(60).reshape(3, 2, 10) % 3 == 0, np.arange(60).reshape(3, 2, 10), 0),
        np.zeros((4, 5), dtype=np.int64),  # nothing to draw at all
        COUNTS + 1,  # dense: no empty count
        np.array([0, 0, 0, 7]),
    ],
    ids=["sparse", "empty", "dense", "one-nonzero"],
)
def test_drawing_only_nonzero_counts_is_the_full_draw(counts: np.ndarray) -> None:
    full, ours = np.random.default_rng(11), np.random.default_rng(11)
    expected = full.poisson(counts, size=(37, *counts.shape))
    drawn = poisson_resampled(ours, counts, 37)
    assert drawn.shape == expected.shape
    np.testing.assert_array_equal(drawn, expected)
    # The stream is left where the full draw leaves it, so later draws do not change either.
    np.testing.assert_array_equal(ours.random(5), full.random(5))
