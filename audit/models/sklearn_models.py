"""Adapter for scikit-learn estimators, loaded with skops (or, trusted, from a pickle)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from audit.core.errors import ModelError
from audit.models.base import LoadedModel
from audit.models.frame_input import FrameCodec, frame_columns


class SklearnAdapter:
    """An estimator fitted on an array reads the batch as is; one fitted on a DataFrame
    (``feature_names_in_``) reads the raw columns it names, decoded by ``frame``."""

    def __init__(self, estimator: Any, frame: FrameCodec | None = None) -> None:
        self._estimator = estimator
        self._frame = frame

    def predict_proba(self, batch: np.ndarray) -> np.ndarray:
        inputs: np.ndarray | pd.DataFrame = (
            self._frame.decode(batch) if self._frame is not None else batch
        )
        if hasattr(self._estimator, "predict_proba"):
            return np.asarray(self._estimator.predict_proba(inputs), dtype=np.float64)
        return np.asarray(self._estimator.decision_function(inputs), dtype=np.float64)


def load_skops_object(path: Path, trust: bool) -> tuple[Any, tuple[str, ...]]:
    """Load a .skops file, accepting only the types skops trusts unless ``trust`` is set."""
    # Imported here: skops lists every scikit-learn estimator when imported (about 1.5 s),
    # which an audit of any other model kind should not pay.
    import skops.io

    try:
        untrusted = tuple(skops.io.get_untrusted_types(file=path))
    except Exception as exc:  # skops raises zipfile and json errors for a bad file
        raise ModelError(
            f"{path}: not a readable skops file ({type(exc).__name__}: {exc}); save it with "
            "skops.io.dump"
        ) from exc
    if untrusted and not trust:
        raise ModelError(
            f"{path}: holds types skops does not trust ({', '.join(untrusted[:5])}); loading "
            "them can run their code. Review them and pass --trust-model to accept"
        )
    try:
        return skops.io.load(path, trusted=list(untrusted)), untrusted
    except Exception as exc:
        raise ModelError(f"{path}: skops could not load it ({type(exc).__name__}: {exc})") from exc


def from_estimator(
    estimator: Any, kind: str, trusted: bool, notes: tuple[str, ...] = ()
) -> LoadedModel:
    if not (hasattr(estimator, "predict_proba") or hasattr(estimator, "decision_function")):
        raise ModelError(
            f"the loaded {type(estimator).__name__} has neither predict_proba nor "
            "decision_function; audit a classifier"
        )
    classes = getattr(estimator, "classes_", None)
    width = getattr(estimator, "n_features_in_", None)
    columns = frame_columns(estimator)
    frame = FrameCodec(columns) if columns is not None else None
    return LoadedModel(
        adapter=SklearnAdapter(estimator, frame),
        kind=kind,
        trusted=trusted,
        input_width=int(width) if width is not None else None,
        class_labels=tuple(_label(c) for c in classes) if classes is not None else None,
        metadata_text=None,
        notes=notes,
        frame_input=frame,
    )


def _label(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)
