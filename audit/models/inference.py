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
from audit.data.table import ColumnCodes
from audit.models import LoadedModel, load_model
from audit.models.features import (
    CategoricalInput,
    FeatureMatrix,
    FeatureMetadata,
    default_columns,
    from_columns,
    from_metadata,
    from_preprocessor,
    parse_metadata,
)
from audit.models.in_process import IN_PROCESS_SOURCE, from_object, is_in_process
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
class ScoringSpec:
    """How the audit scores rows, resolved once from the request by audit.core.prepare: the
    stages that score more rows (streamed chunks, partitions on workers, training rows) read
    this, never the request."""

    data: Path  # the file that errors name
    model: Path | None  # the file, or IN_PROCESS_SOURCE for a model object
    predictions: str | None  # the decision column, for an audit without a model
    scores: str | None
    features: tuple[str, ...] | None
    preprocessor: Path | None
    output_kind: OutputKind
    threshold: float
    model_positive_class: str | None
    trust_model: bool
    device: str
    batch_size: int
    allow_unsafe_imports: tuple[str, ...]
    text_column: str | None

    @classmethod
    def of(cls, request: AuditRequest) -> ScoringSpec:
        return cls(
            data=request.data,
            model=(
                request.model
                if request.model is None or isinstance(request.model, Path)
                else IN_PROCESS_SOURCE
            ),
            predictions=request.predictions,
            scores=request.scores,
            features=request.features,
            preprocessor=request.preprocessor,
            output_kind=request.output_kind,
            threshold=request.threshold,
            model_positive_class=request.model_positive_class,
            trust_model=request.trust_model,
            device=request.device,
            batch_size=request.batch_size,
            allow_unsafe_imports=request.allow_unsafe_imports,
            text_column=request.text_column,
        )


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
        text = load_text_model(request.path, request.device, request.trust, request.allowed_imports)
        return text.loaded, None
    return _load(request.path, request.device, request.trust, request.allowed_imports)


def load_audited_model(request: AuditRequest) -> tuple[LoadedModel, FeatureMetadata | None]:
    """The model file with its embedded feature metadata, if any, or the request's model
    object (not for text models)."""
    if is_in_process(request.model):
        return from_object(request.model), None
    spec = ScoringSpec.of(request)
    assert spec.model is not None  # callers check that a model was given
    return _load(spec.model, spec.device, spec.trust_model, spec.allow_unsafe_imports)


@lru_cache(maxsize=4)
def _preprocessor(path: Path, stamp: tuple[int, int, int] | None, trust: bool) -> Any:
    """A fitted transformer, loaded once per file version rather than once per chunk."""
    transformer, _ = load_skops_object(path, trust)
    return transformer


def feature_matrix(
    spec: ScoringSpec,
    frame: pd.DataFrame,
    metadata: FeatureMetadata | None,
    excluded: frozenset[str],
    model: LoadedModel | None = None,
    codes: ColumnCodes | None = None,
) -> FeatureMatrix:
    if metadata is not None and _metadata_encodes(spec, model):
        return from_metadata(frame, metadata, spec.data, codes)
    if spec.text_column is not None:
        return text_feature_matrix(frame, spec.text_column, spec.data)
    if spec.features is not None:
        return from_columns(frame, spec.features, spec.data, "features")
    if spec.preprocessor is not None:
        path = spec.preprocessor
        transformer = _preprocessor(path, _file_stamp(path), spec.trust_model)
        return from_preprocessor(frame, transformer, excluded, spec.data, spec.preprocessor)
    if model is not None and model.frame_input is not None:
        return model.frame_input.matrix(frame, spec.data)
    return from_columns(frame, default_columns(frame, excluded), spec.data, "numeric-columns")


def _metadata_encodes(spec: ScoringSpec, model: LoadedModel | None) -> bool:
    """Whether a model's embedded metadata, when it has some, is what encodes the rows: no
    text column, feature list, preprocessor or frame-reading model comes first."""
    return (
        spec.text_column is None
        and spec.features is None
        and spec.preprocessor is None
        and (model is None or model.frame_input is None)
    )


def coded_columns(
    spec: ScoringSpec, model: LoadedModel | None, metadata: FeatureMetadata | None
) -> tuple[str, ...]:
    """The columns whose shared codes (``ColumnCodes``) the encoder reads: the categorical
    inputs of embedded metadata when that encodes the rows, else none."""
    if metadata is None or not _metadata_encodes(spec, model):
        return ()
    return tuple(
        feature.column for feature in metadata.features if isinstance(feature, CategoricalInput)
    )


def class_labels(model: LoadedModel, metadata: FeatureMetadata | None) -> tuple[str, ...] | None:
    if metadata and metadata.class_labels:
        return tuple(metadata.class_labels)
    return model.class_labels


def _output_kind(spec: ScoringSpec, metadata: FeatureMetadata | None) -> OutputKind:
    if spec.output_kind == "auto" and metadata is not None and metadata.output_kind:
        return metadata.output_kind
    return spec.output_kind


def predict(
    spec: ScoringSpec,
    model: LoadedModel,
    metadata: FeatureMetadata | None,
    positive_label: str,
    target_labels: tuple[str, ...],
    matrix: FeatureMatrix,
) -> Predictions:
    """Run the model on a feature matrix and read its output as scores and decisions."""
    assert spec.model is not None  # only called when a model was given
    output = raw_output(
        model,
        matrix.values,
        spec.batch_size,
        spec.model,
        columns=matrix.columns,
        feature_source=matrix.source,
    )
    return model_predictions(
        output,
        _output_kind(spec, metadata),
        spec.threshold,
        class_labels(model, metadata),
        positive_label,
        spec.model,
        target_labels,
        spec.model_positive_class,
    )


@dataclass(frozen=True)
class RowScorer:
    """Scores any rows of the audited table: by the model, or read from the decision columns.

    Pickled to workers without its model (``model=None``); a worker then loads the model
    from ``spec.model`` once per process.
    """

    spec: ScoringSpec
    positive_label: str
    target_labels: tuple[str, ...]
    excluded: frozenset[str]
    model: LoadedModel | None = None
    metadata: FeatureMetadata | None = None

    def for_worker(self) -> RowScorer:
        """This scorer without the loaded model, which need not pickle (TorchScript does not)."""
        return replace(self, model=None, metadata=None)

    def score(
        self, frame: pd.DataFrame, source: Path, codes: ColumnCodes | None = None
    ) -> tuple[Predictions, FeatureMatrix | None]:
        """Decisions and scores of ``frame``'s rows; errors name ``source``; ``codes``: the
        audit's factorizations of ``frame``'s columns, to share."""
        spec = replace(self.spec, data=source)
        if spec.model is None:
            assert spec.predictions is not None  # an audit has a model or decisions
            predicted = column_predictions(
                frame,
                spec.predictions,
                spec.scores,
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
                    spec.model,
                    _file_stamp(spec.model),
                    spec.device,
                    spec.trust_model,
                    spec.allow_unsafe_imports,
                    spec.text_column is not None,
                )
            )
        )
        matrix = feature_matrix(spec, frame, metadata, self.excluded, model, codes)
        predicted = predict(spec, model, metadata, self.positive_label, self.target_labels, matrix)
        return predicted, matrix
