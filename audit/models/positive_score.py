"""The positive-class score: one reading of a model's raw output for the whole audit.

The scores the fairness tables count, the function SHAP and Captum explain and the texts'
token attributions all read the output here, so they are the same number: the same output
kind (logits or probabilities) and the same positive column.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from audit.core.errors import ModelError

if TYPE_CHECKING:  # torch only for the gradient methods; a decisions-only audit never loads it
    import torch


@dataclass(frozen=True)
class PositiveScore:
    output_kind: Literal["logits", "probabilities"]
    column: int | None  # the positive class's output column; None for [n] or [n, 1] output

    def from_numpy(self, output: np.ndarray) -> np.ndarray:
        if self.column is None:
            flat = output.reshape(len(output))
            return flat if self.output_kind == "probabilities" else 1.0 / (1.0 + np.exp(-flat))
        if self.output_kind == "probabilities":
            return output[:, self.column]
        # The row maximum column by column: ``output.max(axis=1)`` over a few columns runs a
        # short inner loop per row, ten times slower on a million rows, for the same bits.
        row_max = output[:, 0].copy()
        for column in output.T[1:]:
            np.maximum(row_max, column, out=row_max)
        shifted = output - row_max[:, None]
        exp = np.exp(shifted)
        # Two classes (most models): one addition per row, the same bits as the row sum in
        # either order, and ten times faster than ``exp.sum(axis=1)``'s loop per short row.
        total = exp[:, 0] + exp[:, 1] if exp.shape[1] == 2 else exp.sum(axis=1)
        return exp[:, self.column] / total

    def from_torch(self, output: torch.Tensor) -> torch.Tensor:
        import torch

        if self.column is None:
            flat = output.reshape(output.shape[0])
            return flat if self.output_kind == "probabilities" else torch.sigmoid(flat)
        if self.output_kind == "probabilities":
            return output[:, self.column]
        return torch.softmax(output, dim=1)[:, self.column]

    def describe(self, positive_label: str) -> str:
        return f"probability of the positive class {positive_label!r}"


def positive_column(
    width: int,
    class_labels: tuple[str, ...] | None,
    positive_label: str,
    source: Path,
    model_class: str | None = None,
) -> int:
    """The output column of the positive class: the model's class ``model_class``
    (--model-positive-class) when given, else the class named like the target's positive
    value ``positive_label`` (--positive-label)."""
    if class_labels is not None:
        if len(class_labels) != width:
            raise ModelError(
                f"{source}: the model names {len(class_labels)} classes but returns {width} "
                "columns; fix class_labels in its metadata"
            )
        shown = ", ".join(map(repr, class_labels))
        if model_class is not None:
            if model_class not in class_labels:
                raise ModelError(
                    f"{source}: --model-positive-class {model_class!r} is not one of the "
                    f"model's classes ({shown}); name one of them (the target's positive value "
                    "goes in --positive-label)"
                )
            return class_labels.index(model_class)
        if positive_label not in class_labels:
            raise ModelError(
                f"{source}: the target's positive value {positive_label!r} (--positive-label) "
                f"is not one of the model's classes ({shown}); name the model's class that "
                f"means {positive_label!r} with --model-positive-class, e.g. "
                f"--model-positive-class {class_labels[-1]!r}"
            )
        return class_labels.index(positive_label)
    if model_class is not None:
        if model_class.isdigit() and int(model_class) < width:
            return int(model_class)
        raise ModelError(
            f"{source}: the model names no classes, so --model-positive-class must be an "
            f"output column index below {width}, got {model_class!r}"
        )
    if width == 2:
        return 1
    raise ModelError(
        f"{source}: the model returns {width} class columns and names none of them; embed "
        "class_labels in the model so the positive class can be found"
    )


def positive_score(
    output_kind: str,
    output_shape: tuple[int, ...],
    class_labels: tuple[str, ...] | None,
    target_labels: tuple[str, ...],
    positive_label: str,
    source: Path,
    model_class: str | None = None,
) -> PositiveScore:
    """How to read the positive-class score from output of shape ``[n, *output_shape]``.

    A model that names no classes is read in the target's sorted label order (the order
    scikit-learn gives ``classes_``), so ``--positive-label`` picks its column;
    ``model_class`` (--model-positive-class) names the model's class when its classes are not
    the target's values (a model trained on 0/1 against '<=50K'/'>50K').
    """
    # The kind the audit resolved its scores with ("logits" or "probabilities").
    kind: Literal["logits", "probabilities"] = (
        "probabilities" if output_kind == "probabilities" else "logits"
    )
    if len(output_shape) == 0 or output_shape == (1,):
        return PositiveScore(kind, None)
    width = output_shape[0]
    assumed = class_labels is None and model_class is None and len(target_labels) == width
    labels = tuple(sorted(target_labels)) if assumed else class_labels
    return PositiveScore(kind, positive_column(width, labels, positive_label, source, model_class))
