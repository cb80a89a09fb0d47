"""SHAP values per table column with SHAP's permutation explainer, for every kind of model.

The explainer plays a game whose players are the table's columns, not the model's encoded
inputs: a coalition keeps the explained row's value for its columns and takes the background
row's value for the others. The model input of every coalition is therefore a real encoding
(a one-hot block is taken whole from one row, never mixed), and the values are exact Shapley
values of columns under SHAP's independent masker, with no summing after the fact.

SHAP only sees each column as one number, so each row is coded by its index into a pool of
rows (the explained rows, then the background): a player's value is the index of the row its
block comes from, and the game decodes indices into model inputs. ``shap.maskers.Independent``
over the background's indices then masks whole columns, for any encoder (metadata one-hot,
``--features``, a fitted preprocessor).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from types import ModuleType

import numpy as np

from audit.explain.attributions import Attributions
from audit.explain.columns import ColumnMap
from audit.explain.score import one_torch_thread

# Antithetic permutations per row: each costs 2 * columns + 1 model calls on the background.
# Exact for additive models with one; more reduce the variance from interactions.
PERMUTATIONS = 3


def import_shap() -> ModuleType:
    """shap, imported quietly. Raises ImportError when the explain extra is missing."""
    with warnings.catch_warnings():
        # shap's plotting module, imported by ``import shap``, calls matplotlib colormap
        # methods that matplotlib 3.11 marks as pending deprecation; nothing here plots.
        warnings.filterwarnings("ignore", category=PendingDeprecationWarning, module=r"shap\.")
        import shap
    return shap


def shap_attributions(
    function: Callable[[np.ndarray], np.ndarray],
    inputs: np.ndarray,
    background: np.ndarray,
    columns: ColumnMap,
    seed: int,
    permutations: int = PERMUTATIONS,
) -> Attributions:
    """Column-level SHAP values of ``function`` (a positive-class probability) per row.

    ``inputs`` [rows, width] are the encoded rows to explain, ``background`` [k, width] the
    encoded rows whose values stand in for a column that is left out.
    """
    shap = import_shap()
    n, k, m = len(inputs), len(background), len(columns.columns)
    pool = np.vstack([inputs, background]).astype(np.float32)
    width_index = np.arange(columns.width)

    def game(coded: np.ndarray) -> np.ndarray:
        rows = coded.astype(np.int64)
        return function(pool[rows[:, columns.column_of_input], width_index])

    explained_codes = np.repeat(np.arange(n, dtype=np.float64)[:, None], m, axis=1)
    background_codes = np.repeat(np.arange(n, n + k, dtype=np.float64)[:, None], m, axis=1)
    masker = shap.maskers.Independent(background_codes, max_samples=k)
    state = np.random.get_state()
    try:
        # shap seeds numpy's global generator; the caller's state is put back afterwards.
        explainer = shap.explainers.Permutation(game, masker, seed=seed)
        with one_torch_thread():
            explanation = explainer(
                explained_codes, max_evals=permutations * (2 * m + 1), silent=True
            )
    finally:
        np.random.set_state(state)
    values = np.asarray(explanation.values, dtype=np.float64).reshape(n, m)
    base = np.asarray(explanation.base_values, dtype=np.float64).reshape(n)
    return Attributions(
        method="shap",
        values=values,
        outputs=function(inputs),
        reference=base,
        reference_text="mean score over the background rows",
        library=f"shap {shap.__version__}",
        settings={
            "explainer": "permutation",
            "masker": "independent",
            "players": "table columns",
            "permutations": permutations,
            "background_rows": k,
        },
    )
