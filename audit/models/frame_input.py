"""Raw table columns as the adapter protocol's float32 batch, for models that read a frame.

A scikit-learn pipeline fitted on a pandas DataFrame (a ColumnTransformer that one-hot encodes
string columns and scales numeric ones, then a classifier) reads the table's own columns by
name, strings included. The audit still hands every adapter a float32 batch, so that scoring,
streaming, SHAP and the flip test stay one code path: ``FrameCodec`` writes each raw column as
one input (a numeric column as its value, any other column as a code into the values seen so
far) and the adapter decodes a batch back into the DataFrame its model was fitted on. Codes
only grow, so a code means the same value for every chunk and call in a process.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from audit.data.table import require_columns
from audit.models.features import FeatureMatrix, numeric_column


@dataclass
class _Values:
    """The distinct values of one non-numeric column, in the order first seen."""

    values: list[Any] = field(default_factory=list)
    index: dict[Any, int] = field(default_factory=dict)


class FrameCodec:
    """The raw columns a model reads by name, to and from float32 batches."""

    def __init__(self, columns: Sequence[str]) -> None:
        self.columns = tuple(columns)
        self._categorical: dict[str, _Values] | None = None  # fixed by the first frame
        self._lock = threading.Lock()

    def encode(self, frame: pd.DataFrame, source: Path) -> np.ndarray:
        """``frame``'s model columns as float32 ``[n, columns]``; a column that is not numeric
        in the first frame encoded is categorical from then on."""
        require_columns(frame, list(self.columns), "the model's own input columns", source)
        with self._lock:
            if self._categorical is None:
                self._categorical = {
                    column: _Values()
                    for column in self.columns
                    if not pd.api.types.is_numeric_dtype(frame[column])
                    or pd.api.types.is_bool_dtype(frame[column])
                }
            values = np.empty((len(frame), len(self.columns)), dtype=np.float32)
            for position, column in enumerate(self.columns):
                seen = self._categorical.get(column)
                if seen is None:
                    values[:, position] = numeric_column(frame, column, source)
                    continue
                values[:, position] = _codes(frame[column], seen)
        return values

    def decode(self, batch: np.ndarray) -> pd.DataFrame:
        """The DataFrame ``batch`` encodes: numeric columns as float64, the others as the
        values they were read with (missing as NaN)."""
        categorical = self._categorical or {}
        columns: dict[str, Any] = {}
        for position, column in enumerate(self.columns):
            seen = categorical.get(column)
            if seen is None:
                columns[column] = batch[:, position].astype(np.float64)
                continue
            lookup = np.array([*seen.values, np.nan], dtype=object)
            codes = batch[:, position]
            codes = np.where(np.isfinite(codes), codes, -1).astype(np.int64)
            columns[column] = lookup[codes]  # -1 picks the trailing NaN
        return pd.DataFrame(columns)

    def matrix(self, frame: pd.DataFrame, source: Path) -> FeatureMatrix:
        def encode(changed: pd.DataFrame) -> np.ndarray:
            return self.encode(changed, source)

        return FeatureMatrix(
            encode(frame), self.columns, "frame", input_columns=self.columns, encode=encode
        )


def _codes(raw: pd.Series, seen: _Values) -> np.ndarray:
    """Each value's code, new values appended; missing values are -1."""
    codes, distinct = pd.factorize(raw, use_na_sentinel=True)
    lookup = []
    for value in distinct.tolist():
        if value not in seen.index:
            seen.index[value] = len(seen.values)
            seen.values.append(value)
        lookup.append(seen.index[value])
    table = np.array([*lookup, -1], dtype=np.float32)
    return table[codes]


def frame_columns(estimator: Any) -> tuple[str, ...] | None:
    """The columns an estimator fitted on a DataFrame reads by name (``feature_names_in_``),
    or None for one fitted on an array."""
    names = getattr(estimator, "feature_names_in_", None)
    if names is None:
        return None
    return tuple(str(name) for name in names)
