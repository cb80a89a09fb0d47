"""Running the model chunk by chunk and keeping what adds up across chunks."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from audit.errors import DataError, RaiAuditError
from audit.fairness import cell_confusion
from audit.features import FeatureMatrix
from audit.scoring import Predictions
from audit.slices import Partition
from audit.stream.reader import iter_chunks

_DATA_ROW = re.compile(r"data row (\d+)")


@dataclass(frozen=True)
class StreamedPredictions:
    cell_counts: np.ndarray  # int64 [cells, 4]: confusion counts summed over the chunks
    predictions: Predictions  # every row's decisions and scores; the first chunk's notes
    features: FeatureMatrix  # the first chunk's encoding, no rows; unseen counts summed
    columns: int  # the table's columns
    sample_rows: np.ndarray  # int64, sorted: positions of the rows kept whole
    sample_frame: pd.DataFrame  # those rows, all columns


def shift_rows(error: RaiAuditError, offset: int) -> RaiAuditError:
    """The same error with its "data row N" counted from the file's first row, not the chunk's."""
    message = _DATA_ROW.sub(lambda match: f"data row {int(match.group(1)) + offset}", str(error))
    return type(error)(message)


def stream_predictions(
    path: Path,
    encoding: str,
    chunk_rows: int,
    fine: Partition,
    labels: np.ndarray,
    encode: Callable[[pd.DataFrame], FeatureMatrix],
    predict: Callable[[FeatureMatrix], Predictions],
    sample_rows: np.ndarray,
) -> StreamedPredictions:
    """Encode and score each chunk; only decisions (1 byte) and scores (8) are kept per row.

    Scores are kept because ROC AUC ranks them; everything else is a sum over chunks.
    """
    rows = len(labels)
    cell_counts = np.zeros((fine.n_cells, 4), dtype=np.int64)
    decisions = np.zeros(rows, dtype=np.int8)
    scores: np.ndarray | None = None
    first: tuple[Predictions, FeatureMatrix] | None = None
    unseen: dict[str, int] = {}
    columns = 0
    offset = 0
    kept: list[pd.DataFrame] = []
    for chunk in iter_chunks(path, chunk_rows, encoding):
        size = len(chunk)
        if offset + size > rows:
            break  # the file grew since the first pass; the check below reports it
        try:
            matrix = encode(chunk)
            predicted = predict(matrix)
        except RaiAuditError as exc:
            raise shift_rows(exc, offset) from exc
        window = slice(offset, offset + size)
        cell_counts += cell_confusion(
            fine.cell_of_row[window], fine.n_cells, labels[window], predicted.decisions
        )
        decisions[window] = predicted.decisions
        if predicted.scores is not None:
            if scores is None:
                scores = np.zeros(rows, dtype=np.float64)
            scores[window] = predicted.scores
        for column, count in matrix.unseen_categories.items():
            unseen[column] = unseen.get(column, 0) + count
        lo, hi = np.searchsorted(sample_rows, [offset, offset + size])
        kept.append(chunk.iloc[sample_rows[lo:hi] - offset])
        if first is None:
            first = (predicted, matrix)
            columns = chunk.shape[1]
        offset += size
    if first is None or offset != rows:
        raise DataError(
            f"{path}: read {offset} rows in chunks but {rows} in the first pass; "
            "was the file changed during the audit?"
        )
    predicted, matrix = first
    return StreamedPredictions(
        cell_counts=cell_counts,
        predictions=replace(predicted, decisions=decisions, scores=scores),
        features=replace(matrix, values=matrix.values[:0], unseen_categories=unseen),
        columns=columns,
        sample_rows=sample_rows,
        sample_frame=pd.concat(kept, ignore_index=True),
    )
