"""The adapter protocol every model kind implements."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from audit.models.frame_input import FrameCodec


@runtime_checkable
class ModelAdapter(Protocol):
    """A model as the audit sees it.

    ``predict_proba`` takes a float32 batch ``[n, width]`` and returns the model's per-class
    output for it: probabilities or logits, ``[n, k]``, ``[n, 1]`` or ``[n]``.
    ``audit.models.scoring`` interprets that output, so adapters stay thin.
    """

    def predict_proba(self, batch: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class LoadedModel:
    adapter: ModelAdapter
    kind: str  # "torchscript", "torch-export", "skops", "torch-pickle", "pickle"
    trusted: bool  # True when the user opted into unpickling with --trust-model
    input_width: int | None  # known from the file, or None
    class_labels: tuple[str, ...] | None
    metadata_text: str | None  # the embedded rai_audit.json, if any
    notes: tuple[str, ...] = field(default_factory=tuple)
    extra: dict[str, Any] = field(default_factory=dict)
    # A model that reads the table's raw columns by name (a scikit-learn pipeline fitted on a
    # DataFrame): its batches are those columns as ``frame_input`` encodes them, and its
    # adapter decodes them back into a DataFrame (audit.models.frame_input).
    frame_input: FrameCodec | None = None
    # The packages beyond rai-audit's own dependencies that run this model (onnxruntime,
    # transformers, ...): the report's versions record them beside the core libraries.
    runtime: tuple[str, ...] = ()
