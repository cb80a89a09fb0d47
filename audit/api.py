"""The Python API: ``run_audit(AuditRequest(...))`` returns an ``AuditResult``.

The CLI is a thin shell over this; a notebook calls it directly and renders the result with
``reports``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audit.accountability import AccountabilityTable
from audit.checks import CHECKS, AuditContext, Check, CheckSkipped
from audit.errors import ConfigError, UsageError
from audit.fairness import compute_fairness
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
from audit.gate import evaluate_gate
from audit.models import LoadedModel, load_model
from audit.models.sklearn_models import load_skops_object
from audit.policy import Policy, find_config_file, load_policy
from audit.result import AuditResult, CheckRun, CheckStatus, DataInfo, ModelInfo, RunInfo
from audit.scoring import OutputKind, Predictions, column_predictions, model_predictions, raw_output
from audit.slices import build_slices, partition
from audit.table import parse_bins, prepare_sensitive, prepare_target, read_table
from audit.trail import file_info, platform_name, started_at, tool_version, versions


@dataclass(frozen=True)
class AuditRequest:
    """What to audit and how; every field has the CLI flag of the same name."""

    data: Path
    target: str
    sensitive: tuple[str, ...]
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

    def input_paths(self) -> list[Path]:
        return [
            path for path in (self.data, self.model, self.preprocessor, self.config_file) if path
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
    if not request.sensitive:
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


def _feature_matrix(
    request: AuditRequest, frame: Any, metadata: FeatureMetadata | None, excluded: set[str]
) -> FeatureMatrix:
    if request.features is not None:
        return from_columns(frame, request.features, request.data, "features")
    if request.preprocessor is not None:
        transformer, _ = load_skops_object(request.preprocessor, request.trust_model)
        return from_preprocessor(frame, transformer, excluded, request.data, request.preprocessor)
    if metadata is not None:
        return from_metadata(frame, metadata, request.data)
    return from_columns(frame, default_columns(frame, excluded), request.data, "numeric-columns")


def _run_checks(
    context: AuditContext, checks: Sequence[Check]
) -> tuple[tuple[Finding, ...], tuple[CheckRun, ...]]:
    findings: list[Finding] = []
    runs = []
    for check in checks:
        try:
            found = check.run(context)
        except CheckSkipped as skip:
            runs.append(CheckRun(check.id, CheckStatus.SKIPPED, str(skip), 0))
            continue
        except Exception as exc:  # a crashing check is recorded; the audit goes on
            reason = f"{type(exc).__name__}: {exc}".strip()
            runs.append(CheckRun(check.id, CheckStatus.ERROR, reason, 0))
            continue
        findings.extend(found)
        runs.append(CheckRun(check.id, CheckStatus.OK, None, len(found)))
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
    policy, config_file = resolve_policy(request)
    frame = read_table(request.data, request.encoding)
    model: LoadedModel | None = None
    metadata: FeatureMetadata | None = None
    if request.model is not None:
        model = load_model(request.model, request.device, request.trust_model)
        if model.metadata_text:
            metadata = parse_metadata(model.metadata_text, request.model)
    positive_label = request.positive_label or (metadata.positive_label if metadata else None)
    target = prepare_target(frame, request.target, positive_label, request.data)
    sensitive = prepare_sensitive(
        frame,
        list(request.sensitive),
        parse_bins(list(request.bins)),
        policy.max_categories,
        policy.quantile_bands,
        request.data,
    )
    unknown_references = sorted(set(policy.reference_groups) - set(request.sensitive))
    if unknown_references:
        raise ConfigError(
            f"reference group given for {unknown_references[0]!r}, which is not a sensitive "
            f"column; sensitive columns: {', '.join(request.sensitive)}"
        )
    excluded = {request.target, *request.sensitive, request.predictions, request.scores} - {None}
    features: FeatureMatrix | None = None
    if model is not None and request.model is not None:
        features = _feature_matrix(request, frame, metadata, {str(name) for name in excluded})
        class_labels = (
            tuple(metadata.class_labels)
            if metadata and metadata.class_labels
            else model.class_labels
        )
        kind: OutputKind = request.output_kind
        if kind == "auto" and metadata is not None and metadata.output_kind is not None:
            kind = metadata.output_kind
        output = raw_output(
            model,
            features.values,
            request.batch_size,
            request.model,
            columns=features.columns,
            feature_source=features.source,
        )
        predictions: Predictions = model_predictions(
            output,
            kind,
            request.threshold,
            class_labels,
            target.positive_label,
            request.model,
            target.labels,
        )
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
    fine = partition(sensitive)
    slices = build_slices(sensitive, fine, policy.max_intersection)
    fairness = compute_fairness(
        fine, slices, target.y, predictions.decisions, predictions.scores, policy
    )
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
    )
    findings, runs = _run_checks(context, checks)
    gate = evaluate_gate(findings, policy)
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
            notes=(*model.notes, *predictions.notes) if model else predictions.notes,
        ),
        data=DataInfo(
            file=file_info(request.data),
            rows=len(frame),
            columns=frame.shape[1],
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
    )


__all__ = ["AuditRequest", "run_audit"]
