"""The one-dimensional nearest-neighbour mutual information equals scikit-learn's estimate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_selection import mutual_info_classif

from audit.explain.knn_information import knn_mutual_information

ADULT = Path(__file__).resolve().parents[1] / "examples" / "adult" / "test.csv.gz"


def sklearn_estimate(x: np.ndarray, y: np.ndarray, seed: int, n_neighbors: int = 3) -> float:
    return float(
        mutual_info_classif(
            x[:, None], y, discrete_features=False, n_neighbors=n_neighbors, random_state=seed
        )[0]
    )


def column_kinds(rng: np.random.Generator, rows: int) -> dict[str, np.ndarray]:
    """Numbers as audited columns come: continuous, integers with many ties, mostly zero
    with a long tail, constant, and large."""
    return {
        "normal": rng.normal(size=rows),
        "few integers": rng.integers(0, 10, rows).astype(np.float64),
        "mostly zero": np.where(rng.random(rows) < 0.9, 0.0, rng.exponential(1000, rows)),
        "constant": np.full(rows, 3.0),
        "ages": rng.integers(17, 90, rows).astype(np.float64),
        "large": rng.normal(size=rows) * 1e6,
    }


@pytest.mark.parametrize("kind", list(column_kinds(np.random.default_rng(0), 1)))
@pytest.mark.parametrize("rows", [5, 60, 2500])
def test_equals_scikit_learn_on_each_kind_of_column(kind: str, rows: int) -> None:
    rng = np.random.default_rng([rows, len(kind)])
    x = column_kinds(rng, rows)[kind]
    for trial in range(4):
        classes = 2 + trial
        y = rng.choice(classes, size=rows, p=rng.dirichlet(np.full(classes, 0.3)))
        assert knn_mutual_information(x, y, 3, trial) == sklearn_estimate(x, y, trial)


@pytest.mark.parametrize("small", [1, 2, 3, 5, 7, 8, 9])
def test_equals_scikit_learn_with_a_class_too_small_for_a_tree(small: int) -> None:
    # scikit-learn searches classes of up to 7 rows by brute force and leaves out a class of
    # one row; the estimate must follow it on both sides of that line.
    rng = np.random.default_rng(small)
    x = rng.integers(0, 40, 400).astype(np.float64)
    y = np.zeros(400, dtype=np.int64)
    y[:small] = 1
    y[small : small + 150] = 2
    assert knn_mutual_information(x, y, 3, 7) == sklearn_estimate(x, y, 7)


def test_equals_scikit_learn_with_fewer_neighbours_than_three() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=300), rng.integers(0, 3, 300)
    for n_neighbors in (1, 2, 5):
        assert knn_mutual_information(x, y, n_neighbors, 0) == sklearn_estimate(
            x, y, 0, n_neighbors
        )


def test_equals_scikit_learn_on_the_adult_columns() -> None:
    frame = pd.read_csv(ADULT)
    rng = np.random.default_rng(11)
    numeric = ["age", "fnlwgt", "education-num", "capital-gain", "capital-loss", "hours-per-week"]
    for column in numeric:
        for attribute in ("sex", "race", "relationship"):
            keep = rng.choice(len(frame), size=5000, replace=False)
            x = frame[column].to_numpy(np.float64)[keep]
            y = pd.factorize(frame[attribute])[0][keep]
            assert knn_mutual_information(x, y, 3, 5) == sklearn_estimate(x, y, 5), (
                column,
                attribute,
            )


def test_a_dependent_column_has_information_and_an_independent_one_has_little() -> None:
    # Beyond agreeing with scikit-learn: the estimate measures what it should.
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 4000)
    dependent = rng.normal(size=4000) + 2.0 * y
    independent = rng.normal(size=4000)
    assert knn_mutual_information(dependent, y, 3, 0) > 0.3
    assert knn_mutual_information(independent, y, 3, 0) < 0.02


def test_does_not_modify_its_input() -> None:
    x = np.arange(50, dtype=np.float64)
    y = np.arange(50) % 2
    knn_mutual_information(x, y, 3, 0)
    assert np.array_equal(x, np.arange(50, dtype=np.float64))
