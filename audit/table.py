"""Reading the audited table and preparing its target and sensitive columns."""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd

from audit.errors import DataError

MISSING_GROUP = "missing"
# Pairs of label spellings where the positive class is unambiguous (lower-cased).
_POSITIVE_SPELLINGS = {
    frozenset({"0", "1"}): "1",
    frozenset({"-1", "1"}): "1",
    frozenset({"false", "true"}): "true",
    frozenset({"no", "yes"}): "yes",
    frozenset({"n", "y"}): "y",
    frozenset({"negative", "positive"}): "positive",
    frozenset({"neg", "pos"}): "pos",
}


def read_table(
    path: Path,
    encoding: str = "utf-8",
    columns: list[str] | None = None,
    nrows: int | None = None,
) -> pd.DataFrame:
    """CSV, gzip-compressed CSV or Parquet, with every failure turned into a DataError.

    ``columns`` reads only those (they must exist); ``nrows`` only the first rows of a CSV.
    """
    name = path.name.lower()
    if not path.exists():
        raise DataError(f"{path}: data file not found; check the path")
    if path.is_dir():
        raise DataError(
            f"{path}: is a directory, not a data file; name a .csv, .csv.gz or .parquet"
        )
    try:
        if name.endswith((".parquet", ".pq")):
            frame = pd.read_parquet(path, columns=columns)
        elif name.endswith((".csv", ".csv.gz", ".txt", ".tsv")):
            frame = _read_csv(path, encoding, columns, nrows)
        else:
            raise DataError(
                f"{path}: unknown data format {path.suffix!r}; use .csv, .csv.gz or .parquet"
            )
    except PermissionError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror}); check its permissions") from exc
    except (OSError, ValueError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"{path}: cannot be read as {_kind(name)} ({exc}); check the file") from exc
    if frame.shape[1] == 0:
        raise DataError(f"{path}: has no columns; it must start with a header row")
    if len(frame) == 0 and nrows != 0:
        raise DataError(f"{path}: has a header but no rows; nothing to audit")
    return frame


def _kind(name: str) -> str:
    return "Parquet" if name.endswith((".parquet", ".pq")) else "CSV"


def _read_csv(
    path: Path, encoding: str, columns: list[str] | None = None, nrows: int | None = None
) -> pd.DataFrame:
    separator = "\t" if path.name.lower().endswith(".tsv") else ","
    try:
        return pd.read_csv(
            path,
            sep=separator,
            encoding=encoding,
            compression="infer",
            usecols=columns,
            nrows=nrows,
        )
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{path}: file is empty; it needs a header row and data rows") from exc
    except pd.errors.ParserError as exc:
        raise malformed_csv(path, exc) from exc
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path}: not valid {encoding} (byte 0x{exc.object[exc.start]:02x} at offset "
            f"{exc.start}); re-save it as UTF-8 or pass --encoding, e.g. --encoding latin-1"
        ) from exc
    except csv.Error as exc:
        raise DataError(f"{path}: malformed CSV ({exc}); fix the file") from exc


def malformed_csv(path: Path, exc: pd.errors.ParserError) -> DataError:
    detail = str(exc).strip().split("\n")[-1].removeprefix("Error tokenizing data. C error: ")
    return DataError(
        f"{path}: malformed CSV ({detail}); fix that line, or quote values that contain "
        "the separator"
    )


def require_columns(frame: pd.DataFrame, columns: list[str], role: str, source: Path) -> None:
    for column in columns:
        if column not in frame.columns:
            available = ", ".join(map(str, frame.columns))
            raise DataError(
                f"{source}: no column {column!r} for {role}; available columns: {available}"
            )


@dataclass(frozen=True)
class Target:
    y: np.ndarray  # int8, 1 for the positive class
    positive_label: str
    labels: tuple[str, ...]


def label_strings(values: pd.Series) -> pd.Series:
    """Labels as strings, with 1.0 written 1 so that numeric labels compare as typed."""
    if pd.api.types.is_bool_dtype(values):
        return values.map({True: "true", False: "false"})
    if pd.api.types.is_float_dtype(values) and np.all(np.mod(values.dropna(), 1) == 0):
        return values.map(lambda v: str(int(v)) if pd.notna(v) else v)
    return values.astype("string").str.strip().astype(object)


def prepare_target(
    frame: pd.DataFrame, column: str, positive_label: str | None, source: Path
) -> Target:
    require_columns(frame, [column], "--target", source)
    raw = frame[column]
    missing = raw.isna().to_numpy()
    if missing.any():
        row = int(np.flatnonzero(missing)[0]) + 1
        raise DataError(
            f"{source}: target column {column!r} has {int(missing.sum())} missing values "
            f"(first in data row {row}); drop or fill those rows"
        )
    labels = label_strings(raw)
    distinct = sorted(labels.unique().tolist())
    if len(distinct) < 2:
        raise DataError(
            f"{source}: target column {column!r} has one class only ({distinct[0]!r}); "
            "fairness metrics need both classes, audit a sample that has both"
        )
    if positive_label is None:
        positive_label = _infer_positive(distinct, column, source)
    elif positive_label not in distinct:
        raise DataError(
            f"{source}: --positive-label {positive_label!r} is not a value of target column "
            f"{column!r}; its values are {', '.join(map(repr, distinct[:20]))}"
        )
    y = (labels == positive_label).to_numpy(dtype=np.int8)
    return Target(y=y, positive_label=positive_label, labels=tuple(distinct))


def _infer_positive(distinct: list[str], column: str, source: Path) -> str:
    if len(distinct) > 2:
        shown = ", ".join(map(repr, distinct[:20]))
        raise DataError(
            f"{source}: target column {column!r} has {len(distinct)} classes ({shown}); "
            "pass --positive-label to audit one class against the rest"
        )
    by_spelling = {value.lower(): value for value in distinct}
    positive = _POSITIVE_SPELLINGS.get(frozenset(by_spelling))
    if positive is None:
        raise DataError(
            f"{source}: cannot tell which value of target column {column!r} is positive "
            f"({distinct[0]!r} or {distinct[1]!r}); pass --positive-label"
        )
    return by_spelling[positive]


@dataclass(frozen=True)
class SensitiveColumn:
    name: str
    codes: np.ndarray  # int, index into groups
    groups: tuple[str, ...]
    binning: str | None  # how a numeric column was banded, for the report


def parse_bins(specs: list[str]) -> dict[str, list[float]]:
    """``age=18,25,45,65`` into {"age": [18, 25, 45, 65]}."""
    bins: dict[str, list[float]] = {}
    for spec in specs:
        column, sep, edges_text = spec.partition("=")
        try:
            if not sep or not column:
                raise ValueError
            edges = [float(edge) for edge in edges_text.split(",")]
        except ValueError:
            raise DataError(
                f"--bins {spec!r}: expected COLUMN=EDGE,EDGE,... such as age=18,25,45,65"
            ) from None
        if edges != sorted(set(edges)):
            raise DataError(f"--bins {spec!r}: edges must be distinct and increasing")
        bins[column] = edges
    return bins


def prepare_sensitive(
    frame: pd.DataFrame,
    columns: list[str],
    bins: dict[str, list[float]],
    max_categories: int,
    quantile_bands: int,
    source: Path,
    max_groups: int = 100,
) -> list[SensitiveColumn]:
    require_columns(frame, columns, "--sensitive", source)
    unknown_bins = sorted(set(bins) - set(columns))
    if unknown_bins:
        raise DataError(
            f"--bins names {unknown_bins[0]!r}, which is not a --sensitive column; "
            f"sensitive columns: {', '.join(columns)}"
        )
    prepared = []
    for column in columns:
        raw = frame[column]
        numeric = pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw)
        if column in bins:
            values = pd.to_numeric(raw, errors="coerce")
            bad = values.isna() & raw.notna()
            if bad.any():
                row = int(np.flatnonzero(bad.to_numpy())[0]) + 1
                raise DataError(
                    f"{source}: --bins needs numbers, but column {column!r} holds "
                    f"{str(raw.iloc[row - 1])[:40]!r} in data row {row}; drop --bins for it"
                )
            banded, binning = _band(values, bins[column])
        elif numeric and raw.nunique() > max_categories:
            banded, binning = _quantile_band(raw, quantile_bands)
        else:
            banded, binning = label_strings(raw), None
            distinct = int(banded.nunique())
            if distinct > max_groups:
                # Group names are printed in every report: an identifier (a name, an e-mail,
                # an ID number) used as a sensitive column would put personal data there.
                raise DataError(
                    f"{source}: sensitive column {column!r} has {distinct} distinct values, "
                    f"more than max_groups ({max_groups}); a sensitive attribute has a few "
                    "groups. If it is an identifier, do not audit by it (its values would "
                    "appear in the reports); if it is numeric, band it with --bins"
                )
        categories = sorted(banded.dropna().unique().tolist(), key=_group_order(banded))
        filled = banded.astype(object).where(banded.notna(), MISSING_GROUP)
        if filled.eq(MISSING_GROUP).any() and MISSING_GROUP not in categories:
            categories.append(MISSING_GROUP)
        codes = pd.Categorical(filled, categories=categories).codes.astype(np.int64)
        prepared.append(
            SensitiveColumn(name=column, codes=codes, groups=tuple(categories), binning=binning)
        )
    return prepared


def _group_order(banded: pd.Series) -> Callable[[str], tuple[int, str]]:
    # Bands keep their numeric order; other groups sort as text.
    if isinstance(banded.dtype, pd.CategoricalDtype):
        order = {str(category): index for index, category in enumerate(banded.cat.categories)}
        return lambda label: (order.get(label, len(order)), label)
    return lambda label: (0, label)


def _format_edge(edge: float) -> str:
    return str(int(edge)) if float(edge).is_integer() else f"{edge:g}"


def _band(values: pd.Series, edges: list[float]) -> tuple[pd.Series, str]:
    full = [-np.inf, *edges, np.inf]
    labels = []
    for low, high in pairwise(full):
        if low == -np.inf:
            labels.append(f"<{_format_edge(high)}")
        elif high == np.inf:
            labels.append(f">={_format_edge(low)}")
        else:
            labels.append(f"{_format_edge(low)}-{_format_edge(high)}")
    banded = pd.cut(values, bins=full, right=False, labels=labels)
    return banded.astype(pd.CategoricalDtype(labels, ordered=True)), (
        "bands at " + ", ".join(map(_format_edge, edges))
    )


def _quantile_band(values: pd.Series, bands: int) -> tuple[pd.Series, str]:
    quantiles = np.nanquantile(values.to_numpy(dtype=float), np.linspace(0, 1, bands + 1)[1:-1])
    edges = sorted({float(q) for q in quantiles})
    banded, _ = _band(values.astype(float), edges)
    return banded, f"{bands} quantile bands at " + ", ".join(map(_format_edge, edges))
