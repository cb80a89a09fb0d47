"""A dataset to stream: one data file, or the partition files of a directory or a glob."""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path

from audit.core.errors import DataError

DATA_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".txt", ".parquet", ".pq")
_GLOB_CHARACTERS = frozenset("*?[")


@dataclass(frozen=True)
class Part:
    """One partition: a file, its place in the dataset, and (once counted) its rows."""

    index: int
    path: Path
    first_row: int = 0  # position of its first row in the dataset
    rows: int | None = None


def is_partitioned(data: Path) -> bool:
    """A directory or a glob pattern: a dataset of several files."""
    return data.is_dir() or bool(_GLOB_CHARACTERS & set(str(data)))


def _is_data_file(path: Path) -> bool:
    return path.is_file() and not path.name.startswith((".", "_"))


def partition_files(data: Path) -> tuple[Path, ...]:
    """The dataset's files in name order; the order fixes row positions, hence the sample."""
    if not is_partitioned(data):
        return (data,)
    if data.is_dir():
        # Hidden files and markers such as _SUCCESS, written by Spark and Dask, are skipped.
        found = sorted(
            path
            for path in data.rglob("*")
            if _is_data_file(path) and path.name.lower().endswith(DATA_SUFFIXES)
        )
        where = f"directory {data}"
    else:
        found = sorted(Path(match) for match in glob.glob(str(data), recursive=True))
        found = [path for path in found if _is_data_file(path)]
        where = f"pattern {str(data)!r}"
    if not found:
        raise DataError(f"{where} holds no data files ({', '.join(DATA_SUFFIXES)}); check the path")
    unknown = [path for path in found if not path.name.lower().endswith(DATA_SUFFIXES)]
    if unknown:
        raise DataError(
            f"{unknown[0]}: matched {where} but is not a data file; use .csv, .csv.gz or "
            ".parquet files, or narrow the pattern"
        )
    return tuple(found)
