"""Resolve an ``AuditRequest`` into the prepared audit, once, for every stage to read.

One pass: validate the flags, read the policy, the baseline, the data (all at once, or
streamed in chunks or partitions), the other tables and the model, and score the rows.
Everything that can fail on the user's input fails here, before any stage runs.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from audit.core.check_knowledge import CheckInfo
from audit.core.compare import baseline_of, load_report
from audit.core.errors import ConfigError, UsageError
from audit.core.policy import Policy, find_config_file, load_policy
from audit.core.prepared import AuditedData, AuditedModel, AuditSettings, PreparedAudit
from audit.core.progress import Progress
from audit.core.request import AuditRequest
from audit.data.slices import Partition, build_slices, partition
from audit.data.table import (
    ColumnCodes,
    SensitiveColumn,
    TableRows,
    Target,
    parse_bins,
    prepare_sensitive,
    prepare_target,
    read_table,
)
from audit.datafit.histograms import (
    FitBins,
    FitCounts,
    GroupCodes,
    count_rows,
    metadata_bins,
    training_bins,
)
from audit.fairness.calibration import CalibrationTable, calibration_table
from audit.fairness.tables import AucSource, RowScores, cell_confusion
from audit.models.base import LoadedModel
from audit.models.features import FeatureMatrix, FeatureMetadata
from audit.models.in_process import is_in_process
from audit.models.inference import (
    RowScorer,
    ScoringSpec,
    coded_columns,
    feature_matrix,
    load_audited_model,
)
from audit.models.scoring import Predictions
from audit.privacy.membership import Scored
from audit.regulatory.settings import pack_columns, require_metadata
from audit.stream.dataset import is_partitioned, partition_files
from audit.stream.run import StreamSettings, open_engine, stream_dataset
from audit.text.adapter import load_text_model
from audit.text.stage import load_identity


def validate(request: AuditRequest) -> None:
    """Refuse flags that contradict each other or are out of range, before anything is read."""
    if request.model is None and request.predictions is None:
        raise UsageError("give a model file before the data file, or --predictions COLUMN")
    if request.model is not None and request.predictions is not None:
        raise UsageError(
            "--predictions audits decisions without a model: drop the model or the flag"
        )
    if request.scores is not None and request.predictions is None:
        raise UsageError("--scores goes with --predictions; a model's scores come from the model")
    if request.features is not None and request.preprocessor is not None:
        raise UsageError("--features and --preprocessor both choose the model's input; use one")
    if request.identity_terms and request.text_column is None:
        raise UsageError("--identity-terms goes with --text-column: it extends a text audit")
    if request.text_column is not None:
        _validate_text(request)
    elif not request.sensitive:
        raise UsageError(
            "name at least one sensitive column with --sensitive, e.g. --sensitive sex,race"
        )
    if not 0 < request.threshold < 1:
        raise UsageError(f"--threshold must lie strictly between 0 and 1, got {request.threshold}")
    if request.batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1, got {request.batch_size}")
    if request.threads is not None and request.threads < 1:
        raise UsageError(f"--threads must be at least 1, got {request.threads}")
    if request.sep is not None and len(request.sep) != 1:
        raise UsageError(
            f"--sep {request.sep[:20]!r} must be one character, e.g. --sep ';' or --sep tab"
        )
    try:
        codecs.lookup(request.encoding)
    except LookupError:
        raise UsageError(
            f"--encoding {request.encoding[:40]!r} is not a text encoding Python knows; use "
            "e.g. utf-8, latin-1 or cp1252"
        ) from None
    if len(set(request.sensitive)) != len(request.sensitive):
        raise UsageError(f"--sensitive names a column twice: {','.join(request.sensitive)}")
    if request.target in request.sensitive:
        raise UsageError(f"the target {request.target!r} cannot also be a sensitive column")
    if request.chunk_rows is not None and request.chunk_rows < 1:
        raise UsageError(f"--chunk-rows must be at least 1, got {request.chunk_rows}")
    if request.explain_samples < 1:
        raise UsageError(f"--explain-samples must be at least 1, got {request.explain_samples}")
    if request.holdout is not None and request.train_data is None:
        raise UsageError("--holdout goes with --train-data: the rows the model was trained on")
    if request.model_positive_class is not None and request.model is None:
        raise UsageError(
            "--model-positive-class names a class of the model; decisions read with "
            "--predictions take --positive-label only"
        )
    if is_in_process(request.model) and (
        request.text_column is not None or request.engine != "local"
    ):
        raise UsageError(
            "a model object (Python API) audits tabular data in this process: save it to a "
            "file for --text-column or --engine dask"
        )
    if request.allow_unsafe_imports and not request.trust_model:
        raise UsageError(
            "--allow-unsafe-imports only matters for a pickle loaded with --trust-model; "
            "add --trust-model or drop it"
        )


def _validate_text(request: AuditRequest) -> None:
    column = request.text_column
    if request.model is None:
        raise UsageError("--text-column audits a text model: give the model file before the data")
    if request.features is not None or request.preprocessor is not None:
        raise UsageError("a text model reads --text-column itself; drop --features/--preprocessor")
    if column == request.target or column in request.sensitive:
        raise UsageError(
            f"--text-column {column!r} cannot also be the target or a sensitive column"
        )


DEFAULT_CHUNK_ROWS = 200_000


def _is_streamed(request: AuditRequest) -> bool:
    return (
        request.chunk_rows is not None or request.engine != "local" or is_partitioned(request.data)
    )


def _first_pass_roles(request: AuditRequest) -> dict[str, str]:
    """The columns every partition must have before any is scored, with the flags naming them."""
    roles = {request.target: "--target"}
    roles.update({column: "--sensitive" for column in request.sensitive})
    if request.predictions is not None:
        roles[request.predictions] = "--predictions"
    if request.scores is not None:
        roles[request.scores] = "--scores"
    return roles


@dataclass(frozen=True)
class _OtherTables:
    members: TableRows | None
    holdout: TableRows | None
    fit_bins: FitBins  # how the data-fit counts bin every column


@dataclass(frozen=True)
class _Read:
    """The audited data as read and scored, before the model's half is assembled."""

    data: AuditedData
    predictions: Predictions
    features: FeatureMatrix | None
    report_features: FeatureMatrix | None


def _audited_data(
    request: AuditRequest,
    policy: Policy,
    extra: _OtherTables,
    *,
    frame: Any,
    codes: ColumnCodes,
    target: Target,
    sensitive: list[SensitiveColumn],
    fine: Partition,
    cell_counts: np.ndarray,
    auc: AucSource,
    calibration: CalibrationTable | None,
    rows: int,
    columns: int,
    files: tuple[Path, ...],
    fit: Callable[[], FitCounts],
    notes: tuple[str, ...] = (),
    sampled: bool = False,
) -> AuditedData:
    return AuditedData(
        file=request.data,
        files=files,
        rows=rows,
        columns=columns,
        frame=frame,
        codes=codes,
        target_column=request.target,
        target=target,
        sensitive_columns=tuple(request.sensitive),
        sensitive=tuple(sensitive),
        bins=parse_bins(list(request.bins)),
        fine=fine,
        slices=tuple(build_slices(sensitive, fine, policy.max_intersection)),
        cell_counts=cell_counts,
        auc=auc,
        calibration=calibration,
        members=extra.members,
        holdout=extra.holdout,
        fit=fit,
        notes=notes,
        sampled=sampled,
    )


def _column_codes(
    frame: Any,
    request: AuditRequest,
    model: LoadedModel | None,
    metadata: FeatureMetadata | None,
    threads: int,
) -> ColumnCodes:
    """The frame's shared column codes, with those that preparing it reads made at once."""
    codes = ColumnCodes(frame)
    encoded = coded_columns(ScoringSpec.of(request), model, metadata)
    codes.prefetch([request.target, *request.sensitive, *encoded], threads)
    return codes


def _whole(
    request: AuditRequest,
    frame: Any,
    policy: Policy,
    positive_label: str | None,
    scorer_for: Callable[[str, tuple[str, ...]], RowScorer],
    extra: _OtherTables,
    codes: ColumnCodes,
) -> _Read:
    """Every row read at once; ``codes``, the frame's, serve the target, the groups and the
    model's encoder with one factorization of each column."""
    target = prepare_target(frame, request.target, positive_label, request.data, codes)
    sensitive = prepare_sensitive(
        frame,
        list(request.sensitive),
        parse_bins(list(request.bins)),
        policy.max_categories,
        policy.quantile_bands,
        request.data,
        max_groups=policy.max_groups,
        codes=codes,
    )
    fine = partition(sensitive) if sensitive else _one_cell(len(frame))
    scorer = scorer_for(target.positive_label, target.labels)
    predictions, features = scorer.score(frame, request.data, codes)
    scores = predictions.scores
    data = _audited_data(
        request,
        policy,
        extra,
        frame=frame,
        codes=codes,
        target=target,
        sensitive=sensitive,
        fine=fine,
        cell_counts=cell_confusion(fine.cell_of_row, fine.n_cells, target.y, predictions.decisions),
        auc=RowScores(fine.cell_of_row, target.y, scores) if scores is not None else None,
        calibration=(
            calibration_table(fine.cell_of_row, fine.n_cells, target.y, scores)
            if scores is not None
            else None
        ),
        rows=len(frame),
        columns=frame.shape[1],
        files=(request.data,),
        fit=partial(
            count_rows,
            extra.fit_bins,
            frame,
            [GroupCodes(column.name, column.groups, column.codes) for column in sensitive],
            target.y,
            scores,
            codes,
        ),
    )
    return _Read(data, predictions, features, features)


def _streamed(
    request: AuditRequest,
    policy: Policy,
    positive_label: str | None,
    scorer_for: Callable[[str, tuple[str, ...]], RowScorer],
    loaded: LoadedModel | None,
    metadata: FeatureMetadata | None,
    excluded: frozenset[str],
    progress: Progress | None,
    extra: _OtherTables,
) -> _Read:
    """Two passes over the data in chunks (or partitions on an engine): statistics of every
    row, and a seeded stratified sample of whole rows for the stages that need rows."""
    settings = StreamSettings(
        data=request.data,
        roles=_first_pass_roles(request),
        target_column=request.target,
        positive_label=positive_label,
        sensitive=request.sensitive,
        bins=request.bins,
        chunk_rows=request.chunk_rows or DEFAULT_CHUNK_ROWS,
        encoding=request.encoding,
        sep=request.sep,
        text=request.text_column is not None,
        fit_bins=extra.fit_bins,
    )
    files = partition_files(request.data)  # before a cluster starts: a bad path fails at once
    engine = open_engine(request)
    try:
        data = stream_dataset(settings, scorer_for, policy, engine, progress, files)
    finally:
        engine.close()
    sample = data.sample
    first_predictions, first_features = data.first
    notes = (
        f"streamed audit ({data.parts} partition(s), {engine.name} engine): fairness used all "
        f"{data.rows} rows; {'text' if request.text_column else 'explanation'} and privacy "
        f"probes used a seeded sample of {len(sample.positions)} rows, up to "
        f"{sample.per_cell} from each combination of sensitive groups",
    )
    codes = ColumnCodes(sample.frame)
    audited = _audited_data(
        request,
        policy,
        extra,
        frame=sample.frame,
        codes=codes,
        target=Target(sample.labels, data.target.positive_label, data.target.labels),
        sensitive=[
            SensitiveColumn(
                encoding.name,
                data.cell_codes[sample.cells, position],
                encoding.groups,
                encoding.binning,
            )
            for position, encoding in enumerate(data.sensitive)
        ],
        fine=Partition(sample.cells, data.cell_codes, len(data.cell_codes)),
        cell_counts=data.cell_counts,
        auc=data.auc,
        calibration=data.calibration,
        rows=data.rows,
        columns=data.columns,
        files=files,
        fit=lambda: data.fit,
        notes=notes,
        sampled=True,
    )
    return _Read(
        audited,
        replace(first_predictions, decisions=sample.decisions, scores=sample.scores),
        (
            feature_matrix(ScoringSpec.of(request), sample.frame, metadata, excluded, loaded, codes)
            if request.model is not None
            else None
        ),
        (
            replace(first_features, unseen_categories=data.unseen)
            if first_features is not None
            else None
        ),
    )


def _one_cell(rows: int) -> Partition:
    """Every row in one cell: the partition of an audit without sensitive columns."""
    return Partition(np.zeros(rows, dtype=np.int64), np.zeros((1, 0), dtype=np.int64), 1)


def _rows_scorer(target: str, scorer: RowScorer) -> Callable[[TableRows], Scored]:
    """Score another table (training rows, a holdout) exactly as the audited data; the
    closure holds what it reads, not the request, since stages call it."""

    def score(rows: TableRows) -> Scored:
        labels = prepare_target(rows.frame, target, scorer.positive_label, rows.source)
        predicted, _ = scorer.score(rows.frame, rows.source)
        if predicted.scores is None:
            raise UsageError(f"{rows.source}: membership inference needs scores; give --scores")
        return Scored(labels.y, predicted.scores, predicted.decisions)

    return score


def resolve_policy(
    request: AuditRequest, checks: Sequence[CheckInfo]
) -> tuple[Policy, Path | None]:
    config_file = request.config_file
    if config_file is None and request.search_config:
        config_file = find_config_file(Path.cwd())
    return load_policy(config_file, request.policy_overrides, checks), config_file


def prepare(
    request: AuditRequest,
    threads: int,
    progress: Progress | None,
    checks: Sequence[CheckInfo] = (),
) -> PreparedAudit:
    """The prepared audit of a ``validate``d ``request``; ``checks`` are the knowledge of the
    checks that will run (their plugins' thresholds join the policy). Raises a
    ``RaiAuditError`` for bad input."""
    # Read before the audit: a bad baseline fails in a moment, not after the model has run.
    baseline = baseline_of(load_report(request.baseline)) if request.baseline is not None else None
    policy, config_file = resolve_policy(request, checks)
    if request.ll144:  # before any data is read: a pack without its metadata is refused
        require_metadata(policy.ll144)
        pack_columns(policy.ll144, request.sensitive)
    streamed = _is_streamed(request)
    # Read now (a streamed audit reads later, in passes): bad data fails before the model runs.
    frame = None if streamed else read_table(request.data, request.encoding, sep=request.sep)
    # Read now: a bad --train-data or --holdout fails before the model has run.
    members, holdout = (
        TableRows(read_table(path, request.encoding, sep=request.sep), path) if path else None
        for path in (request.train_data, request.holdout)
    )
    loaded, metadata, text_model, identity = None, None, None, None
    if request.model is not None and request.text_column is not None:
        assert isinstance(request.model, Path)  # validate refuses a model object here
        text_model = load_text_model(
            request.model, request.device, request.trust_model, request.allow_unsafe_imports
        )
        loaded = text_model.loaded
        if request.output_kind == "auto" and text_model.metadata.output_kind:
            request = replace(request, output_kind=text_model.metadata.output_kind)
        # Read now: a bad identity terms file fails before the model has run.
        identity = load_identity(request.identity_terms, policy, config_file)
    elif request.model is not None:
        loaded, metadata = load_audited_model(request)
    positive_label = (
        request.positive_label
        or (metadata.positive_label if metadata else None)
        or (text_model.metadata.positive_label if text_model else None)
    )
    unknown_references = sorted(set(policy.reference_groups) - set(request.sensitive))
    if unknown_references:
        raise ConfigError(
            f"reference group given for {unknown_references[0]!r}, which is not a sensitive "
            f"column; sensitive columns: {', '.join(request.sensitive)}"
        )
    excluded = frozenset(
        str(name)
        for name in (request.target, *request.sensitive, request.predictions, request.scores)
        if name is not None
    )

    def scorer_for(positive_label: str, target_labels: tuple[str, ...]) -> RowScorer:
        return RowScorer(
            ScoringSpec.of(request), positive_label, target_labels, excluded, loaded, metadata
        )

    fit_bins = (
        training_bins(members.frame, excluded, policy.data_fit)
        if members is not None
        else metadata_bins(metadata, excluded, policy.data_fit)
    )
    extra = _OtherTables(members, holdout, fit_bins)
    read = (
        _whole(
            request,
            frame,
            policy,
            positive_label,
            scorer_for,
            extra,
            _column_codes(frame, request, loaded, metadata, threads),
        )
        if frame is not None
        else _streamed(
            request, policy, positive_label, scorer_for, loaded, metadata, excluded, progress, extra
        )
    )
    target = read.data.target
    return PreparedAudit(
        settings=AuditSettings(
            policy=policy,
            config_file=config_file,
            baseline=baseline,
            threads=threads,
            progress=progress,
            command=request.command,
            threshold=request.threshold,
            batch_size=request.batch_size,
            explain=request.explain,
            explain_samples=request.explain_samples,
            what_if=request.what_if,
            ll144=request.ll144,
        ),
        data=read.data,
        model=AuditedModel(
            file=ScoringSpec.of(request).model,
            loaded=loaded,
            metadata=metadata,
            text=text_model,
            identity=identity,
            predictions=read.predictions,
            features=read.features,
            report_features=read.report_features,
            score_rows=_rows_scorer(
                request.target, scorer_for(target.positive_label, target.labels)
            ),
        ),
    )
