"""Per-partition statistics of a streamed audit, and how two of them merge.

Two passes over the data, each a task run on every partition:

1. ``ColumnPass`` reads only the target and sensitive columns and keeps their distinct
   values with counts. Merged over partitions, these fix the labels, the groups and the
   bands exactly as reading the columns whole would.
2. ``ScorePass`` reads every column, runs the model, and keeps what adds up: confusion
   counts per combination of groups (cell), the scores for ROC AUC (every score while the
   dataset is small enough, else a score sketch), the cells' calibration statistics, and a
   bottom-k sample of whole rows.

A merge is associative and keeps partition order, so any engine that runs the tasks and
folds the results in order gets the same numbers as one process reading the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from audit.core.errors import DataError, RaiAuditError
from audit.data.slices import cell_keys, cell_space
from audit.data.table import (
    ColumnCodes,
    ColumnSummary,
    SensitiveEncoding,
    TargetEncoding,
    apply_sensitive,
    apply_target,
    merge_summaries,
    summarize,
)
from audit.datafit.histograms import FitBins, FitCounts, GroupCodes, count_rows
from audit.fairness.calibration import CalibrationTable, calibration_table
from audit.fairness.score_sketch import ScoreSketch
from audit.fairness.tables import cell_confusion
from audit.models.features import FeatureMatrix
from audit.models.inference import RowScorer
from audit.models.scoring import Predictions
from audit.stream.dataset import Part
from audit.stream.engine import Report
from audit.stream.reader import iter_chunks, require_header
from audit.stream.sample import Reservoir

DATA_ROW = re.compile(r"data row (\d+)")


def shift_rows(error: RaiAuditError, offset: int) -> RaiAuditError:
    """The same error with its "data row N" counted from the file's first row, not the chunk's."""
    message = DATA_ROW.sub(lambda match: f"data row {int(match.group(1)) + offset}", str(error))
    return type(error)(message)


@dataclass(frozen=True)
class ColumnStats:
    rows: int
    part_rows: tuple[int, ...]  # rows of each partition, in order
    columns: int  # the first partition's column count, for the report
    summaries: dict[str, ColumnSummary]

    def merge(self, later: ColumnStats) -> ColumnStats:
        """This partition's statistics followed by a later one's (rows counted on)."""
        shifted = {name: _shifted(s, self.rows) for name, s in later.summaries.items()}
        return ColumnStats(
            rows=self.rows + later.rows,
            part_rows=self.part_rows + later.part_rows,
            columns=self.columns,
            summaries=merge_summaries(self.summaries, shifted),
        )


def _shifted(summary: ColumnSummary, rows: int) -> ColumnSummary:
    """A later partition's summary with its rows counted after ``rows`` earlier ones."""
    missing = summary.missing_first_row
    return replace(
        summary,
        first_rows=summary.first_rows + rows,
        missing_first_row=missing + rows if missing is not None else None,
    )


@dataclass(frozen=True)
class ColumnPass:
    """First pass: the distinct values of the target and sensitive columns, with counts."""

    roles: dict[str, str]  # column -> the flag that names it: each must be in every file
    columns: tuple[str, ...]  # those whose values are summarized: target and sensitive
    chunk_rows: int
    encoding: str
    sep: str | None  # the CSV separator, None to detect it

    def __call__(self, part: Part, report: Report = None) -> ColumnStats:
        header = require_header(part.path, self.roles, self.encoding, self.sep)
        columns = list(self.columns)
        summaries: dict[str, ColumnSummary] | None = None
        rows = 0
        for chunk in iter_chunks(part.path, self.chunk_rows, self.encoding, columns, self.sep):
            chunk_summaries = summarize(chunk, columns, first_row=rows)
            summaries = (
                chunk_summaries
                if summaries is None
                else merge_summaries(summaries, chunk_summaries)
            )
            rows += len(chunk)
            if report is not None:
                report(len(chunk))
        if summaries is None:
            summaries = summarize(pd.DataFrame({name: [] for name in columns}), columns, 0)
        return ColumnStats(rows, (rows,), len(header), summaries)


@dataclass(frozen=True)
class RowsOfScores:
    """Every row's cell key, label and score, kept while the dataset is small enough."""

    keys: tuple[np.ndarray, ...]  # per chunk; int32 when the keys fit, 4 bytes a row
    labels: tuple[np.ndarray, ...]  # int8 per chunk
    scores: tuple[np.ndarray, ...]  # float64 per chunk

    def merge(self, later: RowsOfScores) -> RowsOfScores:
        return RowsOfScores(
            self.keys + later.keys, self.labels + later.labels, self.scores + later.scores
        )


@dataclass(frozen=True)
class PartitionStats:
    rows: int
    cell_counts: np.ndarray  # int64 [possible cells, 4]: confusion counts per cell key
    scores: RowsOfScores | ScoreSketch | None  # None: decisions only
    calibration: CalibrationTable | None  # per cell key, as ``cell_counts``; None: no scores
    sample: Reservoir
    unseen: dict[str, int]  # unseen categories per feature column, summed
    # The first chunk's predictions and features without rows: output kind, shape, notes,
    # feature columns and source, for the report.
    first: tuple[Predictions, FeatureMatrix | None] | None
    fit: FitCounts | None  # None: a partition without rows

    def merge(self, later: PartitionStats) -> PartitionStats:
        unseen = dict(self.unseen)
        for column, count in later.unseen.items():
            unseen[column] = unseen.get(column, 0) + count
        return PartitionStats(
            rows=self.rows + later.rows,
            cell_counts=self.cell_counts + later.cell_counts,
            scores=_merge_scores(self.scores, later.scores),
            calibration=_merge_calibration(self.calibration, later.calibration),
            sample=self.sample.merge(later.sample),
            unseen=unseen,
            first=self.first if self.first is not None else later.first,
            fit=(
                self.fit.merge(later.fit)
                if self.fit is not None and later.fit is not None
                else self.fit or later.fit
            ),
        )


def _compact(keys: np.ndarray, n_keys: int) -> np.ndarray:
    return keys.astype(np.int32) if n_keys <= np.iinfo(np.int32).max else keys


def _merge_scores(
    earlier: RowsOfScores | ScoreSketch | None, later: RowsOfScores | ScoreSketch | None
) -> RowsOfScores | ScoreSketch | None:
    if earlier is None or later is None:
        return earlier if later is None else later
    if isinstance(earlier, RowsOfScores) and isinstance(later, RowsOfScores):
        return earlier.merge(later)
    if isinstance(earlier, ScoreSketch) and isinstance(later, ScoreSketch):
        return earlier.merge(later)
    raise ValueError("every partition keeps its scores the same way")  # a caller's bug


def _merge_calibration(
    earlier: CalibrationTable | None, later: CalibrationTable | None
) -> CalibrationTable | None:
    if earlier is None or later is None:  # a partition without rows has no table
        return earlier if later is None else later
    return earlier.merge(later)


def _without_rows(
    predicted: Predictions, matrix: FeatureMatrix | None
) -> tuple[Predictions, FeatureMatrix | None]:
    empty = predicted.decisions[:0]
    return (
        replace(predicted, decisions=empty, scores=None),
        replace(matrix, values=matrix.values[:0]) if matrix is not None else None,
    )


@dataclass(frozen=True)
class ScorePass:
    """Second pass: score every row and keep the statistics that add up."""

    scorer: RowScorer
    target_column: str
    target: TargetEncoding
    sensitive: tuple[SensitiveEncoding, ...]
    chunk_rows: int
    encoding: str
    sep: str | None
    keep_scores: bool  # every score (exact ROC AUC) rather than a sketch
    per_cell: int
    seed: int
    fit_bins: FitBins

    @property
    def sizes(self) -> list[int]:
        return [len(encoding.groups) for encoding in self.sensitive]

    def __call__(self, part: Part, report: Report = None) -> PartitionStats:
        n_keys = cell_space(self.sizes)
        stats: PartitionStats | None = None
        offset = 0
        for chunk in iter_chunks(part.path, self.chunk_rows, self.encoding, sep=self.sep):
            try:
                chunk_stats = self._chunk(chunk, part, offset, n_keys)
            except RaiAuditError as exc:
                raise shift_rows(exc, offset) from exc
            stats = chunk_stats if stats is None else stats.merge(chunk_stats)
            offset += len(chunk)
            if report is not None:
                report(len(chunk))
        if part.rows is not None and offset != part.rows:
            raise DataError(
                f"{part.path}: read {offset} rows in the second pass but {part.rows} in the "
                "first; was the file changed during the audit?"
            )
        if stats is None:
            return PartitionStats(
                0,
                np.zeros((n_keys, 4), dtype=np.int64),
                None,
                None,
                Reservoir.empty(self.per_cell),
                {},
                None,
                None,
            )
        return stats

    def _chunk(self, chunk: pd.DataFrame, part: Part, offset: int, n_keys: int) -> PartitionStats:
        labels = apply_target(self.target, chunk[self.target_column])
        codes = [apply_sensitive(encoding, chunk[encoding.name]) for encoding in self.sensitive]
        keys = (
            cell_keys(codes, self.sizes)
            if self.sensitive
            else np.zeros(len(chunk), dtype=np.int64)  # one cell: every row
        )
        # One factorization per column, for the encoder and the data-fit counts alike.
        column_codes = ColumnCodes(chunk)
        predicted, matrix = self.scorer.score(chunk, part.path, column_codes)
        scores: RowsOfScores | ScoreSketch | None = None
        if predicted.scores is not None:
            scores = (
                RowsOfScores((_compact(keys, n_keys),), (labels,), (predicted.scores,))
                if self.keep_scores
                else ScoreSketch.of(keys, n_keys, labels, predicted.scores)
            )
        return PartitionStats(
            rows=len(chunk),
            cell_counts=cell_confusion(keys, n_keys, labels, predicted.decisions),
            scores=scores,
            calibration=(
                calibration_table(keys, n_keys, labels, predicted.scores)
                if predicted.scores is not None
                else None
            ),
            sample=Reservoir.of(
                self.per_cell,
                part.first_row + offset,
                self.seed,
                keys,
                labels,
                predicted.decisions,
                predicted.scores,
                chunk,
            ),
            unseen=dict(matrix.unseen_categories) if matrix is not None else {},
            first=_without_rows(predicted, matrix) if offset == 0 else None,
            fit=count_rows(
                self.fit_bins,
                chunk,
                [
                    GroupCodes(encoding.name, encoding.groups, code)
                    for encoding, code in zip(self.sensitive, codes, strict=True)
                ],
                labels,
                predicted.scores,
                column_codes,
            ),
        )
