"""How the table's columns become the model's input matrix."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError

from audit.errors import DataError, ModelError
from audit.table import require_columns

METADATA_FILE = "rai_audit.json"
METADATA_FORMAT = "rai-audit/features-v1"


class NumericInput(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    column: str
    kind: Literal["numeric"]
    mean: float = 0.0
    scale: float = 1.0


class CategoricalInput(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    column: str
    kind: Literal["categorical"]
    categories: list[str]


class FeatureMetadata(BaseModel):
    """The ``rai_audit.json`` extra file of a TorchScript model (docs/model-formats.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    format: Literal["rai-audit/features-v1"]
    features: list[NumericInput | CategoricalInput]
    class_labels: list[str] | None = None
    positive_label: str | None = None
    output_kind: Literal["logits", "probabilities"] | None = None

    @property
    def width(self) -> int:
        return sum(
            len(spec.categories) if isinstance(spec, CategoricalInput) else 1
            for spec in self.features
        )


def parse_metadata(text: str, source: Path) -> FeatureMetadata:
    try:
        return FeatureMetadata.model_validate_json(text)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(map(str, error["loc"]))
        raise ModelError(
            f"{source}: embedded {METADATA_FILE} is invalid at {where!r} ({error['msg']}); "
            "see docs/model-formats.md for its format"
        ) from exc


@dataclass(frozen=True)
class FeatureMatrix:
    values: np.ndarray  # float32 [n, width]
    columns: tuple[str, ...]  # the table's columns that feed the model
    source: Literal["metadata", "features", "preprocessor", "numeric-columns"]
    unseen_categories: dict[str, int] = field(default_factory=dict)


def numeric_column(
    frame: pd.DataFrame, column: str, source: Path, role: str = "feature column"
) -> np.ndarray:
    """A feature (or ``role``) column as float64; text, NaN or infinity is an input error."""
    raw = frame[column]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        shown = raw.iloc[row]
        problem = "missing" if pd.isna(shown) else f"not a finite number: {str(shown)[:40]!r}"
        raise DataError(
            f"{source}: {role} {column!r} has {int(bad.sum())} unusable value(s) "
            f"(data row {row + 1} is {problem}); clean or impute them before the audit"
        )
    return values


def from_metadata(frame: pd.DataFrame, metadata: FeatureMetadata, source: Path) -> FeatureMatrix:
    columns = [spec.column for spec in metadata.features]
    require_columns(frame, columns, "the model's embedded feature list", source)
    blocks = []
    unseen: dict[str, int] = {}
    for spec in metadata.features:
        if isinstance(spec, NumericInput):
            scale = spec.scale if spec.scale != 0 else 1.0
            blocks.append(
                ((numeric_column(frame, spec.column, source) - spec.mean) / scale)[:, None]
            )
        else:
            raw = frame[spec.column]
            # Values are compared as text, as the model's categories were written.
            text = raw.astype("string").str.strip().astype(object).where(raw.notna(), None)
            # A mapping, not pd.Categorical: pandas deprecates categoricals built from values
            # outside their categories, and unseen values are expected here.
            index = {category: code for code, category in enumerate(spec.categories)}
            codes = text.map(index).fillna(-1).to_numpy(dtype=np.int64)
            outside = int((codes < 0).sum())
            if outside:
                unseen[spec.column] = outside
            one_hot = np.zeros((len(frame), len(spec.categories)), dtype=np.float64)
            known = codes >= 0
            one_hot[np.flatnonzero(known), codes[known]] = 1.0
            blocks.append(one_hot)
    values = np.hstack(blocks).astype(np.float32)
    return FeatureMatrix(values, tuple(columns), "metadata", unseen)


def from_columns(
    frame: pd.DataFrame,
    columns: Sequence[str],
    source: Path,
    how: Literal["features", "numeric-columns"],
) -> FeatureMatrix:
    require_columns(frame, list(columns), "--features", source)
    if not columns:
        raise DataError(
            f"{source}: no numeric columns are left to feed the model once target and "
            "sensitive columns are set aside; name them with --features"
        )
    values = np.column_stack([numeric_column(frame, column, source) for column in columns])
    return FeatureMatrix(values.astype(np.float32), tuple(columns), how)


def default_columns(frame: pd.DataFrame, excluded: set[str]) -> list[str]:
    """Every numeric column but the excluded ones, in file order."""
    return [
        str(column)
        for column in frame.columns
        if column not in excluded
        and pd.api.types.is_numeric_dtype(frame[column])
        and not pd.api.types.is_bool_dtype(frame[column])
    ]


def from_preprocessor(
    frame: pd.DataFrame, transformer: Any, excluded: set[str], source: Path, prep_path: Path
) -> FeatureMatrix:
    names = getattr(transformer, "feature_names_in_", None)
    if names is not None:
        columns = [str(name) for name in names]
        require_columns(frame, columns, f"the preprocessor {prep_path.name}", source)
    else:
        columns = [str(column) for column in frame.columns if column not in excluded]
    try:
        transformed = transformer.transform(frame[columns])
    except Exception as exc:  # the transformer is user code; any failure is an input error
        raise DataError(
            f"{prep_path}: the preprocessor failed on {source.name} "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
            "check that it was fitted on columns like these"
        ) from exc
    if hasattr(transformer, "get_feature_names_out") and hasattr(transformed, "toarray"):
        transformed = transformed.toarray()
    values = np.asarray(transformed, dtype=np.float64)
    if values.ndim != 2:
        raise DataError(
            f"{prep_path}: the preprocessor produced an array of shape {values.shape} from "
            f"{source.name}; it must produce a 2-D feature matrix"
        )
    if not np.isfinite(values).all():
        raise DataError(
            f"{prep_path}: the preprocessor produced NaN or infinite values from "
            f"{source.name}; fix missing values in its input columns"
        )
    return FeatureMatrix(values.astype(np.float32), tuple(columns), "preprocessor")
