"""Reading a table in chunks, all its columns or only those the first pass needs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from audit.core.errors import DataError
from audit.data.csv_stream import bounded_csv
from audit.data.table import csv_separator, malformed_csv, missing_column, read_table


def _is_parquet(path: Path) -> bool:
    return path.name.lower().endswith((".parquet", ".pq"))


def table_columns(path: Path, encoding: str, sep: str | None = None) -> list[str]:
    """The header: the table's column names, read without its rows."""
    if _is_parquet(path):
        try:
            return list(pq.ParquetFile(path).schema_arrow.names)
        except (OSError, ValueError) as exc:
            raise DataError(f"{path}: cannot be read as Parquet ({exc}); check the file") from exc
    frame = read_table(path, encoding, nrows=0, sep=sep)
    return [str(column) for column in frame.columns]


def require_header(
    path: Path, roles: dict[str, str], encoding: str, sep: str | None = None
) -> list[str]:
    """The file's columns, after checking that each column in ``roles`` (-> its flag) is one."""
    header = table_columns(path, encoding, sep)
    for column, role in roles.items():
        if column not in header:
            raise missing_column(path, column, role, header)
    return header


def iter_chunks(
    path: Path,
    chunk_rows: int,
    encoding: str,
    columns: list[str] | None = None,
    sep: str | None = None,
) -> Iterator[pd.DataFrame]:
    """The table's rows in order, ``chunk_rows`` at a time (only ``columns``, if given);
    errors name the file's line."""
    if _is_parquet(path):
        # Parquet stores its types: every batch has the in-memory read's columns and types.
        for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows, columns=columns):
            yield batch.to_pandas()
        return
    # pandas' own CSV parser, so that each value parses as the in-memory read parses it
    # (pyarrow's reader fixes a column's type from its first block and rejects later ones).
    separator = csv_separator(path, encoding, sep)
    with (
        bounded_csv(path, whole=False) as source,
        pd.read_csv(
            source,
            sep=separator,
            encoding=encoding,
            compression=None,
            chunksize=chunk_rows,
            usecols=columns,
        ) as reader,
    ):
        while True:
            try:
                chunk = next(reader)
            except StopIteration:
                return
            except pd.errors.ParserError as exc:
                raise malformed_csv(path, exc) from exc
            except UnicodeDecodeError as exc:
                raise DataError(
                    f"{path}: not valid {encoding} ({exc.reason} at byte {exc.start} of a "
                    "chunk); re-save it as UTF-8 or pass --encoding, e.g. --encoding latin-1"
                ) from exc
            yield chunk
