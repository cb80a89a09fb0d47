"""How the table's columns become the model's input matrix."""

from __future__ import annotations

from collections.abc import Callable, Sequence, Set
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError

from audit.core.errors import DataError, ModelError
from audit.data.table import ColumnCodes, require_columns

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


class ModelInputs(Protocol):
    """The model's input rows as the stages read them: a float32 ``[n, width]`` array or
    anything that hands out its rows as one (``inputs[rows]`` for a slice or positions)."""

    @property
    def shape(self) -> tuple[int, ...]: ...

    def __len__(self) -> int: ...

    def __getitem__(self, rows: Any, /) -> Any: ...


@dataclass(frozen=True)
class OneHotInputs:
    """Standardized numeric inputs and one-hot blocks, held as the numeric values and each
    row's hot input per block; rows become the dense float32 input only when read.

    Written by hand because it is what the model's input is before it is spelled out: on
    1,000,000 rows of the Adult model the dense matrix is 428 MB, its first touch costs up to
    a second of huge-page compaction (numpy asks for huge pages for large arrays), and the
    model reads it a batch at a time and every other stage only a sample of its rows. Held
    like this it takes 36 MB, and each batch is built where the cache still holds it.
    """

    numeric: np.ndarray  # float32 [n, numeric inputs], already standardized
    numeric_positions: np.ndarray  # intp [numeric inputs]: their columns in the input
    # int16 (int32 past 32,767 inputs) [n, blocks]: the input set to 1 in each block, -1 for none
    hot: np.ndarray
    width: int

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.numeric), self.width

    def __len__(self) -> int:
        return len(self.numeric)

    def __getitem__(self, rows: int | slice | np.ndarray) -> np.ndarray:
        """The dense rows: ``numeric`` at its positions, 1.0 at each hot input, 0.0 elsewhere
        (one row, as a 1-D array, for an integer)."""
        if isinstance(rows, (int, np.integer)):
            return self[np.array([rows])][0]
        numeric, hot = self.numeric[rows], self.hot[rows]
        size = len(numeric) * self.width
        # One flat scatter with a spare last element that the "none" (-1) entries hit: the
        # 2-D fancy assignment after np.nonzero cost three times as much and dominated the
        # model's batches.
        flat = np.zeros(size + 1, dtype=np.float32)
        values = flat[:size].reshape(len(numeric), self.width)
        values[:, self.numeric_positions] = numeric
        index = np.arange(0, size, self.width, dtype=np.intp)[:, None] + hot
        index[hot < 0] = size
        flat[index.ravel()] = 1.0
        return values

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        """Every row, dense: for ``np.asarray`` of a small table, not for the audited one."""
        return self[:] if dtype is None else self[:].astype(dtype)


@dataclass(frozen=True)
class FeatureMatrix:
    # float32 [n, width] as the model reads it; ``values[rows]`` is always a NumPy array.
    values: ModelInputs
    columns: tuple[str, ...]  # the table's columns that feed the model
    # "text": a text model's input, values an object array [n, 1] of strings (audit.text).
    # "frame": the raw columns a model reads by name, one input each (audit.models.frame_input).
    source: Literal["metadata", "features", "preprocessor", "numeric-columns", "text", "frame"]
    unseen_categories: dict[str, int] = field(default_factory=dict)
    # For each model input (column of ``values``), the table column it encodes: a one-hot
    # block maps to its column; a preprocessor output that names no column keeps its own name.
    input_columns: tuple[str, ...] = ()
    # Builds ``values`` again, as an array, from a frame with the same columns (e.g. with a
    # sensitive value changed, for the counterfactual flip test); raises like the first
    # encoding did.
    encode: Callable[[pd.DataFrame], np.ndarray] | None = None


def mismatched_rows(encoded: np.ndarray, expected: np.ndarray) -> np.ndarray | None:
    """Positions of the rows whose re-encoding (``FeatureMatrix.encode``) differs from the
    model's input, every row when the widths differ; None when it reproduces the input.

    Tests that change a column and re-score (the flip test, perturbations) compare only what
    the model would see for the rows as they are, so they check this first.
    """
    if encoded.shape != expected.shape:
        return np.arange(len(expected))
    same = np.isclose(encoded, expected, rtol=1e-5, atol=1e-6).all(axis=1)
    return None if same.all() else np.flatnonzero(~same)


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


def category_codes(factorized: tuple[np.ndarray, pd.Index], categories: list[str]) -> np.ndarray:
    """Index of each value in ``categories`` (compared as stripped text), -1 if absent, from
    the column's factorization (``ColumnCodes.factorized``).

    Only the distinct values are converted and looked up, so a million rows with a few dozen
    categories cost one factorization rather than a million string conversions.
    """
    codes, distinct = factorized
    index = {category: code for code, category in enumerate(categories)}
    lookup = np.array(
        [index.get(str(value).strip(), -1) for value in distinct] + [-1], dtype=np.int64
    )
    # factorize marks missing values with -1, which picks the trailing -1 of the lookup.
    return lookup[codes]


def from_metadata(
    frame: pd.DataFrame,
    metadata: FeatureMetadata,
    source: Path,
    codes: ColumnCodes | None = None,
) -> FeatureMatrix:
    """The model's input from ``frame``; ``codes``, the audit's factorizations of ``frame``,
    are shared with the stages that code the same columns."""
    codes = ColumnCodes.of(frame, codes)
    columns = [spec.column for spec in metadata.features]
    require_columns(frame, columns, "the model's embedded feature list", source)
    numeric_specs = [spec for spec in metadata.features if isinstance(spec, NumericInput)]
    position_type = np.int16 if metadata.width <= np.iinfo(np.int16).max else np.int32
    numeric = np.empty((len(frame), len(numeric_specs)), dtype=np.float32)
    hot = np.empty((len(frame), len(metadata.features) - len(numeric_specs)), position_type)
    numeric_positions: list[int] = []
    blocks = 0
    unseen: dict[str, int] = {}
    start = 0
    for spec in metadata.features:
        if isinstance(spec, NumericInput):
            scale = spec.scale if spec.scale != 0 else 1.0
            numeric[:, len(numeric_positions)] = (
                numeric_column(frame, spec.column, source) - spec.mean
            ) / scale
            numeric_positions.append(start)
            start += 1
            continue
        found = category_codes(codes.factorized(spec.column), spec.categories)
        outside = int((found < 0).sum())
        if outside:
            unseen[spec.column] = outside
        hot[:, blocks] = np.where(found >= 0, start + found, -1)
        blocks += 1
        start += len(spec.categories)
    inputs = OneHotInputs(numeric, np.array(numeric_positions, dtype=np.intp), hot, start)
    input_columns = tuple(
        spec.column
        for spec in metadata.features
        for _ in range(len(spec.categories) if isinstance(spec, CategoricalInput) else 1)
    )

    def encode(changed: pd.DataFrame) -> np.ndarray:
        return np.asarray(from_metadata(changed, metadata, source).values)

    return FeatureMatrix(inputs, tuple(columns), "metadata", unseen, input_columns, encode)


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

    def encode(changed: pd.DataFrame) -> np.ndarray:
        return np.asarray(from_columns(changed, columns, source, how).values)

    return FeatureMatrix(
        values.astype(np.float32), tuple(columns), how, input_columns=tuple(columns), encode=encode
    )


def default_columns(frame: pd.DataFrame, excluded: Set[str]) -> list[str]:
    """Every numeric column but the excluded ones, in file order."""
    return [
        str(column)
        for column in frame.columns
        if column not in excluded
        and pd.api.types.is_numeric_dtype(frame[column])
        and not pd.api.types.is_bool_dtype(frame[column])
    ]


def from_preprocessor(
    frame: pd.DataFrame, transformer: Any, excluded: Set[str], source: Path, prep_path: Path
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

    def encode(changed: pd.DataFrame) -> np.ndarray:
        return np.asarray(
            from_preprocessor(changed, transformer, excluded, source, prep_path).values
        )

    return FeatureMatrix(
        values.astype(np.float32),
        tuple(columns),
        "preprocessor",
        input_columns=preprocessor_input_columns(transformer, columns, values.shape[1]),
        encode=encode,
    )


def _column_named(name: str, columns: Sequence[str]) -> str | None:
    """The table column an output feature name speaks of: ``sex_Male`` or ``cat__sex_Male``
    is ``sex``; the longest matching column wins (``age_band`` before ``age``)."""
    candidates = [name, name.split("__", 1)[1]] if "__" in name else [name]
    for candidate in candidates:
        if candidate in columns:
            return candidate
        prefixed = [column for column in columns if candidate.startswith(f"{column}_")]
        if prefixed:
            return max(prefixed, key=len)
    return None


def _selected_columns(selection: Any, columns: Sequence[str]) -> list[str] | None:
    """The table columns a ColumnTransformer entry selects, if they can be told."""
    if isinstance(selection, str):
        return [selection]
    if isinstance(selection, slice):
        return list(columns[selection])
    try:
        items = list(selection)
    except TypeError:
        return None
    if all(isinstance(item, (bool, np.bool_)) for item in items) and len(items) == len(columns):
        return [column for column, keep in zip(columns, items, strict=True) if keep]
    if all(isinstance(item, (int, np.integer)) for item in items):
        return [columns[int(item)] for item in items]
    return [str(item) for item in items]


def _names_out(transformer: Any, selected: list[str] | None = None) -> list[str] | None:
    try:
        names = (
            transformer.get_feature_names_out(selected)
            if selected is not None
            else transformer.get_feature_names_out()
        )
    except Exception:  # many transformers cannot name their outputs; that is fine here
        return None
    return [str(name) for name in names]


def preprocessor_input_columns(
    transformer: Any, columns: Sequence[str], width: int
) -> tuple[str, ...]:
    """Each transformed feature's table column, as far as the transformer tells.

    A ColumnTransformer says which columns each of its transformers read and where their
    outputs land; otherwise output feature names are matched to columns by prefix. An output
    that cannot be traced keeps its own name (or ``output <i>``).
    """
    mapped: list[str | None] = [None] * width
    indices = getattr(transformer, "output_indices_", None)
    if indices is not None and hasattr(transformer, "transformers_"):
        for name, step, selection in transformer.transformers_:
            where = indices.get(name)
            selected = _selected_columns(selection, columns)
            if where is None or not selected or where.stop <= where.start:
                continue
            count = where.stop - where.start
            if len(selected) == 1:
                traced: list[str | None] = [selected[0]] * count
            elif count == len(selected) and (step == "passthrough" or _is_one_to_one(step)):
                traced = list(selected)
            else:
                names = _names_out(step, selected) if step != "passthrough" else None
                traced = [_column_named(n, selected) for n in names or [""] * count]
            if len(traced) == count:
                mapped[where.start : where.stop] = traced
    names = _names_out(transformer) or []
    if len(names) != width:
        names = [f"output {index}" for index in range(width)]
    for index, column in enumerate(mapped):
        if column is None:
            mapped[index] = _column_named(names[index], columns) or names[index]
    return tuple(str(column) for column in mapped)


def _is_one_to_one(step: Any) -> bool:
    """A transformer whose output features are its input features, one each, in order."""
    names_in = getattr(step, "feature_names_in_", None)
    names_out = _names_out(step)
    return (
        names_in is not None
        and names_out is not None
        and [str(name) for name in names_in] == names_out
    )
