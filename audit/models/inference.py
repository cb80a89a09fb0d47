"""Running the audited model on rows: features, model output, decisions and scores.

One place for it, so that the whole table, each streamed chunk, each partition on a worker
and the privacy stage's training rows are all scored the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from audit.core.request import AuditRequest, OutputKind
from audit.models import LoadedModel, load_model
from audit.models.features import (
    FeatureMatrix,
    FeatureMetadata,
    default_columns,
    from_columns,
    from_metadata,
    from_preprocessor,
    parse_metadata,
)
from audit.models.scoring import Predictions, column_predictions, model_predictions, raw_output
from audit.models.sklearn_models import load_skops_object
from audit.text.adapter import load_text_model
from audit.text.column import text_feature_matrix


def _load(
    path: Path, device: str, trust: bool, allowed_imports: tuple[str, ...]
) -> tuple[LoadedModel, FeatureMetadata | None]:
    model = load_model(path, device, trust, allowed_imports)
    metadata = parse_metadata(model.metadata_text, path) if model.metadata_text else None
    return model, metadata


def _file_stamp(path: Path) -> tuple[int, int, int] | None:
    """The file's modification time, size and inode, so that a cached load is reused only for the
    same version of the file (a long-lived worker or notebook may see it rewritten)."""
    try:
        stat = path.stat()
    except OSError:
        return None  # the loader itself reports a missing or unreadable file
    return stat.st_mtime_ns, stat.st_size, stat.st_ino


@dataclass(frozen=True)
class WorkerModel:
    """What a worker needs to load the audited model itself (hashable, for the cache)."""

    path: Path
    stamp: tuple[int, int, int] | None
    device: str
    trust: bool
    allowed_imports: tuple[str, ...]
    text: bool


@lru_cache(maxsize=4)
def _load_on_worker(request: WorkerModel) -> tuple[LoadedModel, FeatureMetadata | None]:
    """A worker process loads each model once, however many partitions it scores."""
    if request.text:
        return load_text_model(request.path, request.device).loaded, None
    return _load(request.path, request.device, request.trust, request.allowed_imports)


def load_audited_model(request: AuditRequest) -> tuple[LoadedModel, FeatureMetadata | None]:
    """The model file with its embedded feature metadata, if any (not for text models)."""
    assert request.model is not None  # callers check that a model was given
    return _load(request.model, request.device, request.trust_model, request.allow_unsafe_imports)


@lru_cache(maxsize=4)
def _preprocessor(path: Path, stamp: tuple[int, int, int] | None, trust: bool) -> Any:
    """A fitted transformer, loaded once per file version rather than once per chunk."""
    transformer, _ = load_skops_object(path, trust)
    return transformer


def feature_matrix(
    request: AuditRequest,
    frame: pd.DataFrame,
    metadata: FeatureMetadata | None,
    excluded: frozenset[str],
) -> FeatureMatrix:
    if request.text_column is not None:
        return text_feature_matrix(frame, request.text_column, request.data)
    if request.features is not None:
        return from_columns(frame, request.features, request.data, "features")
    if request.preprocessor is not None:
        path = request.preprocessor
        transformer = _preprocessor(path, _file_stamp(path), request.trust_model)
        return from_preprocessor(frame, transformer, excluded, request.data, request.preprocessor)
    if metadata is not None:
        return from_metadata(frame, metadata, request.data)
    return from_columns(frame, default_columns(frame, excluded), request.data, "numeric-columns")


def class_labels(model: LoadedModel, metadata: FeatureMetadata | None) -> tuple[str, ...] | None:
    if metadata and metadata.class_labels:
        return tuple(metadata.class_labels)
    return model.class_labels


def _output_kind(request: AuditRequest, metadata: FeatureMetadata | None) -> OutputKind:
    if request.output_kind == "auto" and metadata is not None and metadata.output_kind:
        return metadata.output_kind
    return request.output_kind


def predict(
    request: AuditRequest,
    model: LoadedModel,
    metadata: FeatureMetadata | None,
    positive_label: str,
    target_labels: tuple[str, ...],
    matrix: FeatureMatrix,
) -> Predictions:
    """Run the model on a feature matrix and read its output as scores and decisions."""
    assert request.model is not None  # only called when a model was given
    output = raw_output(
        model,
        matrix.values,
        request.batch_size,
        request.model,
        columns=matrix.columns,
        feature_source=matrix.source,
    )
    return model_predictions(
        output,
        _output_kind(request, metadata),
        request.threshold,
        class_labels(model, metadata),
        positive_label,
        request.model,
        target_labels,
    )


@dataclass(frozen=True)
class RowScorer:
    """Scores any rows of the audited table: by the model, or read from the decision columns.

    Pickled to workers without its model (``model=None``); a worker then loads the model
    from ``request.model`` once per process.
    """

    request: AuditRequest
    positive_label: str
    target_labels: tuple[str, ...]
    excluded: frozenset[str]
    model: LoadedModel | None = None
    metadata: FeatureMetadata | None = None

    def for_worker(self) -> RowScorer:
        """This scorer without the loaded model, which need not pickle (TorchScript does not)."""
        return replace(self, model=None, metadata=None)

    def score(self, frame: pd.DataFrame, source: Path) -> tuple[Predictions, FeatureMatrix | None]:
        """Decisions and scores of ``frame``'s rows; errors name ``source``."""
        request = replace(self.request, data=source)
        if request.model is None:
            assert request.predictions is not None  # an audit has a model or decisions
            predicted = column_predictions(
                frame,
                request.predictions,
                request.scores,
                self.target_labels,
                self.positive_label,
                source,
            )
            return predicted, None
        model, metadata = (
            (self.model, self.metadata)
            if self.model is not None
            else _load_on_worker(
                WorkerModel(
                    request.model,
                    _file_stamp(request.model),
                    request.device,
                    request.trust_model,
                    request.allow_unsafe_imports,
                    request.text_column is not None,
                )
            )
        )
        matrix = feature_matrix(request, frame, metadata, self.excluded)
        predicted = predict(
            request, model, metadata, self.positive_label, self.target_labels, matrix
        )
        return predicted, matrix
