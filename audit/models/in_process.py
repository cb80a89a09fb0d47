"""A model object held by the caller's Python process (a notebook's fitted estimator or a
scoring function), audited through the same adapter protocol as a model file.

There is no file to hash, so the report records the kind ``in-process`` with the note
``in-process model, not hashed``: the audit cannot vouch for which model it saw.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from audit.core.errors import UsageError
from audit.models.base import LoadedModel
from audit.models.sklearn_models import from_estimator

IN_PROCESS_KIND = "in-process"
IN_PROCESS_NOTE = "in-process model, not hashed"
# What errors about the model name in place of a file.
IN_PROCESS_SOURCE = Path("in-process model")


class CallableAdapter:
    """A plain function of the float32 batch that returns scores or class outputs."""

    def __init__(self, function: Callable[[np.ndarray], Any]) -> None:
        self._function = function

    def predict_proba(self, batch: np.ndarray) -> np.ndarray:
        return np.asarray(self._function(batch), dtype=np.float64)


def is_in_process(model: object) -> bool:
    """A request's model that is an object rather than a file path."""
    return model is not None and not isinstance(model, Path)


def from_object(model: object) -> LoadedModel:
    """An estimator with ``predict_proba`` (or ``decision_function``), read as scikit-learn's
    are (fitted on a DataFrame, it gets the raw columns it names), or any callable."""
    if hasattr(model, "predict_proba") or hasattr(model, "decision_function"):
        return from_estimator(model, IN_PROCESS_KIND, trusted=False, notes=(IN_PROCESS_NOTE,))
    if callable(model):
        return LoadedModel(
            adapter=CallableAdapter(model),
            kind=IN_PROCESS_KIND,
            trusted=False,
            input_width=None,
            class_labels=None,
            metadata_text=None,
            notes=(IN_PROCESS_NOTE,),
        )
    raise UsageError(
        f"AuditRequest.model is a {type(model).__name__}: give a model file as a Path, an object "
        "with predict_proba (scikit-learn style) or a function returning scores"
    )
