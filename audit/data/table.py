"""Reading the audited table and preparing its target and sensitive columns."""

from __future__ import annotations

import csv
import gzip
import io
import threading
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from audit.core.errors import DataError
from audit.data.csv_stream import bounded_csv

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
    sep: str | None = None,
) -> pd.DataFrame:
    """CSV, gzip-compressed CSV or Parquet, with every failure turned into a DataError.

    ``columns`` reads only those (they must exist); ``nrows`` only the first rows of a CSV;
    ``sep`` is the CSV's separator, None to detect it (``csv_separator``).
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
            frame = _read_csv(path, encoding, columns, nrows, sep)
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


# Separators a CSV is checked for when --sep is not given, the first preferred on a tie.
SEPARATORS = (",", ";", "\t", "|")
SNIFF_BYTES = 1 << 16
SNIFF_LINES = 50


def csv_separator(path: Path, encoding: str, sep: str | None = None) -> str:
    """``sep`` when given; tab for .tsv; otherwise the separator that splits the first lines
    of the file into the most fields, the same number on every line (comma when none does).

    The standard library's ``csv.Sniffer`` guesses from character frequencies and picks a
    separator that appears inside values (a ";" in free text) over the header's; counting
    fields that ``csv.reader`` parses, line by line, is predictable and honours quotes.
    """
    if sep is not None:
        return sep
    if path.name.lower().endswith(".tsv"):
        return "\t"
    try:
        opener = gzip.open if path.name.lower().endswith(".gz") else open
        with opener(path, "rb") as handle:
            head = handle.read(SNIFF_BYTES)
    except (OSError, EOFError):
        return ","  # the read that follows reports the file's problem
    text = head.decode(encoding, errors="replace")
    if len(head) == SNIFF_BYTES and "\n" in text:
        text = text[: text.rindex("\n")]  # a cut last line would count fewer fields
    best, best_fields = ",", 1
    for candidate in SEPARATORS:
        rows = [row for row in csv.reader(io.StringIO(text), delimiter=candidate) if row]
        widths = {len(row) for row in rows[:SNIFF_LINES]}
        if len(widths) == 1 and (fields := widths.pop()) > best_fields:
            best, best_fields = candidate, fields
    return best


def separator_hint(header: Sequence[object]) -> str:
    """For an error about a missing column: a header of one column that holds another
    separator was split with the wrong one."""
    if len(header) != 1:
        return ""
    name = str(header[0])
    for candidate in SEPARATORS:
        if candidate in name:
            shown = "tab" if candidate == "\t" else candidate
            return f" (the header looks {shown!r}-separated: pass --sep {shown!r})"
    return ""


def _read_csv(
    path: Path,
    encoding: str,
    columns: list[str] | None = None,
    nrows: int | None = None,
    sep: str | None = None,
) -> pd.DataFrame:
    separator = csv_separator(path, encoding, sep)
    try:
        # nrows rows after the header line: the bound needs to see no further.
        lines = None if nrows is None else nrows + 1
        with bounded_csv(path, whole=True, lines=lines) as source:
            return pd.read_csv(
                source,
                sep=separator,
                encoding=encoding,
                compression=None,
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
            raise missing_column(source, column, role, list(frame.columns))


def missing_column(source: Path, column: str, role: str, header: Sequence[object]) -> DataError:
    available = ", ".join(map(str, header))
    return DataError(
        f"{source}: no column {column!r} for {role}{separator_hint(header)}; available "
        f"columns: {available}"
    )


@dataclass(frozen=True)
class TableRows:
    """Another table the audit scores the same way as the audited one (members, holdout)."""

    frame: pd.DataFrame
    source: Path


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


@dataclass(frozen=True)
class ColumnSummary:
    """A column's distinct values with their counts: all that fitting its encoding needs.

    Summaries of a file's chunks merge into the summary of the whole column, so a streamed
    audit prepares the column without holding its rows.
    """

    column: str
    values: pd.Index  # distinct non-missing raw values, in order of first occurrence
    counts: np.ndarray  # int64, rows holding each value
    first_rows: np.ndarray  # int64, file row (0-based) where each value first occurs
    missing: int  # rows without a value (NaN, None)
    missing_first_row: int | None  # file row (0-based) of the first; None when there is none

    @property
    def numeric(self) -> bool:
        """Whether the column parsed as numbers, not booleans, in every chunk."""
        return _value_kind(self.values.dtype) == "numeric"


def summarize(
    frame: pd.DataFrame,
    columns: Sequence[str],
    first_row: int,
    codes: ColumnCodes | None = None,
) -> dict[str, ColumnSummary]:
    """Summaries of ``columns`` of a chunk whose first row is the file's row ``first_row``;
    ``codes``, the frame's shared column codes, saves factorizing a column again."""
    return {
        column: _summarize_column(column, _as_read(frame, column, codes), first_row)
        for column in columns
    }


def _as_read(
    frame: pd.DataFrame, column: str, codes: ColumnCodes | None
) -> tuple[np.ndarray, pd.Index]:
    """``factorize_as_read`` of a column, from the frame's shared codes when given."""
    return factorize_as_read(frame[column]) if codes is None else codes.as_read(column)


def _summarize_column(
    column: str, factorized: tuple[np.ndarray, pd.Index], first_row: int
) -> ColumnSummary:
    codes, uniques = factorized
    # One pass counts the missing rows (code -1) and each value's rows.
    per_code = np.bincount(codes + 1, minlength=len(uniques) + 1)
    missing = int(per_code[0])
    return ColumnSummary(
        column=column,
        values=uniques,
        counts=per_code[1:].astype(np.int64),
        first_rows=_first_occurrences(codes) + first_row,
        missing=missing,
        missing_first_row=first_row + int(np.argmax(codes < 0)) if missing else None,
    )


class ColumnCodes:
    """pandas' factorization of each column of one frame, made once, on first use.

    The model's encoder, the associations and the encoded-copy search code the same columns of
    the audited frame; on 1,000,000 rows of text one factorization costs more than the rest of
    a consumer's work. Safe to share between threads (the stage lanes, the associations').
    """

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self._lock = threading.Lock()
        self._codes: dict[str, tuple[np.ndarray, pd.Index]] = {}

    @classmethod
    def of(cls, frame: pd.DataFrame, given: ColumnCodes | None) -> ColumnCodes:
        """``given``, the codes shared for ``frame``, or codes of its own for a frame without."""
        if given is None:
            return cls(frame)
        if given.frame is not frame:
            raise ValueError("the column codes given are of another frame")
        return given

    def prefetch(self, columns: Iterable[str], threads: int) -> None:
        """Factorize ``columns`` now, on up to ``threads`` threads at once, for the consumers
        that will read them one after another (the target, the groups, the model's encoder):
        pandas' Arrow-backed factorization releases the GIL (1M rows of Adult's nine text
        columns: 0.14 s on one thread, 0.10 s on two). Only the columns whose codes are
        always shared (``as_read``) and that the frame holds."""
        wanted = [
            column
            for column in dict.fromkeys(columns)
            if column in self.frame.columns and _reads_as_it_codes(self.frame[column].dtype)
        ]
        if threads > 1 and len(wanted) > 1:
            with ThreadPoolExecutor(min(threads, len(wanted))) as pool:
                list(pool.map(self.factorized, wanted))

    def factorized(self, column: str) -> tuple[np.ndarray, pd.Index]:
        """``pd.factorize(frame[column])``: codes in order of first occurrence, -1 for a
        missing value, and the distinct values."""
        with self._lock:
            found = self._codes.get(column)
        if found is not None:
            return found
        # Made outside the lock, so that threads coding different columns run at once (pandas
        # releases the GIL); two threads asking for the same column at once make the same codes.
        codes, distinct = pd.factorize(self.frame[column], use_na_sentinel=True)
        # Held for the whole audit, so in the smallest integer type that also holds the code
        # ``with_missing`` adds: 1M rows of a few dozen values take 1 MB, not 8.
        kind = np.min_scalar_type(-(len(distinct) + 1))
        with self._lock:
            return self._codes.setdefault(column, (codes.astype(kind), pd.Index(distinct)))

    def as_read(self, column: str) -> tuple[np.ndarray, pd.Index]:
        """``factorize_as_read(frame[column])``: the shared codes, unless the column holds
        values that pandas holds equal but that read differently (then codes of its own)."""
        values = self.frame[column]
        keys = _reading_keys(values)
        return self.factorized(column) if keys is None else _factorize_keys(values, keys)

    def with_missing(self, column: str) -> tuple[np.ndarray, int]:
        """The codes of ``pd.factorize(frame[column], use_na_sentinel=False)``, where a
        missing value is a value of its own, numbered where it first occurs, and how many
        distinct values that makes."""
        codes, distinct = self.factorized(column)
        missing = codes < 0
        if not missing.any():
            return codes, len(distinct)
        first = int(np.argmax(missing))
        # Codes follow first occurrence, so the values seen before the first missing one
        # are 0 .. its code - 1; the later ones move up by one.
        code = int(codes[:first].max()) + 1 if first else 0
        shifted = np.where(codes >= code, codes + 1, codes)
        shifted[missing] = code
        return shifted, len(distinct) + 1


def factorize_as_read(values: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Codes (-1 for a missing value) and the distinct values, in order of first occurrence.

    Values that pandas holds equal but that read differently stay apart, as their labels
    differ: 0.0 and -0.0, or 1, 1.0 and True in a column of mixed types.
    """
    keys = _reading_keys(values)
    if keys is None:
        codes, uniques = pd.factorize(values)
        return codes, pd.Index(uniques)
    return _factorize_keys(values, keys)


def _factorize_keys(values: pd.Series, keys: np.ndarray) -> tuple[np.ndarray, pd.Index]:
    """``factorize_as_read`` of a column whose equal values may read differently."""
    present = np.flatnonzero(values.notna().to_numpy())
    codes = np.full(len(values), -1, dtype=np.intp)
    codes[present] = pd.factorize(keys[present])[0]
    firsts = present[_first_occurrences(codes[present])]
    return codes, pd.Index(values.iloc[firsts].array)


# Object columns whose equal values read alike: text, or ints (1 and np.int64(1)), or booleans.
_NO_COLLISIONS = ("string", "empty", "integer", "boolean")


def _reads_as_it_codes(dtype: Any) -> bool:
    """Whether no two values of a column of ``dtype`` that pandas holds equal can read
    differently (only floats, 0.0 and -0.0, and mixed objects can)."""
    return not pd.api.types.is_object_dtype(dtype) and dtype.kind != "f"


def _reading_keys(values: pd.Series) -> np.ndarray | None:
    """Keys that tell apart values pandas holds equal; None where no two such values occur."""
    if _reads_as_it_codes(values.dtype):
        return None
    if values.dtype.kind == "f":
        numbers = values.to_numpy(dtype=float, na_value=np.nan)
        if (np.signbit(numbers) & (numbers == 0)).any():
            return numbers.view(np.int64)
    elif (
        values.dtype == object
        and pd.api.types.infer_dtype(values, skipna=True) not in _NO_COLLISIONS
    ):
        return np.array([f"{type(value).__qualname__}:{value}" for value in values], dtype=object)
    return None


def _first_occurrences(codes: np.ndarray) -> np.ndarray:
    """Where each code first occurs, for codes numbered in order of first occurrence."""
    # The running maximum steps up exactly where a new code appears (-1, missing, never does).
    running = np.maximum.accumulate(codes)
    return np.flatnonzero(np.diff(running, prepend=-1) > 0).astype(np.int64)


def merge_summaries(
    first: Mapping[str, ColumnSummary], second: Mapping[str, ColumnSummary]
) -> dict[str, ColumnSummary]:
    """Summaries of two chunks' rows together; merged in any order, chunks give the same."""
    if first.keys() != second.keys():
        raise ValueError(
            f"summaries of different columns: {sorted(first)} and {sorted(second)}; "
            "summarize every chunk with the same columns"
        )
    return {column: _merge_column(first[column], second[column]) for column in first}


def _merge_column(first: ColumnSummary, second: ColumnSummary) -> ColumnSummary:
    values = [first.values, second.values]
    if _value_kind(first.values.dtype) != _value_kind(second.values.dtype):
        # Parsed whole, a column with numbers (or booleans) in one chunk and text in another
        # is text: 25 and "25" are one value there.
        values = [_as_text(part) for part in values]
    first_rows = np.concatenate([first.first_rows, second.first_rows])
    counts = np.concatenate([first.counts, second.counts])
    # In first-row order, each distinct value is kept as written where it first occurs.
    order = np.argsort(first_rows, kind="stable")
    codes, uniques = factorize_as_read(pd.Series(values[0].append(values[1])[order]))
    merged_counts = np.zeros(len(uniques), dtype=np.int64)
    np.add.at(merged_counts, codes, counts[order])
    missing_rows = [
        row for row in (first.missing_first_row, second.missing_first_row) if row is not None
    ]
    return ColumnSummary(
        column=first.column,
        values=uniques,
        counts=merged_counts,
        first_rows=first_rows[order][_first_occurrences(codes)],
        missing=first.missing + second.missing,
        missing_first_row=min(missing_rows, default=None),
    )


def _value_kind(dtype: Any) -> Literal["numeric", "bool", "other"]:
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    return "numeric" if pd.api.types.is_numeric_dtype(dtype) else "other"


def _as_text(values: pd.Index) -> pd.Index:
    """Numbers and booleans as the text a whole-file read keeps (1.0 written 1, as labels)."""
    if _value_kind(values.dtype) == "other":
        return values
    # One value at a time, so that a value's text does not depend on the chunk it came in.
    return pd.Index([_value_text(value) for value in values.tolist()], dtype=object)


def _value_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass(frozen=True)
class ValueCodes:
    """The code of each distinct raw value an encoding was fitted on, to look chunks up."""

    values: pd.Index  # distinct non-missing raw values
    codes: np.ndarray  # code of each value
    missing_code: int  # code of a missing value; -1 where the fit saw none


def _look_up(
    table: ValueCodes, series: pd.Series, factorized: tuple[np.ndarray, pd.Index] | None = None
) -> np.ndarray:
    """The table's code of each row; ``factorized``, the series' ``factorize_as_read`` when
    already made."""
    codes, uniques = factorize_as_read(series) if factorized is None else factorized
    if _value_kind(table.values.dtype) == "other":
        uniques = _as_text(uniques)
    # Factorized after the table's distinct values, a chunk's value takes the code of its
    # equal there, or a code past them if the fit never saw it.
    known = len(table.values)
    positions = factorize_as_read(pd.Series(table.values.append(uniques)))[0][known:]
    unseen = positions >= known
    if unseen.any() or (table.missing_code < 0 and (codes < 0).any()):
        value = uniques[int(np.argmax(unseen))] if unseen.any() else None
        raise DataError(
            f"column {series.name!r} holds {str(value)[:40]!r}, a value its encoding was not "
            "fitted on; fit on the merged summaries of every chunk (did the file change?)"
        )
    # The last entry is for code -1, a missing value.
    by_unique = np.append(table.codes[positions], table.missing_code).astype(table.codes.dtype)
    return by_unique[codes]


@dataclass(frozen=True)
class TargetEncoding:
    positive_label: str
    labels: tuple[str, ...]
    codes: ValueCodes  # 1 for a raw value whose label is the positive label, else 0


def fit_target(
    summaries: Mapping[str, ColumnSummary],
    column: str,
    positive_label: str | None,
    source: Path,
) -> TargetEncoding:
    summary = summaries[column]
    if summary.missing_first_row is not None:
        raise DataError(
            f"{source}: target column {column!r} has {summary.missing} missing values "
            f"(first in data row {summary.missing_first_row + 1}); drop or fill those rows"
        )
    labels = label_strings(pd.Series(summary.values))
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
            f"{column!r}; its values are {', '.join(map(repr, distinct[:20]))} (--positive-label "
            "names the target's value; a model's own class for it goes in "
            "--model-positive-class)"
        )
    positive = (labels == positive_label).to_numpy(dtype=np.int8)
    return TargetEncoding(
        positive_label=positive_label,
        labels=tuple(distinct),
        codes=ValueCodes(summary.values, positive, missing_code=-1),
    )


def apply_target(
    encoding: TargetEncoding,
    series: pd.Series,
    factorized: tuple[np.ndarray, pd.Index] | None = None,
) -> np.ndarray:
    """y (int8, 1 for the positive class) of a chunk's target column."""
    return _look_up(encoding.codes, series, factorized)


def prepare_target(
    frame: pd.DataFrame,
    column: str,
    positive_label: str | None,
    source: Path,
    codes: ColumnCodes | None = None,
) -> Target:
    """The target of a whole frame; ``codes``, its shared column codes, when it has them."""
    require_columns(frame, [column], "--target", source)
    encoding = fit_target(summarize(frame, [column], 0, codes), column, positive_label, source)
    return Target(
        y=apply_target(encoding, frame[column], _as_read(frame, column, codes)),
        positive_label=encoding.positive_label,
        labels=encoding.labels,
    )


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


@dataclass(frozen=True)
class SensitiveEncoding:
    name: str
    groups: tuple[str, ...]
    binning: str | None  # how a numeric column was banded, for the report
    edges: tuple[float, ...] | None  # a banded column's edges: apply cuts its numbers there
    codes: ValueCodes  # group code of each band label (banded) or of each raw value


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


def fit_sensitive(
    summaries: Mapping[str, ColumnSummary],
    columns: Sequence[str],
    bins: Mapping[str, list[float]],
    max_categories: int,
    quantile_bands: int,
    source: Path,
    max_groups: int = 100,
) -> list[SensitiveEncoding]:
    unknown_bins = sorted(set(bins) - set(columns))
    if unknown_bins:
        raise DataError(
            f"--bins names {unknown_bins[0]!r}, which is not a --sensitive column; "
            f"sensitive columns: {', '.join(columns)}"
        )
    encodings = []
    for column in columns:
        summary = summaries[column]
        if column in bins:
            encodings.append(_fit_bins(summary, bins[column], source))
        elif summary.numeric and summary.values.nunique() > max_categories:
            numbers = summary.values.to_numpy(dtype=float)
            quantiles = counted_quantiles(
                numbers, summary.counts, np.linspace(0, 1, quantile_bands + 1)[1:-1]
            )
            edges = sorted({float(q) for q in quantiles})
            binning = f"{quantile_bands} quantile bands at " + ", ".join(map(_format_edge, edges))
            encodings.append(_fit_bands(summary, pd.Series(numbers), edges, binning))
        else:
            encodings.append(_fit_labels(summary, source, max_groups))
    return encodings


def apply_sensitive(
    encoding: SensitiveEncoding,
    series: pd.Series,
    factorized: tuple[np.ndarray, pd.Index] | None = None,
) -> np.ndarray:
    """Group codes (int64, index into ``encoding.groups``) of a chunk's sensitive column;
    ``factorized``, the column's ``factorize_as_read`` when already made."""
    if encoding.edges is None:
        return _look_up(encoding.codes, series, factorized)
    numbers = pd.to_numeric(series, errors="coerce")
    return _look_up(encoding.codes, _band(numbers, list(encoding.edges)))


def prepare_sensitive(
    frame: pd.DataFrame,
    columns: list[str],
    bins: dict[str, list[float]],
    max_categories: int,
    quantile_bands: int,
    source: Path,
    max_groups: int = 100,
    codes: ColumnCodes | None = None,
) -> list[SensitiveColumn]:
    """The sensitive columns of a whole frame; ``codes``, its shared column codes, when it
    has them."""
    require_columns(frame, columns, "--sensitive", source)
    encodings = fit_sensitive(
        summarize(frame, columns, 0, codes),
        columns,
        bins,
        max_categories,
        quantile_bands,
        source,
        max_groups,
    )
    return [
        SensitiveColumn(
            name=encoding.name,
            codes=apply_sensitive(
                encoding,
                frame[encoding.name],
                None if encoding.edges is not None else _as_read(frame, encoding.name, codes),
            ),
            groups=encoding.groups,
            binning=encoding.binning,
        )
        for encoding in encodings
    ]


def _fit_bins(summary: ColumnSummary, edges: list[float], source: Path) -> SensitiveEncoding:
    numbers = pd.to_numeric(pd.Series(summary.values), errors="coerce")
    bad = numbers.isna().to_numpy()
    if bad.any():
        first = int(np.argmin(np.where(bad, summary.first_rows, np.iinfo(np.int64).max)))
        raise DataError(
            f"{source}: --bins needs numbers, but column {summary.column!r} holds "
            f"{str(summary.values[first])[:40]!r} in data row {summary.first_rows[first] + 1}; "
            "drop --bins for it"
        )
    return _fit_bands(summary, numbers, edges, "bands at " + ", ".join(map(_format_edge, edges)))


def _fit_bands(
    summary: ColumnSummary, numbers: pd.Series, edges: list[float], binning: str
) -> SensitiveEncoding:
    """Groups of the bands that hold a value, in band order; "missing" last if any is."""
    band_of_value = _band(numbers, edges).cat.codes.to_numpy()
    labels = _band_labels(edges)
    groups = [labels[band] for band in np.unique(band_of_value[band_of_value >= 0])]
    # The bands that hold a value are looked up by label. A missing value, or one outside
    # every band (inf), is in the "missing" group.
    missing = bool(summary.missing) or bool((band_of_value < 0).any())
    codes = ValueCodes(
        pd.Index(groups, dtype=object),
        np.arange(len(groups), dtype=np.int64),
        missing_code=len(groups) if missing else -1,
    )
    if missing:
        groups.append(MISSING_GROUP)
    return SensitiveEncoding(
        name=summary.column,
        groups=tuple(groups),
        binning=binning,
        edges=tuple(edges),
        codes=codes,
    )


def _fit_labels(summary: ColumnSummary, source: Path, max_groups: int) -> SensitiveEncoding:
    labels = label_strings(pd.Series(summary.values))
    groups = sorted(labels.unique().tolist())
    if len(groups) > max_groups:
        # Group names are printed in every report: an identifier (a name, an e-mail,
        # an ID number) used as a sensitive column would put personal data there.
        raise DataError(
            f"{source}: sensitive column {summary.column!r} has {len(groups)} distinct values, "
            f"more than max_groups ({max_groups}); a sensitive attribute has a few "
            "groups. If it is an identifier, do not audit by it (its values would "
            "appear in the reports); if it is numeric, band it with --bins"
        )
    if summary.missing and MISSING_GROUP not in groups:
        groups.append(MISSING_GROUP)
    # A label "missing" and the missing values are one group.
    missing_code = groups.index(MISSING_GROUP) if MISSING_GROUP in groups else -1
    codes = pd.Index(groups, dtype=object).get_indexer(labels).astype(np.int64)
    return SensitiveEncoding(
        name=summary.column,
        groups=tuple(groups),
        binning=None,
        edges=None,
        codes=ValueCodes(summary.values, codes, missing_code),
    )


def counted_quantiles(values: np.ndarray, counts: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    """``np.nanquantile`` of the rows that hold ``values`` ``counts`` times, bit for bit.

    ``values`` are distinct floats without NaN; ``quantiles`` lie in [0, 1]. The steps and
    their floating-point operations are numpy's default ('linear') method: the virtual
    index (n - 1) * q, its neighbours (both the last row from n - 1 on) and numpy's lerp.
    """
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    rows_up_to = np.cumsum(counts[order])  # rows holding a value <= each sorted value
    n = int(rows_up_to[-1])
    virtual = (n - 1) * np.asarray(quantiles, dtype=float)
    previous = np.floor(virtual)
    following = previous + 1
    last = virtual >= n - 1
    previous[last] = -1
    following[last] = -1
    previous_row = previous.astype(np.intp)
    following_row = following.astype(np.intp)
    gamma = virtual - previous_row

    def value_at(rows: np.ndarray) -> np.ndarray:
        return sorted_values[np.searchsorted(rows_up_to, rows % n, side="right")]

    below, above = value_at(previous_row), value_at(following_row)
    difference = above - below
    result = np.add(below, difference * gamma)
    np.subtract(above, difference * (1 - gamma), out=result, where=gamma >= 0.5)
    return result


def _format_edge(edge: float) -> str:
    return str(int(edge)) if float(edge).is_integer() else f"{edge:g}"


def _band_labels(edges: list[float]) -> list[str]:
    labels = []
    for low, high in pairwise([-np.inf, *edges, np.inf]):
        if low == -np.inf:
            labels.append(f"<{_format_edge(high)}")
        elif high == np.inf:
            labels.append(f">={_format_edge(low)}")
        else:
            labels.append(f"{_format_edge(low)}-{_format_edge(high)}")
    return labels


def _band(numbers: pd.Series, edges: list[float]) -> pd.Series:
    """Each number's band [low, high) as a label; NaN for a missing one."""
    return pd.cut(numbers, bins=[-np.inf, *edges, np.inf], right=False, labels=_band_labels(edges))
