"""The model's input encoded from embedded metadata, held compactly and read a few rows at a time.

``OneHotInputs`` holds the standardized numeric values and each row's hot input per one-hot
block; every read (a slice, positions, one row, ``np.asarray``) must give exactly the dense
float32 rows the metadata describes, built here row by row in plain Python.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from audit.models.features import FeatureMetadata, OneHotInputs, from_metadata
from audit.models.in_process import from_object
from audit.models.scoring import raw_output

SOURCE = Path("people.csv")
METADATA = FeatureMetadata.model_validate(
    {
        "format": "rai-audit/features-v1",
        "features": [
            {"column": "age", "kind": "numeric", "mean": 40.0, "scale": 12.5},
            {"column": "job", "kind": "categorical", "categories": ["clerk", "nurse", "pilot"]},
            {"column": "hours", "kind": "numeric", "mean": 38.0, "scale": 0.0},
            {"column": "city", "kind": "categorical", "categories": [f"c{i}" for i in range(40)]},
        ],
    }
)


def people(rows: int, seed: int = 5) -> pd.DataFrame:
    """Rows with a value no category names ("astronaut"), a padded one (" nurse") and a
    missing one in each categorical column."""
    rng = np.random.default_rng(seed)
    jobs = rng.choice(["clerk", "nurse", " nurse", "pilot", "astronaut", None], rows)
    cities = rng.choice([*(f"c{i}" for i in range(40)), "elsewhere", None], rows)
    return pd.DataFrame(
        {
            "age": rng.integers(18, 80, rows).astype(float),
            "job": jobs,
            "hours": rng.integers(10, 60, rows),
            "city": cities,
        }
    )


def dense_by_hand(frame: pd.DataFrame) -> np.ndarray:
    """The input the metadata describes, one row and one feature at a time."""
    rows = []
    for record in frame.to_dict("records"):
        row: list[float] = []
        for spec in METADATA.features:
            value = record[spec.column]
            if spec.kind == "numeric":
                row.append((value - spec.mean) / (spec.scale or 1.0))
            else:
                text = None if value is None else str(value).strip()
                row.extend(1.0 if text == category else 0.0 for category in spec.categories)
        rows.append(row)
    return np.array(rows, dtype=np.float32)


def test_every_way_of_reading_rows_gives_the_dense_input() -> None:
    frame = people(500)
    expected = dense_by_hand(frame)
    matrix = from_metadata(frame, METADATA, SOURCE)
    inputs = matrix.values
    assert isinstance(inputs, OneHotInputs)
    assert inputs.shape == expected.shape == (500, 45) and len(inputs) == 500
    positions = np.array([499, 0, 17, 17, 250])  # unordered and repeated
    reads = {
        "all": (inputs[:], expected),
        "slice": (inputs[37:301], expected[37:301]),
        "batch past the end": (inputs[480:9000], expected[480:]),
        "positions": (inputs[positions], expected[positions]),
        "no rows": (inputs[np.array([], dtype=np.int64)], expected[:0]),
        "one row": (inputs[3], expected[3]),
        "last row": (inputs[-1], expected[-1]),
        "asarray": (np.asarray(inputs), expected),
        "encode": (matrix.encode(frame) if matrix.encode else None, expected),
    }
    for name, (got, want) in reads.items():
        assert isinstance(got, np.ndarray) and got.dtype == np.float32, name
        np.testing.assert_array_equal(got, want, err_msg=name)
    assert np.asarray(inputs, dtype=np.float64).dtype == np.float64
    # Values outside the categories and missing ones are counted, as the report shows them.
    outside_jobs = int((~frame["job"].str.strip().isin(["clerk", "nurse", "pilot"])).sum())
    assert matrix.unseen_categories["job"] == outside_jobs > 0
    assert matrix.input_columns == ("age", "job", "job", "job", "hours", *["city"] * 40)


def test_the_input_is_held_in_a_fraction_of_the_dense_matrix() -> None:
    # 45 float32 inputs a row dense; held: two float32 values and two int16 positions.
    inputs = from_metadata(people(2000), METADATA, SOURCE).values
    assert isinstance(inputs, OneHotInputs)
    held = inputs.numeric.nbytes + inputs.hot.nbytes
    assert held == 2000 * (2 * 4 + 2 * 2)
    assert held * 15 == 2000 * 45 * 4


@pytest.mark.parametrize("batch_size", [1, 64, 333, 10_000])
def test_the_model_scores_the_same_in_any_batches(batch_size: int) -> None:
    frame = people(1000)
    weights = np.random.default_rng(2).normal(size=45)

    def model(batch: np.ndarray) -> np.ndarray:
        assert batch.dtype == np.float32 and batch.shape[1] == 45
        return 1.0 / (1.0 + np.exp(-(batch.astype(np.float64) @ weights)))

    inputs = from_metadata(frame, METADATA, SOURCE).values
    scores = raw_output(from_object(model), inputs, batch_size, SOURCE)
    # BLAS may sum a one-row product in another order: equal to the last few bits.
    np.testing.assert_allclose(scores, model(dense_by_hand(frame)), rtol=1e-12, atol=0)


def test_positions_past_the_int16_range_are_held_exactly() -> None:
    categories = [f"v{i}" for i in range(40_000)]
    wide = FeatureMetadata.model_validate(
        {
            "format": "rai-audit/features-v1",
            "features": [
                {"column": "x", "kind": "numeric"},
                {"column": "code", "kind": "categorical", "categories": categories},
            ],
        }
    )
    frame = pd.DataFrame({"x": [0.5, -1.0, 2.0], "code": ["v39999", "v32767", "v3"]})
    inputs = from_metadata(frame, wide, SOURCE).values
    assert isinstance(inputs, OneHotInputs) and inputs.hot.dtype == np.int32
    dense = inputs[:]
    assert dense.shape == (3, 40_001)
    assert [list(np.flatnonzero(row[1:])) for row in dense] == [[39_999], [32_767], [3]]
    np.testing.assert_array_equal(dense[:, 0], [0.5, -1.0, 2.0])
