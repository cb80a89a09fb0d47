"""The metric primitives in ``audit.fairness.metrics`` against independent computations.

The engine's point estimates go through Fairlearn on aggregated confusion cells and its
bootstrap replicates through a vectorized count formula; these tests hold both to Fairlearn's
and scikit-learn's own functions called on raw rows, expanded back from the counts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import RAW_ROW_METRICS
from fairlearn.metrics import (
    MetricFrame,
)
from sklearn.metrics import roc_auc_score

from audit.fairness.metrics import (
    FN,
    FP,
    GROUP_METRIC_NAMES,
    RATE_METRICS,
    TN,
    TP,
    auc_by_group_from_cells,
    auc_from_histograms,
    confusion_index,
    fairlearn_rates,
    rates_from_counts,
    roc_auc_by_group,
    undefined_rates,
)

RATE_NAMES = [metric.name for metric in RATE_METRICS]


def random_count_table(rng: np.random.Generator, n_groups: int) -> np.ndarray:
    """Cell counts ``[groups, 4]`` with many zero cells, so that denominators hit zero."""
    counts = rng.integers(0, 40, size=(n_groups, 4))
    counts[rng.random(size=counts.shape) < 0.35] = 0
    # Every way a denominator can vanish, in fixed rows: no positive labels, no negative
    # labels, no positive decisions, a single cell, all four cells.
    counts[0] = [0, 7, 0, 9]  # no positive labels: TPR, FNR undefined
    counts[1] = [5, 0, 3, 0]  # no negative labels: FPR undefined
    counts[2] = [0, 0, 6, 4]  # no positive decisions: precision undefined
    counts[3] = [0, 0, 0, 11]  # true negatives only
    counts[4] = [2, 3, 4, 5]
    return counts


def rows_from_counts(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One row per counted person: (label, decision, group index)."""
    labels, decisions, groups = [], [], []
    cell_label = {TP: 1, FP: 0, FN: 1, TN: 0}
    cell_decision = {TP: 1, FP: 1, FN: 0, TN: 0}
    for group, row in enumerate(counts):
        for cell, count in enumerate(row):
            labels += [cell_label[cell]] * int(count)
            decisions += [cell_decision[cell]] * int(count)
            groups += [group] * int(count)
    return np.array(labels), np.array(decisions), np.array(groups)


def hand_rates(counts: np.ndarray) -> dict[str, list[float]]:
    """Each metric's definition written out per group; NaN where its denominator is 0."""

    def ratio(numerator: float, denominator: float) -> float:
        return numerator / denominator if denominator else float("nan")

    expected: dict[str, list[float]] = {name: [] for name in RATE_NAMES}
    for tp, fp, fn, tn in counts.tolist():
        n = tp + fp + fn + tn
        expected["selection_rate"].append(ratio(tp + fp, n))
        expected["base_rate"].append(ratio(tp + fn, n))
        expected["accuracy"].append(ratio(tp + tn, n))
        expected["true_positive_rate"].append(ratio(tp, tp + fn))
        expected["false_positive_rate"].append(ratio(fp, fp + tn))
        expected["false_negative_rate"].append(ratio(fn, tp + fn))
        expected["precision"].append(ratio(tp, tp + fp))
    return expected


def test_confusion_index_puts_each_row_in_its_cell() -> None:
    labels = np.array([1, 0, 1, 0])
    decisions = np.array([1, 1, 0, 0])
    assert confusion_index(labels, decisions).tolist() == [TP, FP, FN, TN]
    assert (TP, FP, FN, TN) == (0, 1, 2, 3)


def test_metric_names_are_the_contract() -> None:
    assert GROUP_METRIC_NAMES == (
        "selection_rate",
        "base_rate",
        "accuracy",
        "true_positive_rate",
        "false_positive_rate",
        "false_negative_rate",
        "precision",
        "roc_auc",
        "calibration_error",
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rates_from_counts_equal_each_definition(seed: int) -> None:
    counts = random_count_table(np.random.default_rng(seed), 25)
    rates = rates_from_counts(counts)
    expected = hand_rates(counts)
    for name in RATE_NAMES:
        np.testing.assert_allclose(rates[name], expected[name], rtol=1e-12, err_msg=name)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_rates_from_counts_equal_fairlearn_rates(seed: int) -> None:
    """The bootstrap's count formula and the point estimate's MetricFrame path agree."""
    counts = random_count_table(np.random.default_rng(seed), 30)
    vectorized = rates_from_counts(counts)
    # Stacked with another table, as the audit passes every slice to one MetricFrame.
    other = random_count_table(np.random.default_rng(seed + 100), 7)
    through_fairlearn, other_rates = fairlearn_rates([counts, other])
    for name in RATE_NAMES:
        np.testing.assert_allclose(rates_from_counts(other)[name], other_rates[name], rtol=1e-12)
    for name in RATE_NAMES:
        # assert_allclose treats NaN as equal to NaN only at the same positions.
        np.testing.assert_allclose(vectorized[name], through_fairlearn[name], rtol=1e-12)
    # The fixed rows hold every kind of zero denominator.
    assert np.isnan(vectorized["true_positive_rate"][[0, 3]]).all()
    assert np.isnan(through_fairlearn["false_negative_rate"][[0, 3]]).all()
    assert np.isnan(through_fairlearn["false_positive_rate"][1])
    assert np.isnan(through_fairlearn["precision"][[2, 3]]).all()


def test_fairlearn_rates_marks_an_empty_group_undefined() -> None:
    counts = np.array([[3, 1, 2, 4], [0, 0, 0, 0], [1, 1, 1, 1]])
    (rates,) = fairlearn_rates([counts])
    for name in RATE_NAMES:
        assert np.isnan(rates[name][1]), name
        assert np.isfinite(rates[name][[0, 2]]).all(), name
    assert rates["selection_rate"][0] == pytest.approx(0.4)


@pytest.mark.parametrize("seed", [4, 5])
def test_rates_from_counts_equal_fairlearn_on_raw_rows(seed: int) -> None:
    """Independent path: the counts expanded into people, then Fairlearn on those rows."""
    counts = random_count_table(np.random.default_rng(seed), 12)
    counts = counts[counts.sum(axis=1) > 0]
    labels, decisions, groups = rows_from_counts(counts)
    frame = MetricFrame(
        metrics=RAW_ROW_METRICS,
        y_true=labels,
        y_pred=decisions,
        sensitive_features=pd.Series(groups, name="group"),
    )
    rates = rates_from_counts(counts)
    undefined = undefined_rates(counts)
    for name in RATE_NAMES:
        for group in range(len(counts)):
            if undefined[name][group]:
                # Fairlearn reports 0 for an empty denominator; the engine keeps it undefined.
                assert np.isnan(rates[name][group])
            else:
                assert rates[name][group] == pytest.approx(frame.by_group.loc[group, name])


def test_rates_from_counts_broadcast_over_replicates() -> None:
    rng = np.random.default_rng(6)
    replicates = rng.integers(0, 5, size=(7, 3, 4))
    stacked = rates_from_counts(replicates)
    for replicate in range(7):
        single = rates_from_counts(replicates[replicate])
        for name in RATE_NAMES:
            np.testing.assert_array_equal(stacked[name][replicate], single[name])


def test_undefined_rates_mark_zero_denominators() -> None:
    counts = np.array([[0, 7, 0, 9], [5, 0, 3, 0], [0, 0, 6, 4], [0, 0, 0, 0]])
    undefined = undefined_rates(counts)
    assert undefined["true_positive_rate"].tolist() == [True, False, False, True]
    assert undefined["false_negative_rate"].tolist() == [True, False, False, True]
    assert undefined["false_positive_rate"].tolist() == [False, True, False, True]
    assert undefined["precision"].tolist() == [False, False, True, True]
    assert undefined["selection_rate"].tolist() == [False, False, False, True]


def test_roc_auc_by_group_equals_sklearn_and_is_nan_for_one_class() -> None:
    rng = np.random.default_rng(7)
    n = 600
    groups = rng.integers(0, 4, size=n)
    labels = rng.binomial(1, 0.4, size=n)
    labels[groups == 2] = 0  # group 2 has negatives only
    labels[groups == 3] = 1  # group 3 has positives only
    # Rounded scores create ties, which sklearn counts as half a concordant pair.
    scores = np.round(rng.random(n) * 0.6 + 0.3 * labels, 2)
    values = roc_auc_by_group(scores, labels, groups, 5)
    for group in (0, 1):
        rows = groups == group
        assert values[group] == pytest.approx(roc_auc_score(labels[rows], scores[rows]))
    assert np.isnan(values[2:]).all()  # one class each, and group 4 has no rows


def test_roc_auc_by_group_with_empty_groups_between_and_no_rows() -> None:
    """A group without rows between others leaves the others' ranks alone; no rows at all
    gives NaN for every group."""
    rng = np.random.default_rng(12)
    groups = rng.choice([0, 2, 3], size=900)
    labels = rng.binomial(1, 0.5, size=900)
    scores = np.round(rng.random(900) + 0.2 * labels, 1)  # ties across and within groups
    values = roc_auc_by_group(scores, labels, groups, 4)
    for group in (0, 2, 3):
        rows = groups == group
        assert values[group] == pytest.approx(roc_auc_score(labels[rows], scores[rows]), abs=1e-15)
    assert np.isnan(values[1])
    empty = np.zeros(0)
    assert np.isnan(roc_auc_by_group(empty, empty.astype(int), empty.astype(int), 3)).all()


@pytest.mark.parametrize("decimals", [None, 3, 1])
def test_roc_auc_by_group_with_a_shared_sort_equals_sklearn(decimals: int | None) -> None:
    rng = np.random.default_rng(9)
    n = 200_000
    groups = rng.integers(0, 7, size=n)
    labels = rng.binomial(1, 0.2 + 0.05 * groups)
    scores = rng.beta(2, 5, size=n) + 0.2 * labels
    if decimals is not None:
        scores = np.round(scores, decimals)  # heavy ties
    order = np.argsort(scores, kind="stable")
    values = roc_auc_by_group(scores[order], labels[order], groups[order], 7, presorted=True)
    for group in range(7):
        rows = groups == group
        assert values[group] == pytest.approx(roc_auc_score(labels[rows], scores[rows]), rel=1e-13)
    assert np.array_equal(values, roc_auc_by_group(scores, labels, groups, 7))
    # Tied rows in another order (the shared sort need not be stable): the same bits.
    shuffled = rng.permutation(n)
    order = shuffled[np.argsort(scores[shuffled], kind="stable")]
    assert np.array_equal(
        values, roc_auc_by_group(scores[order], labels[order], groups[order], 7, presorted=True)
    )


def test_group_aucs_from_cell_histograms_equal_those_of_summed_histograms() -> None:
    """Bit for bit: groups of one cell, of several, and groups with no positives (NaN), on
    bootstrap-sized blocks and on one table alone; counts as large as a million rows give."""
    rng = np.random.default_rng(21)
    cells, bins = 7, 64
    histograms = rng.poisson(
        rng.integers(0, 40_000, size=(cells, 2, bins)), size=(30, cells, 2, bins)
    )
    histograms[rng.random(histograms.shape) < 0.4] = 0
    histograms[:, 5, 1, :] = 0  # cell 5 has no positive rows
    groupings = [np.arange(cells), np.array([0, 1, 0, 1, 0, 1, 1]), np.array([0, 0, 0, 1, 1, 2, 0])]
    groupings.append(np.array([0, 0, 0, 0, 0, 1, 0]))  # group 1 is cell 5 alone: NaN
    indicators = []
    for group_of_cell in groupings:
        indicator = np.zeros((cells, group_of_cell.max() + 1))
        indicator[np.arange(cells), group_of_cell] = 1.0
        indicators.append(indicator)
    for table in (histograms, histograms[3]):
        aucs = auc_by_group_from_cells(table, indicators)
        for group_of_cell, values in zip(groupings, aucs, strict=True):
            summed = np.stack(
                [
                    table[..., group_of_cell == group, :, :].sum(axis=-3)
                    for group in range(group_of_cell.max() + 1)
                ],
                axis=-3,
            )
            np.testing.assert_array_equal(values, auc_from_histograms(summed))
    assert np.isnan(aucs[3][1]) and np.isfinite(aucs[3][0])


def test_auc_from_histograms_is_exact_with_one_bin_per_score() -> None:
    rng = np.random.default_rng(8)
    labels = rng.binomial(1, 0.3, size=500)
    scores = rng.integers(0, 40, size=500) + 10 * labels  # many ties
    distinct = np.unique(scores)
    bins = np.searchsorted(distinct, scores)
    histogram = np.zeros((2, len(distinct)), dtype=np.int64)
    np.add.at(histogram, (labels, bins), 1)
    assert auc_from_histograms(histogram) == pytest.approx(roc_auc_score(labels, scores))
    # Vectorized over leading axes, and undefined where one class is absent.
    stacked = np.stack([histogram, histogram * [[0], [1]], histogram * [[1], [0]]])
    values = auc_from_histograms(stacked)
    assert values[0] == pytest.approx(roc_auc_score(labels, scores))
    assert np.isnan(values[1:]).all()
