"""Mergeable counts behind the data-fit figures: rows per bin per group, chunk by chunk.

The bins of each column are fixed before the audited data is read: cut at the training data's
quantiles (numeric) or its categories, else from the model's embedded metadata. Counting a
chunk gives integer counts per group, and counts of two chunks add up, so a streamed audit
(audit/stream/) gets exactly the numbers of reading the file whole. Every count array of a
column has the column's value bins, then two more: missing (or not a number) and outside
(outside the training range, an unseen category).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from audit.data.table import ColumnCodes
from audit.datafit.settings import DataFitSettings
from audit.models.features import CategoricalInput, FeatureMetadata

MISSING, OUTSIDE = -2, -1  # the two extra bins, from the end of a column's counts


@dataclass(frozen=True)
class ColumnBins:
    """How one column's values are binned, and what counts as outside."""

    name: str
    kind: Literal["numeric", "categorical"]
    edges: tuple[float, ...] = ()  # numeric: interior edges; len(edges) + 1 value bins
    low: float | None = None  # numeric: below low or above high is outside
    high: float | None = None
    categories: tuple[str, ...] = ()  # categorical: one value bin each, then one for unseen

    @property
    def value_bins(self) -> int:
        return len(self.edges) + 1 if self.kind == "numeric" else len(self.categories) + 1

    def labels(self) -> tuple[str, ...]:
        """Each value bin in words, for the report."""
        if self.kind == "categorical":
            return (*self.categories, "unseen")
        bounds = ["-inf", *(f"{edge:g}" for edge in self.edges), "inf"]
        return tuple(f"[{low}, {high})" for low, high in itertools.pairwise(bounds))

    def bin_rows(self, codes: ColumnCodes) -> tuple[np.ndarray, np.ndarray]:
        """Each row's bin (0 .. value_bins - 1, or ``value_bins`` for a missing value; a
        column absent from the chunk is missing in every row), and whether the row lies
        outside the training range (numeric) or is of an unseen category."""
        width = self.value_bins
        rows = len(codes.frame)
        if self.name not in codes.frame.columns:
            return np.full(rows, width, dtype=np.int64), np.zeros(rows, dtype=bool)
        if self.kind == "numeric":
            # Read as numbers once, for the bins and the range alike.
            numbers = self._numbers(codes)
            found = np.searchsorted(np.asarray(self.edges, dtype=float), numbers, side="right")
            low = -np.inf if self.low is None else self.low
            high = np.inf if self.high is None else self.high
            with np.errstate(invalid="ignore"):
                outside = (numbers < low) | (numbers > high)
            return np.where(np.isnan(numbers), width, found).astype(np.int64), outside
        # Only the distinct values are converted to text and looked up: converting a million
        # rows of text costs more than counting them. A missing value has code -1, which picks
        # the lookup's last entry.
        value_codes, distinct = codes.as_read(self.name)
        found = pd.Index(self.categories).get_indexer(pd.Index(pd.Series(distinct).astype(str)))
        unseen_last = np.where(found < 0, width - 1, found)  # unseen: the last value bin
        binned = np.append(unseen_last, width).astype(np.int64)[value_codes]
        return binned, binned == width - 1

    def _numbers(self, codes: ColumnCodes) -> np.ndarray:
        return pd.to_numeric(codes.frame[self.name], errors="coerce").to_numpy(dtype=float)


@dataclass(frozen=True)
class FitBins:
    """The bins of every column measured, where they came from, and the confident scores."""

    columns: tuple[ColumnBins, ...]
    source: Literal["training data", "model metadata", "none"]
    skipped: tuple[str, ...]  # one line per column not measured, with the reason
    confident_high: float
    confident_low: float


def training_bins(
    frame: pd.DataFrame, excluded: frozenset[str], settings: DataFitSettings
) -> FitBins:
    """Bins from the training rows: numeric columns at their quantiles, others by category."""
    columns, skipped = [], []
    quantiles = np.linspace(0, 1, settings.numeric_bins + 1)[1:-1]
    for name in frame.columns:
        if str(name) in excluded:
            continue
        series = frame[name]
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            numbers = series.dropna().to_numpy(dtype=float)
            if len(numbers) == 0:
                skipped.append(f"{name!r}: no values in the training data")
                continue
            edges = np.unique(np.quantile(numbers, quantiles))
            columns.append(
                ColumnBins(
                    str(name),
                    "numeric",
                    edges=tuple(float(edge) for edge in edges),
                    low=float(numbers.min()),
                    high=float(numbers.max()),
                )
            )
            continue
        categories = pd.unique(series.dropna().astype(str))
        if len(categories) > settings.max_categories:
            skipped.append(
                f"{name!r}: {len(categories)} distinct training values, more than "
                f"data_fit.max_categories = {settings.max_categories}"
            )
            continue
        columns.append(ColumnBins(str(name), "categorical", categories=tuple(sorted(categories))))
    return FitBins(
        tuple(columns),
        "training data",
        tuple(skipped),
        settings.confident_high,
        settings.confident_low,
    )


def metadata_bins(
    metadata: FeatureMetadata | None, excluded: frozenset[str], settings: DataFitSettings
) -> FitBins:
    """Without training data: the category lists and standardisation the model embeds. A
    numeric input is out of range ``metadata_scales`` scales from its training mean."""
    columns = []
    for feature in metadata.features if metadata is not None else ():
        if feature.column in excluded:
            continue
        if isinstance(feature, CategoricalInput):
            columns.append(
                ColumnBins(feature.column, "categorical", categories=tuple(feature.categories))
            )
        else:
            reach = settings.metadata_scales * abs(feature.scale)
            columns.append(
                ColumnBins(
                    feature.column,
                    "numeric",
                    low=feature.mean - reach,
                    high=feature.mean + reach,
                )
            )
    return FitBins(
        tuple(columns),
        "model metadata" if columns else "none",
        (),
        settings.confident_high,
        settings.confident_low,
    )


@dataclass(frozen=True)
class GroupCodes:
    """One way of grouping the rows: every row in one group, or a sensitive column's groups."""

    name: str | None  # None: all rows
    groups: tuple[str, ...]
    codes: np.ndarray  # int per row, index into groups (negative: in none of them)


@dataclass(frozen=True)
class Grouping:
    name: str | None  # None: all rows
    groups: tuple[str, ...]
    # column -> int64 [groups, value bins + 2]: the value bins, then missing and outside
    columns: dict[str, np.ndarray]
    # int64 [groups, 3]: rows with a label and a score, negative labels scored at least
    # confident_high, positive labels scored at most confident_low
    labels: np.ndarray

    def merge(self, later: Grouping) -> Grouping:
        return Grouping(
            self.name,
            self.groups,
            {name: counts + later.columns[name] for name, counts in self.columns.items()},
            self.labels + later.labels,
        )

    @property
    def rows(self) -> np.ndarray:
        """Rows per group."""
        return self.labels[:, 0]


@dataclass(frozen=True)
class FitCounts:
    bins: FitBins
    groupings: tuple[Grouping, ...]  # all rows first, then each sensitive column
    scored: bool  # scores were counted (False: decisions only)

    def merge(self, later: FitCounts) -> FitCounts:
        return FitCounts(
            self.bins,
            tuple(a.merge(b) for a, b in zip(self.groupings, later.groupings, strict=True)),
            self.scored,
        )


def _joint_cells(groupings: Sequence[GroupCodes], rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's cell, its combination of groups one per grouping (a row in none of a
    grouping's groups has the extra group ``len(groups)``), and each cell's group in each
    grouping: int [rows] and int [cells, groupings]."""
    cell_of_row = np.zeros(rows, dtype=np.int64)
    group_of_cell = np.zeros((1, 0), dtype=np.int64)
    for grouping in groupings:
        n_groups, codes = len(grouping.groups), np.asarray(grouping.codes, dtype=np.int64)
        width, n_cells = n_groups + 1, len(group_of_cell)
        cell_of_row = cell_of_row * width + np.where(codes >= 0, codes, n_groups)
        group_of_cell = np.column_stack(
            [np.repeat(group_of_cell, width, axis=0), np.tile(np.arange(width), n_cells)]
        )
        if len(group_of_cell) > rows:
            # More combinations than rows (many sensitive columns): keep those that occur,
            # which also keeps the cell numbers far from overflowing.
            cell_of_row, occurring = pd.factorize(cell_of_row)
            group_of_cell = group_of_cell[occurring]
    return cell_of_row, group_of_cell


def count_rows(
    bins: FitBins,
    frame: pd.DataFrame,
    groupings: Sequence[GroupCodes],
    labels: np.ndarray | None,
    scores: np.ndarray | None,
    codes: ColumnCodes | None = None,
) -> FitCounts:
    """The counts of one chunk of rows. ``labels`` (1 positive, 0 negative) and ``scores``
    (the positive score) are None where the rows carry none (training rows); ``codes`` are
    the frame's shared column codes, if it has them.

    Every row is counted once, in its cell of all groupings at once; a group's counts are
    the sum of its cells' (one bincount per column, not one per column and grouping).
    """
    rows = len(frame)
    shared = ColumnCodes.of(frame, codes)
    every = GroupCodes(None, ("all",), np.zeros(rows, dtype=np.int64))
    cell_of_row, group_of_cell = _joint_cells((every, *groupings), rows)
    n_cells = len(group_of_cell)
    # Each count table [cells, bins], then per grouping [groups, bins] by summing cells.
    per_cell: dict[str, np.ndarray] = {}
    for column in bins.columns:
        binned, outside = column.bin_rows(shared)
        # A row's value bin (missing included) and whether it is outside, as one bin.
        binned_outside = binned * 2 + outside
        both = _per_cell(cell_of_row, n_cells, binned_outside, 2 * (column.value_bins + 1))
        both = both.reshape(n_cells, column.value_bins + 1, 2)
        table = np.zeros((n_cells, column.value_bins + 2), dtype=np.int64)
        table[:, : column.value_bins + 1] = both.sum(axis=2)
        table[:, OUTSIDE] = both[:, :, 1].sum(axis=1)
        per_cell[column.name] = table
    # The three counts of a row as one bin, bit k for count k: every row (1), a negative label
    # scored at least confident_high (2), a positive label scored at most confident_low (4).
    flags = np.ones(rows, dtype=np.int64)
    if scores is not None and labels is not None:
        flags += 2 * ((labels == 0) & (scores >= bins.confident_high))
        flags += 4 * ((labels == 1) & (scores <= bins.confident_low))
    by_flags = _per_cell(cell_of_row, n_cells, flags, 8)
    label_counts = np.stack(
        [by_flags[:, [bits for bits in range(8) if bits >> k & 1]].sum(axis=1) for k in range(3)],
        axis=1,
    )
    made = []
    for index, grouping in enumerate((every, *groupings)):
        n_groups = len(grouping.groups)
        # [groups, cells]: which cells make up each group (the extra group is dropped).
        members = (group_of_cell[:, index] == np.arange(n_groups)[:, None]).astype(np.int64)
        made.append(
            Grouping(
                grouping.name,
                grouping.groups,
                {name: members @ table for name, table in per_cell.items()},
                members @ label_counts,
            )
        )
    return FitCounts(bins, tuple(made), scores is not None and labels is not None)


def _per_cell(cell_of_row: np.ndarray, n_cells: int, bins: np.ndarray, width: int) -> np.ndarray:
    """int64 [n_cells, width]: rows of each cell in each bin 0 .. width - 1, in one pass."""
    return np.bincount(cell_of_row * width + bins, minlength=n_cells * width).reshape(
        n_cells, width
    )
