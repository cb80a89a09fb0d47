"""``audit.fairness.score_sketch`` against scikit-learn's exact ROC AUC and brute-force pair counts.

The sketch must merge exactly (any split of the rows, any merge order), its binned AUC must
equal scikit-learn's AUC of the bin keys (ties count half in both), and the exact AUC must lie
within the error bound it reports.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from audit.fairness.metrics import auc_from_histograms
from audit.fairness.score_sketch import KEY_SPACE, MAX_CELLS, ScoreSketch, score_bins

GROUP_OF_CELL = np.array([0, 0, 1, 1, 2, 2], dtype=np.int64)
N_CELLS = len(GROUP_OF_CELL)
N_GROUPS = 3


def beta_mixture_rows(
    rng: np.random.Generator, rows: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cells, labels and probability-like scores: most mass spread, some piled near 0 and 1."""
    cells = rng.integers(0, N_CELLS, rows)
    labels = (rng.random(rows) < 0.2 + 0.1 * (cells % 3)).astype(np.int8)
    component = rng.random(rows)
    spread = np.where(labels == 1, rng.beta(4, 2, rows), rng.beta(2, 4, rows))
    confident = np.where(labels == 1, rng.beta(20, 0.3, rows), rng.beta(0.3, 20, rows))
    return cells, labels, np.where(component < 0.7, spread, confident)


def exact_auc_by_group(
    cells: np.ndarray, labels: np.ndarray, scores: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's AUC per group on the raw scores, and on the sketch's bin keys."""
    groups = GROUP_OF_CELL[cells]
    exact, binned = [], []
    for group in range(N_GROUPS):
        member = groups == group
        exact.append(roc_auc_score(labels[member], scores[member]))
        binned.append(roc_auc_score(labels[member], score_bins(scores[member])))
    return np.array(exact), np.array(binned)


def brute_force_bound(labels: np.ndarray, bins: np.ndarray) -> float:
    """Half the share of (positive, negative) pairs with equal bins, pair by pair."""
    positive_bins = bins[labels == 1]
    negative_bins = bins[labels == 0]
    same = positive_bins[:, None] == negative_bins[None, :]
    return 0.5 * same.sum() / same.size


def test_bins_are_monotone_over_every_range_of_scores() -> None:
    tiny = np.finfo(np.float64).tiny
    landmarks = np.array(
        [
            -1e308,
            -1e39,
            -3e38,
            -1e10,
            -50.0,
            -1.0,
            -1e-6,
            -1e-300,
            -0.0,
            0.0,
            5e-324,
            tiny,
            1e-300,
            1e-40,
            1e-10,
            1e-3,
            0.1,
            np.nextafter(0.5, 0),
            0.5,
            np.nextafter(0.5, 1),
            0.9,
            1 - 1e-6,
            1 - 1e-12,
            np.nextafter(1.0, 0),
            1.0,
            np.nextafter(1.0, 2),
            1 + 1e-9,
            2.0,
            50.0,
            1e10,
            3e38,
            1e39,
            1e308,
        ]
    )
    rng = np.random.default_rng(1)
    magnitudes = 10.0 ** rng.uniform(-320, 308, 20_000)
    grid = np.sort(
        np.concatenate(
            [
                landmarks,
                magnitudes,
                -magnitudes,
                rng.random(20_000),
                1 - 10.0 ** rng.uniform(-16, 0, 20_000),
                1 + 10.0 ** rng.uniform(-16, 3, 20_000),
            ]
        )
    )
    bins = score_bins(grid)
    assert bins.dtype == np.int64
    assert (np.diff(bins) >= 0).all()
    assert bins.min() == 0 and bins.max() == KEY_SPACE - 1
    # Landmarks share a bin only where float32 merges them: past its range (±1e39, ±1e308),
    # below it (±0, 5e-324, tiny, 1e-300 but not -1e-300) and 0.5 with its float64 neighbour.
    tie_rank = [0, 0, *range(1, 7), 7, 7, 7, 7, 7, *range(8, 13), 12, *range(13, 26), 25]
    np.testing.assert_array_equal(
        np.unique(score_bins(landmarks), return_inverse=True)[1], tie_rank
    )


@pytest.mark.parametrize("base", [1e-30, 1e-10, 1e-6, 0.01, 0.3])
def test_bins_resolve_relative_distance_to_zero_and_to_one(base: float) -> None:
    # A bin spans at most 2^-11 of the distance to 0 (below 0.5) or to 1 (above 0.5), so
    # distances 2^-9 apart (relative) never share one.
    distances = base * (1 + np.arange(200) * 2.0**-9)
    assert (np.diff(score_bins(distances)) > 0).all()
    assert (np.diff(score_bins(-distances)) < 0).all()
    if base >= 1e-10:  # float64 itself cannot resolve 1 ± 1e-30
        assert (np.diff(score_bins(1 - distances)) < 0).all()
        assert (np.diff(score_bins(1 + distances)) > 0).all()


def test_sketch_of_the_whole_equals_merge_of_any_split_in_any_order() -> None:
    rng = np.random.default_rng(2)
    cells, labels, scores = beta_mixture_rows(rng, 50_000)
    whole = ScoreSketch.of(cells, N_CELLS, labels, scores)
    # The independent count: rows per (cell, label) straight from the rows.
    per_cell_label = np.bincount(cells * 2 + labels, minlength=2 * N_CELLS)
    np.testing.assert_array_equal(
        np.bincount(whole.keys // KEY_SPACE, weights=whole.counts, minlength=2 * N_CELLS),
        per_cell_label,
    )
    assert (np.diff(whole.keys) > 0).all() and (whole.counts > 0).all()
    assert whole.keys.dtype == np.int64 and whole.counts.dtype == np.int64

    part_of_row = rng.integers(0, 7, len(cells))
    parts = [
        ScoreSketch.of(cells[mask], N_CELLS, labels[mask], scores[mask])
        for mask in (part_of_row == part for part in range(7))
    ]
    chunks = [
        ScoreSketch.of(cells[start:stop], N_CELLS, labels[start:stop], scores[start:stop])
        for start, stop in zip(range(0, 50_000, 8_192), range(8_192, 58_192, 8_192), strict=True)
    ]
    orders = [list(rng.permutation(len(parts))) for _ in range(4)]
    merged_versions = []
    for order in orders:
        merged = ScoreSketch.empty(N_CELLS)
        for index in order:
            merged = merged.merge(parts[index])
        merged_versions.append(merged)
    # A tree of merges, as Dask's reduction would do it, and the chunks right to left.
    pairs = [parts[0].merge(parts[5]), parts[3].merge(parts[1]), parts[6].merge(parts[2])]
    merged_versions.append(pairs[2].merge(pairs[0].merge(pairs[1]).merge(parts[4])))
    right_to_left = ScoreSketch.empty(N_CELLS)
    for chunk in chunks:
        right_to_left = chunk.merge(right_to_left)
    merged_versions.append(right_to_left)
    for merged in merged_versions:
        np.testing.assert_array_equal(merged.keys, whole.keys)
        np.testing.assert_array_equal(merged.counts, whole.counts)
        assert merged.n_cells == N_CELLS


def test_merge_refuses_sketches_of_different_cells() -> None:
    with pytest.raises(ValueError, match="6 and 7 cells"):
        ScoreSketch.empty(6).merge(ScoreSketch.empty(7))
    with pytest.raises(ValueError, match="outside"):
        ScoreSketch.empty(MAX_CELLS + 1)


@pytest.mark.parametrize(
    ("cells", "labels", "scores", "message"),
    [
        ([0, 1], [0, 1], [0.5], "2 cells, 2 labels and 1 scores"),
        ([0, 6], [0, 1], [0.5, 0.5], "cell_of_row has values outside"),
        ([0, 1], [0, 2], [0.5, 0.5], "labels must be 0 or 1"),
        ([0, 1], [0, 1], [0.5, np.nan], "scores must be finite"),
    ],
)
def test_of_refuses_rows_that_break_the_key_layout(
    cells: list[int], labels: list[int], scores: list[float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ScoreSketch.of(
            np.array(cells, dtype=np.int64),
            N_CELLS,
            np.array(labels, dtype=np.int8),
            np.array(scores, dtype=np.float64),
        )


def test_auc_matches_sklearn_within_a_tiny_bound() -> None:
    rng = np.random.default_rng(3)
    cells, labels, scores = beta_mixture_rows(rng, 200_000)
    sketch = ScoreSketch.of(cells, N_CELLS, labels, scores)
    auc, bound = sketch.auc_by_group(GROUP_OF_CELL, N_GROUPS)
    exact, binned = exact_auc_by_group(cells, labels, scores)
    np.testing.assert_allclose(auc, binned, rtol=0, atol=1e-12)
    assert (np.abs(auc - exact) <= bound + 1e-12).all()
    # Measured: bound ≈ 1.8e-5 per group, actual error 5e-8 to 2.4e-7.
    assert (bound < 1e-4).all()
    assert (bound > 0).all()


def test_scores_outside_zero_one_stay_within_bound() -> None:
    rng = np.random.default_rng(4)
    rows = 100_000
    cells = rng.integers(0, N_CELLS, rows)
    labels = (rng.random(rows) < 0.4).astype(np.int8)
    scores = rng.normal(30.0 * labels - 15.0, 50.0)
    scores[:10] = [-1e12, 1e12, -1e-9, 1e-9, 0.5, 1.0, 0.0, -0.0, 1e40, -1e40]
    sketch = ScoreSketch.of(cells, N_CELLS, labels, scores)
    auc, bound = sketch.auc_by_group(GROUP_OF_CELL, N_GROUPS)
    exact, binned = exact_auc_by_group(cells, labels, scores)
    np.testing.assert_allclose(auc, binned, rtol=0, atol=1e-12)
    assert (np.abs(auc - exact) <= bound + 1e-12).all()
    assert (bound < 1e-3).all()


def test_tied_scores_give_sklearn_auc_and_brute_force_bound() -> None:
    rng = np.random.default_rng(5)
    rows = 600
    cells = rng.integers(0, N_CELLS, rows)
    labels = (rng.random(rows) < 0.5).astype(np.int8)
    values = np.array([-3.0, 0.0, 0.1, 0.5, 0.75, 0.9, 1.0, 7.0])
    scores = values[np.clip(rng.integers(0, 5, rows) + 3 * labels, 0, len(values) - 1)]
    sketch = ScoreSketch.of(cells, N_CELLS, labels, scores)
    auc, bound = sketch.auc_by_group(GROUP_OF_CELL, N_GROUPS)
    exact, _ = exact_auc_by_group(cells, labels, scores)
    np.testing.assert_allclose(auc, exact, rtol=0, atol=1e-12)
    groups = GROUP_OF_CELL[cells]
    for group in range(N_GROUPS):
        member = groups == group
        # Equal scores share a bin and distinct values here never do: the bound counts ties.
        expected = brute_force_bound(labels[member], scores[member])
        assert bound[group] == pytest.approx(expected, rel=1e-12)
        assert 0.01 < bound[group] < 0.2


def test_bound_matches_brute_force_on_continuous_scores() -> None:
    rng = np.random.default_rng(6)
    rows = 3_000
    cells = rng.integers(0, N_CELLS, rows)
    labels = (rng.random(rows) < 0.5).astype(np.int8)
    # Rounded to 1e-4, so that pairs do share bins (float32 keeps 0.5 and 0.50001 apart).
    scores = np.round(rng.beta(2, 2, rows), 4)
    auc, bound = ScoreSketch.of(cells, N_CELLS, labels, scores).auc_by_group(
        GROUP_OF_CELL, N_GROUPS
    )
    groups = GROUP_OF_CELL[cells]
    for group in range(N_GROUPS):
        member = groups == group
        expected = brute_force_bound(labels[member], score_bins(scores[member]))
        assert expected > 0
        assert bound[group] == pytest.approx(expected, rel=1e-12)
        assert abs(auc[group] - roc_auc_score(labels[member], scores[member])) <= bound[group]


def test_groups_without_both_classes_are_nan() -> None:
    rng = np.random.default_rng(7)
    rows = 5_000
    cells = rng.integers(0, 4, rows)  # cells 4 and 5 (group 2) have no rows at all
    labels = (rng.random(rows) < 0.5).astype(np.int8)
    labels[np.isin(cells, [2, 3])] = 1  # group 1 has positives only
    scores = rng.random(rows)
    auc, bound = ScoreSketch.of(cells, N_CELLS, labels, scores).auc_by_group(
        GROUP_OF_CELL, N_GROUPS
    )
    member = cells < 2
    assert auc[0] == pytest.approx(roc_auc_score(labels[member], scores[member]), abs=bound[0])
    assert np.isfinite(bound[0])
    assert np.isnan(auc[1:]).all() and np.isnan(bound[1:]).all()
    empty_auc, empty_bound = ScoreSketch.empty(N_CELLS).auc_by_group(GROUP_OF_CELL, N_GROUPS)
    assert np.isnan(empty_auc).all() and np.isnan(empty_bound).all()


@pytest.mark.parametrize("max_bins", [1, 7, 256])
def test_coarse_histogram_keeps_counts_and_order(max_bins: int) -> None:
    rng = np.random.default_rng(8)
    cells, labels, scores = beta_mixture_rows(rng, 100_000)
    sketch = ScoreSketch.of(cells, N_CELLS, labels, scores)
    histogram = sketch.coarse_histogram(max_bins)
    assert histogram.dtype == np.int64
    assert histogram.shape == (N_CELLS, 2, max_bins)  # continuous scores fill every bin
    np.testing.assert_array_equal(
        histogram.sum(axis=2).reshape(-1), np.bincount(cells * 2 + labels, minlength=2 * N_CELLS)
    )
    # About equal mass: a coarse bin exceeds its quantile by at most one sketch bin's mass.
    mass = histogram.sum(axis=(0, 1))
    assert mass.max() <= len(cells) / max_bins + 1_000
    # Adjacent sketch bins only: the coarse AUC is the exact AUC up to the coarse ties.
    indicator = np.eye(N_GROUPS, dtype=np.int64)[GROUP_OF_CELL]
    grouped = np.einsum("cln,cg->gln", histogram, indicator)
    coarse_auc = auc_from_histograms(grouped)
    coarse_bound = (
        0.5
        * (grouped[:, 0] * grouped[:, 1]).sum(axis=1)
        / (grouped[:, 0].sum(axis=1) * grouped[:, 1].sum(axis=1))
    )
    exact, _ = exact_auc_by_group(cells, labels, scores)
    assert (np.abs(coarse_auc - exact) <= coarse_bound + 1e-12).all()


def test_coarse_histogram_keeps_each_of_few_bins() -> None:
    rng = np.random.default_rng(9)
    rows = 2_000
    cells = rng.integers(0, N_CELLS, rows)
    labels = (rng.random(rows) < 0.5).astype(np.int8)
    values = np.array([-2.0, 0.2, 0.4, 0.6, 0.99, 5.0])
    scores = values[rng.integers(0, len(values), rows)]
    sketch = ScoreSketch.of(cells, N_CELLS, labels, scores)
    histogram = sketch.coarse_histogram(256)
    rank = np.searchsorted(values, scores)
    expected = np.zeros((N_CELLS, 2, len(values)), dtype=np.int64)
    np.add.at(expected, (cells, labels, rank), 1)
    np.testing.assert_array_equal(histogram, expected)
    assert ScoreSketch.empty(N_CELLS).coarse_histogram(8).shape == (N_CELLS, 2, 0)


def test_two_million_rows_fit_in_a_few_megabytes() -> None:
    rng = np.random.default_rng(10)
    cells, labels, scores = beta_mixture_rows(rng, 2_000_000)
    sketch = ScoreSketch.of(cells, N_CELLS, labels, scores)
    assert int(sketch.counts.sum()) == 2_000_000
    # Measured: 374,636 occupied bins, 6.0 MB, against 34 MB of cells, labels and scores;
    # the confident scores spread over many binades near 0 and 1, each 2048 bins wide.
    assert sketch.keys.nbytes + sketch.counts.nbytes < 8_000_000


def test_with_cells_renumbers_like_a_sketch_of_the_renumbered_rows() -> None:
    rng = np.random.default_rng(5)
    cells, labels, scores = beta_mixture_rows(rng, 20_000)
    sparse_cells = np.array([3, 7, 8, 20, 41, 42])[cells]  # six of 50 possible cells occur
    kept = np.unique(sparse_cells)
    renumbered = ScoreSketch.of(sparse_cells, 50, labels, scores).with_cells(kept)
    direct = ScoreSketch.of(np.searchsorted(kept, sparse_cells), len(kept), labels, scores)
    assert renumbered.n_cells == direct.n_cells == N_CELLS
    assert np.array_equal(renumbered.keys, direct.keys)
    assert np.array_equal(renumbered.counts, direct.counts)
