"""The quantity every method explains: the positive-class probability the audit decides on,
read from the model's output by ``audit.models.positive_score`` (numpy for model-agnostic
methods, torch for gradient methods), so that SHAP and Captum explain the audit's own number.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from audit.models.base import LoadedModel
from audit.models.positive_score import PositiveScore


def model_function(
    model: LoadedModel, score: PositiveScore, batch_size: int
) -> Callable[[np.ndarray], np.ndarray]:
    """``f(inputs) -> positive-class probability`` through the adapter, in batches."""

    def function(inputs: np.ndarray) -> np.ndarray:
        batch_input = np.ascontiguousarray(inputs, dtype=np.float32)
        outputs = [
            # In float64: the explanations' sums and completeness run in double precision.
            score.from_numpy(
                np.asarray(
                    model.adapter.predict_proba(batch_input[start : start + batch_size]),
                    dtype=np.float64,
                )
            )
            for start in range(0, len(batch_input), batch_size)
        ]
        return np.concatenate(outputs) if outputs else np.zeros(0)

    return function
