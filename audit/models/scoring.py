"""Turn a model's raw output, or predictions already in the data, into scores and decisions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from audit.core.errors import DataError, ModelError
from audit.core.request import OutputKind
from audit.data.table import label_strings, require_columns
from audit.models.base import LoadedModel
from audit.models.features import ModelInputs, numeric_column
from audit.models.positive_score import positive_score


@dataclass(frozen=True)
class Predictions:
    decisions: np.ndarray  # int8, 1 = positive decision
    scores: np.ndarray | None  # positive-class score, if any
    output_kind: str  # "logits", "probabilities", "decisions" or "scores-column"
    output_shape: tuple[int, ...]
    notes: tuple[str, ...] = ()  # assumptions made reading the output, for the report
    # The model's class read as positive (--model-positive-class); None: the class named like
    # the target's positive value.
    model_class: str | None = None


# How each feature source chose its columns, for messages about the model's input.
_FEATURE_SOURCES = {
    "numeric-columns": "by default, every numeric column except the target and sensitive ones",
    "features": "given by --features",
    "metadata": "from the model's embedded feature list",
    "preprocessor": "through --preprocessor",
    "frame": "the raw columns the model was fitted on, by name",
}


def raw_output(
    model: LoadedModel,
    inputs: ModelInputs,
    batch_size: int,
    source: Path,
    columns: Sequence[str] = (),
    feature_source: str | None = None,
) -> np.ndarray:
    """Run the model over ``inputs`` in batches and check the output's shape and values.

    ``columns`` and ``feature_source`` (a ``FeatureMatrix``'s) only make messages clearer.
    """
    n, width = inputs.shape
    if model.input_width is not None and model.input_width != width:
        chosen = ""
        if columns:
            shown = ", ".join(columns)
            shown = shown if len(shown) <= 200 else shown[:200] + "..."
            how = _FEATURE_SOURCES.get(feature_source or "")
            chosen = f" from columns {shown}" + (f" ({how})" if how else "")
        raise ModelError(
            f"{source}: the model takes {model.input_width} input features but the data gives "
            f"{width}{chosen}; pass the model's columns in order with --features, or embed "
            "them in the model"
        )
    batches = []
    for start in range(0, n, batch_size):
        batch = inputs[start : start + batch_size]
        try:
            output = np.asarray(model.adapter.predict_proba(batch), dtype=np.float64)
        except ModelError:
            raise
        except Exception as exc:  # the model is user code: any failure is reported, not raised
            raise ModelError(
                f"{source}: the model failed on a batch of shape [{len(batch)}, {width}] "
                f"({_summary(exc)}); check that the features match the model's input"
            ) from exc
        if (
            output.ndim == 0
            or output.shape[0] != len(batch)
            or output.ndim > 2
            or (output.ndim == 2 and output.shape[1] == 0)
        ):
            raise ModelError(
                f"{source}: the model returned shape {list(output.shape)} for a batch of "
                f"{len(batch)} rows; it must return [n], [n, 1] or [n, k] class scores"
            )
        batches.append(output)
    output = np.concatenate(batches)
    bad = ~np.isfinite(output)
    if bad.any():
        row = int(np.flatnonzero(bad.reshape(len(output), -1).any(axis=1))[0])
        raise ModelError(
            f"{source}: the model returned {int(bad.sum())} NaN or infinite values (first "
            f"for data row {row + 1}); check the model and its input scaling"
        )
    return output


_TORCHSCRIPT_FAILURE = "The following operation failed in the TorchScript interpreter"


def _summary(exc: Exception) -> str:
    """One line saying why the model failed.

    TorchScript wraps the model's own error in a multi-line TorchScript traceback whose
    first line says nothing; the cause is its last line, e.g. "RuntimeError: mat1 and ...".
    """
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    if lines[0].startswith(_TORCHSCRIPT_FAILURE):
        return lines[-1].removeprefix("builtins.")
    return f"{type(exc).__name__}: {lines[0]}"


def detect_output_kind(output: np.ndarray) -> Literal["logits", "probabilities"]:
    """Probabilities when every value is in [0, 1] (and each row of several classes sums to
    one), else logits."""
    # Two reductions, and the row sums only for values in [0, 1]: on 1M rows of two logits
    # the elementwise comparisons and sums took 0.015 s of the audit's serial preparation.
    in_unit = output.size == 0 or (float(output.min()) >= 0 and float(output.max()) <= 1)
    if not in_unit:
        return "logits"
    if output.ndim == 2 and output.shape[1] > 1:
        sums_to_one = bool(np.allclose(output.sum(axis=1), 1.0, atol=1e-4))
        return "probabilities" if sums_to_one else "logits"
    return "probabilities"


def model_predictions(
    output: np.ndarray,
    kind: OutputKind,
    threshold: float,
    class_labels: tuple[str, ...] | None,
    positive_label: str,
    source: Path,
    target_labels: tuple[str, ...] = (),
    model_class: str | None = None,
) -> Predictions:
    """Scores and decisions from raw output, the score read by audit.models.positive_score."""
    resolved = detect_output_kind(output) if kind == "auto" else kind
    score = positive_score(
        resolved,
        tuple(output.shape[1:]),
        class_labels,
        target_labels,
        positive_label,
        source,
        model_class,
    )
    notes: tuple[str, ...] = ()
    if model_class is not None:
        notes = (
            f"the model's class {model_class!r} (--model-positive-class) was read as the "
            f"target's positive value {positive_label!r}",
        )
    elif score.column is not None and class_labels is None:
        # Documented default, but silent otherwise: a reviewer should see the assumption.
        notes = (
            f"the model names no classes; output column {score.column} was read as the "
            f"positive class {positive_label!r} (columns in sorted label order)",
        )
    scores = score.from_numpy(output)
    if resolved == "probabilities" and ((scores < 0) | (scores > 1)).any():
        raise ModelError(
            f"{source}: --output-kind probabilities, but the model returned values outside "
            "[0, 1]; use --output-kind logits"
        )
    decisions = (scores >= threshold).astype(np.int8)
    return Predictions(decisions, scores, resolved, tuple(output.shape[1:]), notes, model_class)


def column_predictions(
    frame: pd.DataFrame,
    predictions_column: str,
    scores_column: str | None,
    target_labels: tuple[str, ...],
    positive_label: str,
    source: Path,
) -> Predictions:
    """Decisions (and scores) made before the audit, read from the data like Aequitas does."""
    require_columns(frame, [predictions_column], "--predictions", source)
    raw = frame[predictions_column]
    if raw.isna().any():
        row = int(np.flatnonzero(raw.isna().to_numpy())[0]) + 1
        raise DataError(
            f"{source}: predictions column {predictions_column!r} has {int(raw.isna().sum())} "
            f"missing values (first in data row {row}); every audited row needs a decision"
        )
    labels = label_strings(raw)
    values = set(labels.unique().tolist())
    if values <= set(target_labels):
        decisions = (labels == positive_label).to_numpy(dtype=np.int8)
    elif values <= {"0", "1"}:
        decisions = (labels == "1").to_numpy(dtype=np.int8)
    else:
        shown = ", ".join(map(repr, sorted(values - set(target_labels))[:10]))
        raise DataError(
            f"{source}: predictions column {predictions_column!r} holds values that are not "
            f"target labels ({shown}); it must hold the target's labels or 0/1"
        )
    scores = None
    if scores_column is not None:
        require_columns(frame, [scores_column], "--scores", source)
        scores = numeric_column(frame, scores_column, source, role="scores column")
    return Predictions(decisions, scores, "decisions", ())
