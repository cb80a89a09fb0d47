"""The Python API: ``run_audit(AuditRequest(...))`` returns an ``AuditResult``.

The CLI is a thin shell over this; a notebook calls it directly and renders the result with
``reports``.
"""

from __future__ import annotations

import codecs
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from audit.core.accountability import AccountabilityTable
from audit.core.causes import one_finding_per_cause
from audit.core.check_knowledge import causes
from audit.core.compare import baseline_of, load_report
from audit.core.errors import ConfigError, UsageError
from audit.core.findings import Finding
from audit.core.gate import Baseline, evaluate_gate
from audit.core.policy import Policy, find_config_file, load_policy
from audit.core.progress import Progress
from audit.core.registry import CHECKS, AuditContext, Check, CheckSkipped, check_table
from audit.core.request import AuditRequest
from audit.core.result import AuditResult, CheckRun, CheckStatus, DataInfo, ModelInfo, RunInfo
from audit.core.threads import available_cores, compute_threads
from audit.core.trail import (
    dataset_info,
    file_info,
    platform_name,
    started_at,
    tool_version,
    versions,
)
from audit.data.slices import Partition, build_slices, partition
from audit.data.table import (
    SensitiveColumn,
    Target,
    parse_bins,
    prepare_sensitive,
    prepare_target,
    read_table,
)
from audit.explain.results import Explanations
from audit.explain.stage import ExplainInputs, explain_stage
from audit.explain.stage import skipped as explain_skipped
from audit.fairness.calibration import CalibrationTable, calibration_table
from audit.fairness.tables import (
    AucSource,
    FairnessTables,
    RowScores,
    cell_confusion,
    fairness_from_counts,
)
from audit.models import LoadedModel
from audit.models.features import FeatureMatrix, FeatureMetadata
from audit.models.inference import RowScorer, class_labels, feature_matrix, load_audited_model
from audit.models.scoring import Predictions
from audit.privacy.membership import Scored
from audit.privacy.report import PrivacyReport
from audit.privacy.stage import STAGE_ID, PrivacyInputs, TableRows, run_privacy
from audit.stream.dataset import is_partitioned, partition_files
from audit.stream.run import StreamSettings, open_engine, stream_dataset
from audit.text.adapter import TextModel, load_text_model
from audit.text.identity import IdentityTerms
from audit.text.results import TextReport
from audit.text.stage import STAGE_ID as TEXT_STAGE_ID
from audit.text.stage import load_identity, run_text, text_inputs


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


@dataclass(frozen=True)
class _Audited:
    """The audited data as the stages read it.

    The row-level fields hold every row, or a streamed audit's sample; ``cell_counts``,
    ``auc`` and ``calibration`` always describe every row.
    """

    frame: Any
    target: Target
    sensitive: list[SensitiveColumn]
    fine: Partition  # cells of the whole data; ``cell_of_row`` of these rows
    predictions: Predictions
    features: FeatureMatrix | None
    cell_counts: np.ndarray  # int64 [cells, 4]
    auc: AucSource
    calibration: CalibrationTable | None  # None: decisions only
    rows: int
    columns: int
    report_features: FeatureMatrix | None  # columns, source and unseen values of all rows
    files: tuple[Path, ...]  # the data file, or the partitions read
    notes: tuple[str, ...] = ()


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


def _whole(
    request: AuditRequest,
    frame: Any,
    policy: Policy,
    positive_label: str | None,
    scorer_for: Callable[[str, tuple[str, ...]], RowScorer],
) -> _Audited:
    """Every row read at once."""
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
    fine = partition(sensitive) if sensitive else _one_cell(len(frame))
    scorer = scorer_for(target.positive_label, target.labels)
    predictions, features = scorer.score(frame, request.data)
    scores = predictions.scores
    return _Audited(
        frame=frame,
        target=target,
        sensitive=sensitive,
        fine=fine,
        predictions=predictions,
        features=features,
        cell_counts=cell_confusion(fine.cell_of_row, fine.n_cells, target.y, predictions.decisions),
        auc=RowScores(fine.cell_of_row, target.y, scores) if scores is not None else None,
        calibration=(
            calibration_table(fine.cell_of_row, fine.n_cells, target.y, scores)
            if scores is not None
            else None
        ),
        rows=len(frame),
        columns=frame.shape[1],
        report_features=features,
        files=(request.data,),
    )


def _streamed(
    request: AuditRequest,
    policy: Policy,
    positive_label: str | None,
    scorer_for: Callable[[str, tuple[str, ...]], RowScorer],
    metadata: FeatureMetadata | None,
    excluded: frozenset[str],
    progress: Progress | None,
) -> _Audited:
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
    return _Audited(
        frame=sample.frame,
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
        predictions=replace(first_predictions, decisions=sample.decisions, scores=sample.scores),
        features=(
            feature_matrix(request, sample.frame, metadata, excluded)
            if request.model is not None
            else None
        ),
        cell_counts=data.cell_counts,
        auc=data.auc,
        calibration=data.calibration,
        rows=data.rows,
        columns=data.columns,
        report_features=(
            replace(first_features, unseen_categories=data.unseen)
            if first_features is not None
            else None
        ),
        files=files,
        notes=notes,
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


def _rows_scorer(request: AuditRequest, scorer: RowScorer) -> Callable[[TableRows], Scored]:
    """Score another table (training rows, a holdout) exactly as the audited data."""

    def score(rows: TableRows) -> Scored:
        labels = prepare_target(rows.frame, request.target, scorer.positive_label, rows.source)
        predicted, _ = scorer.score(rows.frame, rows.source)
        if predicted.scores is None:
            raise UsageError(f"{rows.source}: membership inference needs scores; give --scores")
        return Scored(labels.y, predicted.scores, predicted.decisions)

    return score


def _run_checks(
    context: AuditContext, checks: Sequence[Check]
) -> tuple[tuple[Finding, ...], tuple[CheckRun, ...]]:
    findings: list[Finding] = []
    # In check order: a finished run, or the id and description of a check that ran and
    # whose counts wait for the judgement of causes.
    outcomes: list[CheckRun | tuple[str, str | None]] = []
    for check in checks:
        # Carried into the result so that every report describes a check from one source.
        info = check_table().get(check.id)
        description = info.description if info is not None else None
        try:
            found = check.run(context)
        except CheckSkipped as skip:
            outcomes.append(CheckRun(check.id, CheckStatus.SKIPPED, str(skip), 0, description))
            continue
        except Exception as exc:  # a crashing check is recorded; the audit goes on
            reason = f"{type(exc).__name__}: {exc}".strip()
            outcomes.append(CheckRun(check.id, CheckStatus.ERROR, reason, 0, description))
            continue
        findings.extend(found)
        outcomes.append((check.id, description))
    judged = one_finding_per_cause(findings, causes(), context.policy.headline_order)
    headed = Counter(finding.check for finding in judged.findings)
    runs = tuple(
        outcome
        if isinstance(outcome, CheckRun)
        else CheckRun(
            outcome[0],
            CheckStatus.OK,
            None,
            headed[outcome[0]],
            outcome[1],
            violations=judged.violations.get(outcome[0], 0),
        )
        for outcome in outcomes
    )
    return judged.findings, runs


def resolve_policy(request: AuditRequest) -> tuple[Policy, Path | None]:
    config_file = request.config_file
    if config_file is None and request.search_config:
        config_file = find_config_file(Path.cwd())
    return load_policy(config_file, request.policy_overrides), config_file


def _rounded_up(value: float) -> str:
    """``value`` with two significant digits, rounded up: a bound must not be understated."""
    exponent = math.floor(math.log10(value))
    return f"{math.ceil(value / 10.0 ** (exponent - 1)) / 10:.1f}e{exponent:+03d}"


def _sketch_note(fairness: FairnessTables, policy: Policy) -> tuple[str, ...]:
    if fairness.auc_max_error == 0:
        return ()
    return (
        f"ROC AUC from a score sketch (more than exact_auc_rows = {policy.exact_auc_rows} rows): "
        f"each value is at most {_rounded_up(fairness.auc_max_error)} from the exact one",
    )


def run_audit(
    request: AuditRequest,
    checks: Sequence[Check] | None = None,
    progress: Progress | None = None,
) -> AuditResult:
    """Run the whole audit. Raises a ``RaiAuditError`` for bad input; never writes files.

    ``checks`` defaults to the registry ``CHECKS``, looked up at call time so that a plugin
    or a test can replace it. ``progress`` hears how far a streamed audit's passes are.
    torch and BLAS compute on ``request.threads`` cores (default: all) until it returns.
    """
    clock = time.perf_counter()
    when = started_at()
    _validate(request)
    threads = request.threads or available_cores()
    with compute_threads(threads):
        return _audit(request, CHECKS if checks is None else checks, progress, threads, clock, when)


def _audit(
    request: AuditRequest,
    checks: Sequence[Check],
    progress: Progress | None,
    threads: int,
    clock: float,
    when: str,
) -> AuditResult:
    # Read before the audit: a bad baseline fails in a moment, not after the model has run.
    baseline: Baseline | None = (
        baseline_of(load_report(request.baseline)) if request.baseline is not None else None
    )
    policy, config_file = resolve_policy(request)
    streamed = _is_streamed(request)
    # Read now (a streamed audit reads later, in passes): bad data fails before the model runs.
    frame = None if streamed else read_table(request.data, request.encoding, sep=request.sep)
    # Read now: a bad --train-data or --holdout fails before the model has run.
    members, holdout = (
        TableRows(read_table(path, request.encoding, sep=request.sep), path) if path else None
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
        model, metadata = load_audited_model(request)
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
        return RowScorer(request, positive_label, target_labels, excluded, model, metadata)

    audited = (
        _whole(request, frame, policy, positive_label, scorer_for)
        if frame is not None
        else _streamed(request, policy, positive_label, scorer_for, metadata, excluded, progress)
    )
    target, sensitive, fine = audited.target, audited.sensitive, audited.fine
    predictions, features = audited.predictions, audited.features
    slices = build_slices(sensitive, fine, policy.max_intersection)
    fairness = fairness_from_counts(
        fine.n_cells,
        slices,
        audited.cell_counts,
        audited.auc,
        audited.calibration,
        policy,
        threads,
        progress,
    )
    privacy: PrivacyReport | None = None
    stage_runs: tuple[CheckRun, ...] = ()
    wants_privacy = any(check.id.startswith("privacy.") for check in checks)
    # The privacy stage runs when a privacy check will read it.
    if wants_privacy:
        privacy, errors = run_privacy(
            PrivacyInputs(
                policy=policy,
                frame=audited.frame,
                source=request.data,
                sensitive=sensitive,
                bins=parse_bins(list(request.bins)),
                labels=target.y,
                scores=predictions.scores,
                decisions=predictions.decisions,
                model_inputs=features.columns if features else (),
                score_rows=_rows_scorer(request, scorer_for(target.positive_label, target.labels)),
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
        elif model is None or features is None or request.model is None:
            explanations, explain_run = explain_skipped(
                "no model to explain: the audit reads decisions from --predictions"
            )
        else:
            explanations, explain_run = explain_stage(
                ExplainInputs(
                    model=model,
                    features=features,
                    frame=audited.frame,
                    sensitive=sensitive,
                    fine=fine,
                    slices=slices,
                    output_kind=predictions.output_kind,
                    output_shape=predictions.output_shape,
                    class_labels=class_labels(model, metadata),
                    target_labels=target.labels,
                    positive_label=target.positive_label,
                    model_path=request.model,
                    threshold=request.threshold,
                    batch_size=request.batch_size,
                    policy=policy,
                    samples=request.explain_samples,
                    threads=threads,
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
                audited.frame,
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
        frame=audited.frame,
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
                *(model.notes if model else ()),
                *predictions.notes,
                *audited.notes,
                *_sketch_note(fairness, policy),
            ),
        ),
        data=DataInfo(
            file=dataset_info(request.data, audited.files),
            rows=audited.rows,
            columns=audited.columns,
            target=request.target,
            sensitive=tuple(request.sensitive),
            binning={column.name: column.binning for column in sensitive if column.binning},
            unseen_categories=(
                audited.report_features.unseen_categories if audited.report_features else {}
            ),
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
