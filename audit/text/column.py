"""The text column as the model's input: a ``FeatureMatrix`` whose values are strings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from audit.core.errors import DataError
from audit.data.table import require_columns
from audit.models.features import FeatureMatrix


def text_values(frame: pd.DataFrame, column: str, source: Path) -> list[str]:
    """The column's values as strings; a missing text is an input error, like a missing label."""
    require_columns(frame, [column], "--text-column", source)
    raw = frame[column]
    missing = raw.isna().to_numpy()
    if missing.any():
        row = int(np.flatnonzero(missing)[0]) + 1
        raise DataError(
            f"{source}: text column {column!r} has {int(missing.sum())} missing values (first "
            f"in data row {row}); drop those rows: every audited row needs a text"
        )
    return [str(value) for value in raw.tolist()]


def text_feature_matrix(frame: pd.DataFrame, column: str, source: Path) -> FeatureMatrix:
    """``values`` is an object array [n, 1] of strings: the adapter tokenizes them itself."""
    texts = text_values(frame, column, source)
    values = np.empty((len(texts), 1), dtype=object)
    values[:, 0] = texts
    return FeatureMatrix(values, (column,), "text", input_columns=(column,))
