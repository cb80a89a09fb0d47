"""rai-audit's batched permutation explainer gives shap's own PermutationExplainer values.

Both play the same column game with the same seed; the batched one must draw the same column
orders, walk them the same way and average the same scores, on a model with interactions, on
the bundled Adult MLP (one-hot blocks, rows that share values with background rows) and across
block and thread splits. Additivity (the values sum to score minus base) holds per row.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import ADULT_DATA, ADULT_MODEL
from shap_reference import shap_explainer_values

import audit.explain.shap_attributions as batched
from audit.explain.columns import ColumnMap, column_map
from audit.explain.score import PositiveScore, model_function
from audit.explain.shap_attributions import column_values, shap_attributions, shap_permutations
from audit.models import load_model
from audit.models.features import from_metadata, parse_metadata


def interacting(batch: np.ndarray) -> np.ndarray:
    """A score with pairwise and three-way interactions: one permutation is not exact."""
    a, b, c, d, e = (batch[:, index].astype(np.float64) for index in range(5))
    logit = 0.8 * a - 0.5 * b * c + 0.3 * a * d * e + np.where(b > 0, 0.7, -0.2) + 0.1 * e
    return 1.0 / (1.0 + np.exp(-logit))


def synthetic(seed: int) -> tuple[np.ndarray, np.ndarray, ColumnMap]:
    """Rows of a numeric column, a one-hot pair, and two columns of few values, so that many
    rows agree with many background rows on some column."""
    rng = np.random.default_rng(seed)
    rows = 60
    numeric = rng.normal(size=rows)
    category = rng.integers(0, 2, rows)
    few = rng.integers(0, 3, rows).astype(float)
    binary = rng.integers(0, 2, rows).astype(float)
    table = np.column_stack([numeric, category == 0, category == 1, few, binary]).astype(np.float32)
    return table[:40], table[40:], column_map(["x", "cat", "cat", "few", "flag"])


@pytest.mark.parametrize(("seed", "permutations"), [(0, 1), (7, 3), (123, 5)])
def test_values_equal_shaps_own_explainer(seed: int, permutations: int) -> None:
    inputs, background, columns = synthetic(seed)
    mine = shap_attributions(interacting, inputs, background, columns, seed, 1, permutations)
    values, base = shap_explainer_values(
        interacting, inputs, background, columns, seed, permutations
    )
    np.testing.assert_allclose(mine.values, values, rtol=0, atol=1e-12)
    np.testing.assert_allclose(mine.reference, base, rtol=0, atol=1e-12)
    # Additivity: each row's values sum to its score less the base.
    np.testing.assert_allclose(
        mine.values.sum(axis=1), mine.outputs - mine.reference, rtol=0, atol=1e-6
    )
    # The game is not additive, so the values are not trivially each column's main effect.
    assert np.abs(mine.values).sum() > 0 and mine.settings["permutations"] == permutations


def test_a_column_of_several_set_inputs_keeps_shaps_values() -> None:
    """Inputs 3 and 4 as one column: its values set both, so its block is copied whole, beside
    the columns written as their one set input."""
    inputs, background, _ = synthetic(5)
    columns = column_map(["x", "cat", "cat", "pair", "pair"])
    assert column_values(np.concatenate([inputs, background]), columns).blocks == (2,)
    mine = shap_attributions(interacting, inputs, background, columns, 5, 1, 2)
    values, base = shap_explainer_values(interacting, inputs, background, columns, 5, 2)
    np.testing.assert_allclose(mine.values, values, rtol=0, atol=1e-12)
    np.testing.assert_allclose(mine.reference, base, rtol=0, atol=1e-12)


def test_masked_inputs_are_built_bit_for_bit_from_either_kind_of_column() -> None:
    """Numbers (-0.0 included), a one-hot block with an all-zero value (an unseen category),
    a column of two set inputs and a column whose inputs are not side by side: every code's
    input bytes come back as the table had them."""
    rng = np.random.default_rng(2)
    rows = 50
    number = rng.choice(np.array([-0.0, 0.0, 1.5, -2.25, 7.0]), rows)
    hot = rng.integers(-1, 3, rows)  # -1: no input set
    pair = rng.integers(0, 4, rows)
    apart = rng.integers(0, 2, rows)
    table = np.column_stack(
        [
            number,
            *(hot == value for value in range(3)),
            apart == 0,
            pair * 0.5,
            pair + 1.0,
            apart == 1,
        ]
    ).astype(np.float32)
    columns = column_map(["number", "hot", "hot", "hot", "apart", "pair", "pair", "apart"])
    values_of = column_values(table, columns)
    assert list(values_of.single) == [0, 1, 2]  # number, hot, apart
    assert values_of.blocks == (3,)  # pair
    order = rng.permutation(rows)
    built = values_of.build(values_of.codes[order])
    assert built.dtype == np.float32 and built.shape == table.shape
    np.testing.assert_array_equal(built.view(np.uint32), table[order].view(np.uint32))


def test_the_adult_model_matches_across_blocks_and_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    model = load_model(ADULT_MODEL)
    assert model.metadata_text is not None
    metadata = parse_metadata(model.metadata_text, ADULT_MODEL)
    frame = pd.read_csv(ADULT_DATA, nrows=400)
    features = from_metadata(frame, metadata, Path(ADULT_DATA))
    columns = column_map(features.input_columns)
    assert metadata.class_labels is not None and metadata.positive_label is not None
    score = PositiveScore("logits", metadata.class_labels.index(metadata.positive_label))
    function = model_function(model, score, 4096)
    inputs, background = features.values[:24], features.values[300:330]
    values, base = shap_explainer_values(function, inputs, background, columns, 3, 3)
    whole = shap_attributions(function, inputs, background, columns, 3)
    # Blocks of a few rows each, on two threads: the same values.
    monkeypatch.setattr(batched, "BLOCK_INPUTS", 5 * 3 * (2 * len(columns.columns) + 1) * 30)
    split = shap_attributions(function, inputs, background, columns, 3, threads=2)
    for mine in (whole, split):
        # float32 model outputs on batches of other sizes agree to about 1e-7.
        np.testing.assert_allclose(mine.values, values, rtol=0, atol=1e-6)
        np.testing.assert_allclose(mine.reference, base, rtol=0, atol=1e-7)
        np.testing.assert_allclose(
            mine.values.sum(axis=1), mine.outputs - mine.reference, rtol=0, atol=1e-6
        )
    np.testing.assert_array_equal(whole.values, split.values)


def test_a_step_that_changes_no_input_is_not_scored() -> None:
    """Rows equal to the background on a column reuse the previous score: fewer model rows
    than shap's explainer scores, the same values."""
    inputs, background, columns = synthetic(1)
    scored: list[int] = []

    def counting(batch: np.ndarray) -> np.ndarray:
        scored.append(len(batch))
        return interacting(batch)

    mine = shap_attributions(counting, inputs, background, columns, 1, permutations=2)
    m, k = len(columns.columns), len(background)
    # shap scores (2m + 1) background-sized batches per permutation and row.
    assert sum(scored) < len(inputs) * 2 * (2 * m + 1) * k
    values, _ = shap_explainer_values(interacting, inputs, background, columns, 1, 2)
    np.testing.assert_allclose(mine.values, values, rtol=0, atol=1e-12)


def test_permutations_follow_shaps_draws_and_no_rows_is_fine() -> None:
    orders = shap_permutations(5, 3, 4, 2)
    generator = np.random.RandomState(5)
    for row in range(3):
        indices = np.arange(4)
        for permutation in range(2):
            generator.shuffle(indices)
            np.testing.assert_array_equal(orders[row, permutation], indices)
    inputs, background, columns = synthetic(0)
    empty = shap_attributions(interacting, inputs[:0], background, columns, 0)
    assert empty.values.shape == (0, len(columns.columns))


def test_equal_masked_inputs_are_scored_once_in_any_chunking(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Masked inputs that coincide (rows sharing values with each other and with background
    rows) are scored once each, across rows; the values stay shap's, whether the rows are
    walked in one chunk or several, and when the keys would overflow and nothing is shared."""
    inputs, background, columns = synthetic(4)
    batches: list[np.ndarray] = []

    def recording(batch: np.ndarray) -> np.ndarray:
        batches.append(batch.copy())
        return interacting(batch)

    whole = shap_attributions(recording, inputs, background, columns, 4, permutations=2)
    masked = np.concatenate(batches[2:])  # after the background's and the rows' own scores
    assert len(np.unique(masked, axis=0)) == len(masked)
    values, _ = shap_explainer_values(interacting, inputs, background, columns, 4, 2)
    np.testing.assert_allclose(whole.values, values, rtol=0, atol=1e-12)

    batches.clear()
    monkeypatch.setattr(batched, "_places", lambda codes: None)
    every = shap_attributions(recording, inputs, background, columns, 4, permutations=2)
    # The same inputs, each scored as often as it occurs.
    assert sum(map(len, batches[2:])) > len(masked)
    monkeypatch.undo()
    # Chunks of three rows each, on two threads.
    monkeypatch.setattr(batched, "CHUNK_CELLS", 3 * 2 * (2 * len(columns.columns) + 1) * 20)
    chunked = shap_attributions(interacting, inputs, background, columns, 4, 2, permutations=2)
    for other in (every, chunked):
        np.testing.assert_allclose(other.values, values, rtol=0, atol=1e-12)


def test_keys_that_would_overflow_share_nothing() -> None:
    codes = np.zeros((2, 3), dtype=np.int64)
    codes[1] = [1, 2, 3]
    np.testing.assert_array_equal(batched._places(codes), [1, 2, 6])
    wide = np.ones((2, 64), dtype=np.int64)  # 64 columns of two values: 2**64 keys
    assert batched._places(wide) is None
    assert batched._places(wide[:, :62]) is not None
