"""shap's own PermutationExplainer on the column game, as the reference for rai-audit's batched
one (tests/test_shap_batched.py and benchmarks/bench_explain.py).

Each row is coded by its index into a pool of rows (the explained rows, then the background),
so shap's Independent masker swaps whole table columns: a player's value is the index of the
row its block of encoded inputs comes from, and the game decodes indices into model inputs.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from types import ModuleType

import numpy as np

from audit.explain.columns import ColumnMap


def import_shap() -> ModuleType:
    """shap, imported quietly."""
    with warnings.catch_warnings():
        # shap's plotting module, imported by ``import shap``, calls matplotlib colormap
        # methods that matplotlib 3.11 marks as pending deprecation; nothing here plots.
        warnings.filterwarnings("ignore", category=PendingDeprecationWarning)
        import shap
    return shap


def shap_explainer_values(
    function: Callable[[np.ndarray], np.ndarray],
    inputs: np.ndarray,
    background: np.ndarray,
    columns: ColumnMap,
    seed: int,
    permutations: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(values [rows, columns], base values [rows]) from ``shap.explainers.Permutation``."""
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
        explanation = explainer(explained_codes, max_evals=permutations * (2 * m + 1), silent=True)
    finally:
        np.random.set_state(state)
    values = np.asarray(explanation.values, dtype=np.float64).reshape(n, m)
    return values, np.asarray(explanation.base_values, dtype=np.float64).reshape(n)
