"""The quantity every method explains: the positive-class probability the audit decides on.

It is read from the model's raw output exactly as ``audit.models.scoring`` reads it (same output
kind, same positive column), once with numpy for model-agnostic methods and once with torch
for gradient methods, so that SHAP and Captum explain the same number.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from audit.models.base import LoadedModel
from audit.models.scoring import positive_column


@dataclass(frozen=True)
class PositiveScore:
    output_kind: Literal["logits", "probabilities"]
    column: int | None  # the positive class's output column; None for [n] or [n, 1] output

    def from_numpy(self, output: np.ndarray) -> np.ndarray:
        output = np.asarray(output, dtype=np.float64)
        if self.column is None:
            flat = output.reshape(len(output))
            return flat if self.output_kind == "probabilities" else 1.0 / (1.0 + np.exp(-flat))
        if self.output_kind == "probabilities":
            return output[:, self.column]
        shifted = output - output.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        return exp[:, self.column] / exp.sum(axis=1)

    def from_torch(self, output: torch.Tensor) -> torch.Tensor:
        if self.column is None:
            flat = output.reshape(output.shape[0])
            return flat if self.output_kind == "probabilities" else torch.sigmoid(flat)
        if self.output_kind == "probabilities":
            return output[:, self.column]
        return torch.softmax(output, dim=1)[:, self.column]

    def describe(self, positive_label: str) -> str:
        return f"probability of the positive class {positive_label!r}"


def positive_score(
    output_kind: str,
    output_shape: tuple[int, ...],
    class_labels: tuple[str, ...] | None,
    target_labels: tuple[str, ...],
    positive_label: str,
    source: Path,
) -> PositiveScore:
    """The reader for a model whose output ``audit.models.scoring`` already resolved."""
    kind: Literal["logits", "probabilities"] = (
        "probabilities" if output_kind == "probabilities" else "logits"
    )
    if len(output_shape) == 0 or output_shape == (1,):
        return PositiveScore(kind, None)
    width = output_shape[0]
    # The same choice as audit.models.scoring.model_predictions: unnamed classes are read in the
    # target's sorted label order.
    assumed = class_labels is None and len(target_labels) == width
    labels = tuple(sorted(target_labels)) if assumed else class_labels
    return PositiveScore(kind, positive_column(width, labels, positive_label, source))


def model_function(
    model: LoadedModel, score: PositiveScore, batch_size: int
) -> Callable[[np.ndarray], np.ndarray]:
    """``f(inputs) -> positive-class probability`` through the adapter, in batches."""

    def function(inputs: np.ndarray) -> np.ndarray:
        batch_input = np.ascontiguousarray(inputs, dtype=np.float32)
        outputs = [
            score.from_numpy(model.adapter.predict_proba(batch_input[start : start + batch_size]))
            for start in range(0, len(batch_input), batch_size)
        ]
        return np.concatenate(outputs) if outputs else np.zeros(0)

    return function
