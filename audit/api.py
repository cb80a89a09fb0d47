"""The Python API: ``run_audit(AuditRequest(...))`` returns an ``AuditResult``.

The CLI is a thin shell over this; a notebook calls it directly and renders the result with
``reports``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from audit.accountability import AccountabilityTable
from audit.checks import CHECKS, AuditContext, Check, CheckSkipped, check_table
from audit.compare import baseline_of, load_report
from audit.errors import ConfigError, UsageError
from audit.explain.results import Explanations
from audit.explain.sampling import DEFAULT_SAMPLES
from audit.explain.stage import ExplainInputs, explain_stage
from audit.explain.stage import skipped as explain_skipped
from audit.fairness import compute_fairness, fairness_from_counts
from audit.features import (
    FeatureMatrix,
    FeatureMetadata,
    default_columns,
    from_columns,
    from_metadata,
    from_preprocessor,
    parse_metadata,
)
from audit.findings import Finding
from audit.gate import Baseline, evaluate_gate
from audit.models import LoadedModel, load_model
from audit.models.sklearn_models import load_skops_object
from audit.policy import Policy, find_config_file, load_policy
from audit.privacy.membership import Scored
from audit.privacy.report import PrivacyReport
from audit.privacy.stage import STAGE_ID, PrivacyInputs, TableRows, run_privacy
from audit.result import AuditResult, CheckRun, CheckStatus, DataInfo, ModelInfo, RunInfo
from audit.scoring import OutputKind, Predictions, column_predictions, model_predictions, raw_output
from audit.slices import Partition, build_slices, partition
from audit.stream.reader import read_columns
from audit.stream.sample import ROWS_PER_CELL, stratified_sample
from audit.stream.score import StreamedPredictions, stream_predictions
from audit.table import (
    SensitiveColumn,
    Target,
    parse_bins,
    prepare_sensitive,
    prepare_target,
    read_table,
)
from audit.text.adapter import TextModel, load_text_model
from audit.text.column import text_feature_matrix
from audit.text.identity import IdentityTerms
from audit.text.results import TextReport
from audit.text.stage import STAGE_ID as TEXT_STAGE_ID
from audit.text.stage import load_identity, run_text, text_inputs
from audit.trail import file_info, platform_name, started_at, tool_version, versions


@dataclass(frozen=True)
class AuditRequest:
    """What to audit and how; every field has the CLI flag of the same name."""

    data: Path
    target: str
    sensitive: tuple[str, ...] = ()  # required unless text_column is set
    model: Path | None = None
    predictions: str | None = None
    scores: str | None = None
    features: tuple[str, ...] | None = None
    preprocessor: Path | None = None
    output_kind: OutputKind = "auto"
    threshold: float = 0.5
    positive_label: str | None = None
    trust_model: bool = False
    device: str = "cpu"
    batch_size: int = 8192
    bins: tuple[str, ...] = ()
    encoding: str = "utf-8"
    config_file: Path | None = None
    search_config: bool = True  # look for rai-audit.toml / pyproject.toml in the cwd
    policy_overrides: dict[str, Any] = field(default_factory=dict)
    command: tuple[str, ...] = ()
    # An earlier report.json: the gate then fails only on findings new since it or worse.
    baseline: Path | None = None
    # Privacy (docs/privacy.md): rows the model was trained on, rows it never saw, and the
    # dangerous pickle imports the user has checked and allows.
    train_data: Path | None = None
    holdout: Path | None = None
    allow_unsafe_imports: tuple[str, ...] = ()
    # Explanations (docs/explanations.md): off with --no-explain; rows explained.
    explain: bool = True
    explain_samples: int = DEFAULT_SAMPLES
    # Text models (docs/text-models.md): the column holding the text (the model then reads
    # it and --sensitive becomes optional), and more identity term files.
    text_column: str | None = None
    identity_terms: tuple[Path, ...] = ()
    # Streaming (docs/scale.md): read the data this many rows at a time; None reads it whole.
    chunk_rows: int | None = None

    def input_paths(self) -> list[Path]:
        return [
            path
            for path in (
                self.data,
                self.model,
                self.preprocessor,
                self.config_file,
                self.baseline,
                self.train_data,
                self.holdout,
                *self.identity_terms,
            )
            if path
        ]


def _validate(request: AuditRequest) -> None:
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
    if len(set(request.sensitive)) != len(request.sensitive):
        raise UsageError(f"--sensitive names a column twice: {','.join(request.sensitive)}")
    if request.target in request.sensitive:
        raise UsageError(f"the target {request.target!r} cannot also be a sensitive column")
    if request.chunk_rows is not None and request.chunk_rows < 1:
        raise UsageError(f"--chunk-rows must be at least 1, got {request.chunk_rows}")
    if request.chunk_rows is not None and request.text_column is not None:
        raise UsageError("--chunk-rows does not stream text audits yet; drop one of them")
    if request.explain_samples < 1:
        raise UsageError(f"--explain-samples must be at least 1, got {request.explain_samples}")
    if request.holdout is not None and request.train_data is None:
        raise UsageError("--holdout goes with --train-data: the rows the model was trained on")
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


@dataclass(frozen=True)
class _RowsView:
    """The rows the explanation and privacy stages read: all of them, or a sample."""

    frame: Any
    sensitive: list[SensitiveColumn]
    fine: Partition
    labels: np.ndarray
    predictions: Predictions
    features: FeatureMatrix | None


def _sample_note(streamed: StreamedPredictions | None) -> tuple[str, ...]:
    if streamed is None:
        return ()
    return (
        f"streamed audit (--chunk-rows): fairness used every row; explanations and privacy "
        f"probes used a seeded sample of {len(streamed.sample_rows)} rows, up to "
        f"{ROWS_PER_CELL} from each combination of sensitive groups",
    )


def _sampled_rows(
    request: AuditRequest,
    streamed: StreamedPredictions,
    sensitive: list[SensitiveColumn],
    fine: Partition,
    target: Target,
    predictions: Predictions,
    metadata: FeatureMetadata | None,
    excluded: set[Any],
) -> _RowsView:
    """A streamed audit's kept rows, with their groups as the whole file defines them."""
    kept = streamed.sample_rows
    scores = predictions.scores
    return _RowsView(
        frame=streamed.sample_frame,
        sensitive=[replace(column, codes=column.codes[kept]) for column in sensitive],
        fine=Partition(fine.cell_of_row[kept], fine.cell_codes, fine.n_cells),
        labels=target.y[kept],
        predictions=replace(
            predictions,
            decisions=predictions.decisions[kept],
            scores=scores[kept] if scores is not None else None,
        ),
        features=_feature_matrix(
            request, streamed.sample_frame, metadata, {str(name) for name in excluded}
        ),
    )


def _first_pass_roles(request: AuditRequest) -> dict[str, str]:
    """The few columns a streamed audit reads whole, each with the flag that names it."""
    roles = {request.target: "--target"}
    roles.update({column: "--sensitive" for column in request.sensitive})
    if request.predictions is not None:
        roles[request.predictions] = "--predictions"
    if request.scores is not None:
        roles[request.scores] = "--scores"
    return roles


def _stream_model(
    request: AuditRequest,
    model: LoadedModel,
    metadata: FeatureMetadata | None,
    excluded: set[Any],
    target: Target,
    fine: Partition,
    seed: int,
) -> StreamedPredictions:
    assert request.model is not None and request.chunk_rows is not None
    names = {str(name) for name in excluded}

    def encode(chunk: Any) -> FeatureMatrix:
        return _feature_matrix(request, chunk, metadata, names)

    def predict(matrix: FeatureMatrix) -> Predictions:
        return _predict(request, model, metadata, target, matrix)

    sample = stratified_sample(fine.cell_of_row, fine.n_cells, ROWS_PER_CELL, seed)
    return stream_predictions(
        request.data, request.encoding, request.chunk_rows, fine, target.y, encode, predict, sample
    )


def _one_cell(rows: int) -> Partition:
    """Every row in one cell: the partition of an audit without sensitive columns."""
    return Partition(np.zeros(rows, dtype=np.int64), np.zeros((1, 0), dtype=np.int64), 1)


@dataclass  # not frozen: the Check protocol's id is a plain attribute
class _SkippedCheck:
    """Stands in for a check that cannot run in this audit, so it is reported as skipped."""

    id: str
    reason: str

    def run(self, context: AuditContext) -> tuple[Finding, ...]:
        raise CheckSkipped(self.reason)


def _feature_matrix(
    request: AuditRequest, frame: Any, metadata: FeatureMetadata | None, excluded: set[str]
) -> FeatureMatrix:
    if request.text_column is not None:
        return text_feature_matrix(frame, request.text_column, request.data)
    if request.features is not None:
        return from_columns(frame, request.features, request.data, "features")
    if request.preprocessor is not None:
        transformer, _ = load_skops_object(request.preprocessor, request.trust_model)
        return from_preprocessor(frame, transformer, excluded, request.data, request.preprocessor)
    if metadata is not None:
        return from_metadata(frame, metadata, request.data)
    return from_columns(frame, default_columns(frame, excluded), request.data, "numeric-columns")


def _class_labels(model: LoadedModel, metadata: FeatureMetadata | None) -> tuple[str, ...] | None:
    if metadata and metadata.class_labels:
        return tuple(metadata.class_labels)
    return model.class_labels


def _output_kind(request: AuditRequest, metadata: FeatureMetadata | None) -> OutputKind:
    if request.output_kind == "auto" and metadata is not None and metadata.output_kind:
        return metadata.output_kind
    return request.output_kind


def _predict(
    request: AuditRequest,
    model: LoadedModel,
    metadata: FeatureMetadata | None,
    target: Target,
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
        _class_labels(model, metadata),
        target.positive_label,
        request.model,
        target.labels,
    )


def _rows_scorer(
    request: AuditRequest,
    model: LoadedModel | None,
    metadata: FeatureMetadata | None,
    excluded: set[Any],
    target: Target,
) -> Callable[[TableRows], Scored]:
    """Score another table (training rows, a holdout) exactly as the audited data."""

    def score(rows: TableRows) -> Scored:
        labels = prepare_target(rows.frame, request.target, target.positive_label, rows.source)
        if model is not None and request.model is not None:
            matrix = _feature_matrix(
                replace(request, data=rows.source),
                rows.frame,
                metadata,
                {str(name) for name in excluded},
            )
            predicted = _predict(request, model, metadata, target, matrix)
        else:
            assert request.predictions is not None  # guaranteed by _validate
            predicted = column_predictions(
                rows.frame,
                request.predictions,
                request.scores,
                target.labels,
                target.positive_label,
                rows.source,
            )
        if predicted.scores is None:
            raise UsageError(f"{rows.source}: membership inference needs scores; give --scores")
        return Scored(labels.y, predicted.scores, predicted.decisions)

    return score


def _run_checks(
    context: AuditContext, checks: Sequence[Check]
) -> tuple[tuple[Finding, ...], tuple[CheckRun, ...]]:
    findings: list[Finding] = []
    runs = []
    for check in checks:
        # Carried into the result so that every report describes a check from one source.
        info = check_table().get(check.id)
        description = info.description if info is not None else None
        try:
            found = check.run(context)
        except CheckSkipped as skip:
            runs.append(CheckRun(check.id, CheckStatus.SKIPPED, str(skip), 0, description))
            continue
        except Exception as exc:  # a crashing check is recorded; the audit goes on
            reason = f"{type(exc).__name__}: {exc}".strip()
            runs.append(CheckRun(check.id, CheckStatus.ERROR, reason, 0, description))
            continue
        findings.extend(found)
        runs.append(CheckRun(check.id, CheckStatus.OK, None, len(found), description))
    ordered = sorted(findings, key=lambda finding: (-finding.severity.rank, finding.id))
    return tuple(ordered), tuple(runs)


def resolve_policy(request: AuditRequest) -> tuple[Policy, Path | None]:
    config_file = request.config_file
    if config_file is None and request.search_config:
        config_file = find_config_file(Path.cwd())
    return load_policy(config_file, request.policy_overrides), config_file


def run_audit(request: AuditRequest, checks: Sequence[Check] | None = None) -> AuditResult:
    """Run the whole audit. Raises a ``RaiAuditError`` for bad input; never writes files.

    ``checks`` defaults to the registry ``CHECKS``, looked up at call time so that a plugin
    or a test can replace it.
    """
    if checks is None:
        checks = CHECKS
    clock = time.perf_counter()
    when = started_at()
    _validate(request)
    # Read before the audit: a bad baseline fails in a moment, not after the model has run.
    baseline: Baseline | None = (
        baseline_of(load_report(request.baseline)) if request.baseline is not None else None
    )
    policy, config_file = resolve_policy(request)
    frame = (
        read_table(request.data, request.encoding)
        if request.chunk_rows is None
        else read_columns(request.data, _first_pass_roles(request), request.encoding)
    )
    # Read now: a bad --train-data or --holdout fails before the model has run.
    members, holdout = (
        TableRows(read_table(path, request.encoding), path) if path else None
        for path in (request.train_data, request.holdout)
    )
    model: LoadedModel | None = None
    metadata: FeatureMetadata | None = None
    text_model: TextModel | None = None
    identity: IdentityTerms | None = None
    if request.model is not None and request.text_column is not None:
        text_model = load_text_model(request.model, request.device)
        model = text_model.loaded
        if request.output_kind == "auto" and text_model.metadata.output_kind:
            request = replace(request, output_kind=text_model.metadata.output_kind)
        # Read now: a bad identity terms file fails before the model has run.
        identity = load_identity(request.identity_terms, policy, config_file)
    elif request.model is not None:
        model = load_model(
            request.model, request.device, request.trust_model, request.allow_unsafe_imports
        )
        if model.metadata_text:
            metadata = parse_metadata(model.metadata_text, request.model)
    positive_label = (
        request.positive_label
        or (metadata.positive_label if metadata else None)
        or (text_model.metadata.positive_label if text_model else None)
    )
    target = prepare_target(frame, request.target, positive_label, request.data)
    sensitive = prepare_sensitive(
        frame,
        list(request.sensitive),
        parse_bins(list(request.bins)),
        policy.max_categories,
        policy.quantile_bands,
        request.data,
        max_groups=policy.max_groups,
    )
    unknown_references = sorted(set(policy.reference_groups) - set(request.sensitive))
    if unknown_references:
        raise ConfigError(
            f"reference group given for {unknown_references[0]!r}, which is not a sensitive "
            f"column; sensitive columns: {', '.join(request.sensitive)}"
        )
    excluded = {request.target, *request.sensitive, request.predictions, request.scores} - {None}
    features: FeatureMatrix | None = None
    fine = partition(sensitive) if sensitive else _one_cell(len(frame))
    slices = build_slices(sensitive, fine, policy.max_intersection)
    streamed: StreamedPredictions | None = None
    predictions: Predictions
    if model is not None and request.model is not None and request.chunk_rows is not None:
        streamed = _stream_model(request, model, metadata, excluded, target, fine, policy.seed)
        features, predictions = streamed.features, streamed.predictions
    elif model is not None and request.model is not None:
        features = _feature_matrix(request, frame, metadata, {str(name) for name in excluded})
        predictions = _predict(request, model, metadata, target, features)
    else:
        assert request.predictions is not None  # guaranteed by _validate
        predictions = column_predictions(
            frame,
            request.predictions,
            request.scores,
            target.labels,
            target.positive_label,
            request.data,
        )
    fairness = (
        fairness_from_counts(
            fine, slices, streamed.cell_counts, target.y, predictions.scores, policy
        )
        if streamed is not None
        else compute_fairness(
            fine, slices, target.y, predictions.decisions, predictions.scores, policy
        )
    )
    # The stages that need whole rows read them all, or a streamed audit's sample of them.
    rows = (
        _sampled_rows(request, streamed, sensitive, fine, target, predictions, metadata, excluded)
        if streamed is not None
        else _RowsView(frame, sensitive, fine, target.y, predictions, features)
    )
    privacy: PrivacyReport | None = None
    stage_runs: tuple[CheckRun, ...] = ()
    wants_privacy = any(check.id.startswith("privacy.") for check in checks)
    if wants_privacy and request.chunk_rows is not None and streamed is None:
        # Only the decision columns were read: a probe of the data would miss the rest.
        reason = "streamed audit of decisions (--chunk-rows with --predictions) reads no rows"
        stage_runs = (CheckRun(STAGE_ID, CheckStatus.SKIPPED, reason, 0),)
    # The privacy stage runs when a privacy check will read it.
    elif wants_privacy:
        privacy, errors = run_privacy(
            PrivacyInputs(
                policy=policy,
                frame=rows.frame,
                source=request.data,
                sensitive=rows.sensitive,
                bins=parse_bins(list(request.bins)),
                labels=rows.labels,
                scores=rows.predictions.scores,
                decisions=rows.predictions.decisions,
                model_inputs=features.columns if features else (),
                score_rows=_rows_scorer(request, model, metadata, excluded, target),
                members=members,
                holdout=holdout,
                model_file=model.extra.get("file_scan") if model else None,
            )
        )
        if errors:
            stage_runs = (CheckRun(STAGE_ID, CheckStatus.ERROR, "; ".join(errors), 0),)
    explanations: Explanations | None = None
    # The explanation stage runs when an explanation check will read it.
    if any(check.id.startswith("explain.") for check in checks):
        if not request.explain:
            explanations, explain_run = explain_skipped("turned off with --no-explain")
        elif text_model is not None:
            explanations, explain_run = explain_skipped(
                "a text model: token attributions are in the text section (docs/text-models.md)"
            )
        elif model is None or rows.features is None or request.model is None:
            explanations, explain_run = explain_skipped(
                "no model to explain: the audit reads decisions from --predictions"
            )
        else:
            explanations, explain_run = explain_stage(
                ExplainInputs(
                    model=model,
                    features=rows.features,
                    frame=rows.frame,
                    sensitive=rows.sensitive,
                    fine=rows.fine,
                    slices=slices,
                    output_kind=predictions.output_kind,
                    output_shape=predictions.output_shape,
                    class_labels=_class_labels(model, metadata),
                    target_labels=target.labels,
                    positive_label=target.positive_label,
                    model_path=request.model,
                    threshold=request.threshold,
                    batch_size=request.batch_size,
                    policy=policy,
                    samples=request.explain_samples,
                )
            )
        if explain_run.status is CheckStatus.ERROR:
            stage_runs = (*stage_runs, explain_run)
    text: TextReport | None = None
    # The text stage runs for a text model when a text check will read it.
    wants_text = any(check.id.startswith("text.") for check in checks)
    if text_model is not None and identity is not None and features is not None and wants_text:
        text, text_errors = run_text(
            text_inputs(
                text_model,
                frame,
                features.columns[0],
                [str(value) for value in features.values[:, 0]],
                target.y,
                target.labels,
                target.positive_label,
                predictions,
                request.threshold,
                request.batch_size,
                identity,
                policy,
            )
        )
        if text_errors:
            failed = CheckRun(TEXT_STAGE_ID, CheckStatus.ERROR, "; ".join(text_errors), 0)
            stage_runs = (*stage_runs, failed)
    if not sensitive:
        # No sensitive column, no group tables: the checks that read them are skipped.
        checks = [
            _SkippedCheck(
                check.id,
                "no --sensitive column: a text audit's groups come from identity terms "
                "(see the text checks)",
            )
            if check.id.startswith(("fairness.", "data."))
            else check
            for check in checks
        ]
    context = AuditContext(
        policy=policy,
        frame=frame,
        labels=target.y,
        decisions=predictions.decisions,
        scores=predictions.scores,
        sensitive=tuple(request.sensitive),
        features=features,
        model=model,
        fairness=fairness,
        accountability=AccountabilityTable(dict(policy.accountability)),
        privacy=privacy,
        explanations=explanations,
        text=text,
    )
    findings, runs = _run_checks(context, checks)
    runs = (*stage_runs, *runs)
    gate = evaluate_gate(findings, policy, baseline)
    run = RunInfo(
        started_at=when,
        duration_seconds=round(time.perf_counter() - clock, 3),
        command=request.command,
        seed=policy.seed,
        n_boot=policy.n_boot,
        confidence_level=policy.confidence_level,
        model=ModelInfo(
            kind=model.kind if model else "predictions",
            file=file_info(request.model) if request.model else None,
            trusted=model.trusted if model else False,
            output_kind=predictions.output_kind,
            output_shape=predictions.output_shape,
            threshold=request.threshold if model else None,
            positive_label=target.positive_label,
            feature_source=features.source if features else None,
            features=features.columns if features else (),
            notes=(
                (*model.notes, *predictions.notes, *_sample_note(streamed))
                if model
                else predictions.notes
            ),
        ),
        data=DataInfo(
            file=file_info(request.data),
            rows=len(frame),
            columns=streamed.columns if streamed is not None else frame.shape[1],
            target=request.target,
            sensitive=tuple(request.sensitive),
            binning={column.name: column.binning for column in sensitive if column.binning},
            unseen_categories=features.unseen_categories if features else {},
        ),
        config=policy.model_dump(mode="json"),
        config_file=str(config_file) if config_file else None,
        versions=versions(),
        platform=platform_name(),
    )
    return AuditResult(
        tool_version=tool_version(),
        run=run,
        groups=fairness.groups,
        disparities=fairness.disparities,
        findings=findings,
        checks=runs,
        gate=gate,
        privacy=privacy,
        explanations=explanations,
        text=text,
    )


__all__ = ["AuditRequest", "run_audit"]
