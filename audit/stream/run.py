"""A streamed audit's data: two passes over the partitions, reduced to what the audit reads."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audit.core.errors import DataError, UsageError
from audit.core.policy import Policy
from audit.core.progress import Progress
from audit.core.request import AuditRequest
from audit.data.slices import codes_of_keys
from audit.data.table import (
    SensitiveEncoding,
    TargetEncoding,
    fit_sensitive,
    fit_target,
    parse_bins,
)
from audit.datafit.histograms import FitBins, FitCounts
from audit.fairness.calibration import CalibrationTable
from audit.fairness.score_sketch import ScoreSketch
from audit.fairness.tables import AucSource, RowScores
from audit.models.features import FeatureMatrix
from audit.models.inference import RowScorer
from audit.models.scoring import Predictions
from audit.stream.dataset import Part
from audit.stream.engine import Engine, LocalEngine, Report
from audit.stream.sample import ROWS_PER_CELL, TEXT_ROWS_PER_CELL, Reservoir
from audit.stream.statistics import DATA_ROW, ColumnPass, RowsOfScores, ScorePass


@dataclass(frozen=True)
class StreamedData:
    rows: int
    columns: int
    parts: int
    target: TargetEncoding
    sensitive: tuple[SensitiveEncoding, ...]
    cell_codes: np.ndarray  # int64 [cells, sensitive columns]: the cells that occur
    cell_counts: np.ndarray  # int64 [cells, 4]
    auc: AucSource
    calibration: CalibrationTable | None  # cells numbered as ``cell_counts``
    sample: Reservoir  # ``cells`` numbered as ``cell_codes``
    first: tuple[Predictions, FeatureMatrix | None]
    unseen: dict[str, int]
    fit: FitCounts


@dataclass(frozen=True)
class StreamSettings:
    data: Path
    roles: dict[str, str]  # column -> the flag naming it: the first pass's columns
    target_column: str
    positive_label: str | None
    sensitive: tuple[str, ...]
    bins: tuple[str, ...]
    chunk_rows: int
    encoding: str
    sep: str | None  # the CSV separator, None to detect it
    text: bool  # a text audit: its probes get a larger sample
    fit_bins: FitBins  # how the data-fit counts bin every column


def _advance(progress: Progress | None) -> Report:
    return progress.advance if progress is not None else None


def _in_partition(error: DataError, data: Path, parts: list[Part], starts: np.ndarray) -> DataError:
    """A first-pass error about the dataset's data row N, told as that partition's row."""
    found = DATA_ROW.search(str(error))
    if len(parts) == 1 or found is None or not str(error).startswith(f"{data}:"):
        return error
    row = int(found.group(1)) - 1
    index = int(np.searchsorted(starts, row, side="right")) - 1
    message = (
        str(error)
        .replace(found.group(0), f"data row {row - int(starts[index]) + 1}", 1)
        .replace(f"{data}:", f"{parts[index].path}:", 1)
    )
    return DataError(message)


def stream_dataset(
    settings: StreamSettings,
    scorer_for: Callable[[str, tuple[str, ...]], RowScorer],
    policy: Policy,
    engine: Engine,
    progress: Progress | None,
    files: tuple[Path, ...],
) -> StreamedData:
    """Both passes over ``files`` (the dataset's partitions) on ``engine``, reduced."""
    parts = [Part(index, path) for index, path in enumerate(files)]
    if progress is not None:
        progress.start("reading the target and sensitive columns", None)
    columns = engine.map_reduce(
        ColumnPass(
            settings.roles,
            (settings.target_column, *settings.sensitive),
            settings.chunk_rows,
            settings.encoding,
            settings.sep,
        ),
        parts,
        _advance(progress),
    )
    if columns.rows == 0:
        raise DataError(f"{settings.data}: has a header but no rows; nothing to audit")
    starts = np.concatenate([[0], np.cumsum(columns.part_rows)[:-1]])
    try:
        target = fit_target(
            columns.summaries,
            settings.target_column,
            settings.positive_label,
            settings.data,
        )
        sensitive = fit_sensitive(
            columns.summaries,
            list(settings.sensitive),
            parse_bins(list(settings.bins)),
            policy.max_categories,
            policy.quantile_bands,
            settings.data,
            max_groups=policy.max_groups,
        )
    except DataError as error:
        raise _in_partition(error, settings.data, parts, starts) from error
    scorer = scorer_for(target.positive_label, target.labels)
    counted = [
        Part(part.index, part.path, int(start), rows)
        for part, start, rows in zip(parts, starts, columns.part_rows, strict=True)
        if rows > 0
    ]
    if progress is not None:
        progress.start("scoring", columns.rows)
    stats = engine.map_reduce(
        ScorePass(
            scorer=scorer if engine.name == "local" else scorer.for_worker(),
            target_column=settings.target_column,
            target=target,
            sensitive=tuple(sensitive),
            chunk_rows=settings.chunk_rows,
            encoding=settings.encoding,
            sep=settings.sep,
            keep_scores=columns.rows <= policy.exact_auc_rows,
            per_cell=TEXT_ROWS_PER_CELL if settings.text else ROWS_PER_CELL,
            seed=policy.seed,
            fit_bins=settings.fit_bins,
        ),
        counted,
        _advance(progress),
    )
    assert stats.first is not None and stats.fit is not None  # at least one part has rows
    # Cells are numbered by the keys that occur, in key order, as the in-memory partition does.
    present = np.flatnonzero(stats.cell_counts.sum(axis=1))
    sizes = [len(encoding.groups) for encoding in sensitive]
    auc: AucSource = None
    if isinstance(stats.scores, RowsOfScores):
        auc = RowScores(
            np.searchsorted(present, np.concatenate(stats.scores.keys)),
            np.concatenate(stats.scores.labels),
            np.concatenate(stats.scores.scores),
        )
    elif isinstance(stats.scores, ScoreSketch):
        auc = stats.scores.with_cells(present)
    sample = stats.sample
    return StreamedData(
        rows=columns.rows,
        columns=columns.columns,
        parts=len(parts),
        target=target,
        sensitive=tuple(sensitive),
        cell_codes=codes_of_keys(present, sizes),
        cell_counts=stats.cell_counts[present],
        auc=auc,
        calibration=(
            stats.calibration.of_cells(present) if stats.calibration is not None else None
        ),
        sample=Reservoir(
            sample.per_cell,
            sample.positions,
            sample.keys,
            np.searchsorted(present, sample.cells),
            sample.labels,
            sample.decisions,
            sample.scores,
            sample.frame,
        ),
        first=stats.first,
        unseen=stats.unseen,
        fit=stats.fit,
    )


def open_engine(request: AuditRequest) -> Engine:
    """The engine the request names, started (a Dask engine connects or starts a cluster)."""
    if request.engine == "local":
        if request.scheduler is not None or request.workers is not None:
            raise UsageError("--scheduler and --workers need --engine dask; add it or drop them")
        return LocalEngine()
    from audit.stream.dask_engine import DaskEngine  # dask is an optional extra

    return DaskEngine(request.scheduler, request.workers)
