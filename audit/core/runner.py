"""The core manager: the registered stages over the prepared audit, then the checks, the
judgement of causes and the gate, assembled into one ``AuditResult``."""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TypeVar

from audit.core.accountability import AccountabilityTable
from audit.core.check import AuditContext, Check
from audit.core.errors import RaiAuditError
from audit.core.gate import evaluate_gate
from audit.core.judge import run_checks
from audit.core.knowledge import audit_knowledge
from audit.core.prepared import PreparedAudit
from audit.core.result import AuditResult, CheckRun, CheckStatus, DataInfo, ModelInfo, RunInfo
from audit.core.stage import Stage, StageOutcome
from audit.core.threads import compute_threads
from audit.core.trail import TrailDigests, platform_name, tool_version, versions
from audit.datafit.results import DataFitReport
from audit.datafit.stage import STAGE_ID as DATA_FIT
from audit.explain.results import Explanations
from audit.explain.stage import STAGE_ID as EXPLAIN
from audit.fairness.stage import STAGE_ID as FAIRNESS
from audit.fairness.tables import FairnessTables
from audit.mitigation.results import WhatIf
from audit.mitigation.stage import STAGE_ID as WHAT_IF
from audit.privacy.report import PrivacyReport
from audit.privacy.stage import STAGE_ID as PRIVACY
from audit.regulatory.results import LL144Pack
from audit.regulatory.stage import STAGE_ID as LL144
from audit.robustness.results import Robustness
from audit.robustness.stage import STAGE_ID as ROBUSTNESS
from audit.text.results import TextReport
from audit.text.stage import STAGE_ID as TEXT

Report = TypeVar("Report")

# The name of the thread the table stages run on (profilers tell the lanes apart by it).
TABLE_LANE = "rai-tables"


def _outcome(stage: Stage, prepared: PreparedAudit, reports: dict[str, object]) -> StageOutcome:
    """What ``stage`` reports: skipped for its first unmet need; a crash is its error."""
    for need in stage.needs:
        if not need.met(prepared):
            return StageOutcome(stage.skipped(need.reason))
    try:
        return stage.run(prepared, reports)
    except RaiAuditError:
        raise  # the user's input, to fix: it stops the audit like any other input error
    except Exception as exc:  # a crashing stage is recorded; the audit goes on
        return StageOutcome(None, (f"{type(exc).__name__}: {exc}".strip(),))


def _run_lane(
    prepared: PreparedAudit, stages: Sequence[Stage]
) -> tuple[dict[str, object], dict[str, StageOutcome]]:
    """Each stage's report by id, and each stage's outcome: the stages one after another,
    each seeing the reports of those before it."""
    reports: dict[str, object] = {}
    outcomes: dict[str, StageOutcome] = {}
    for stage in stages:
        outcome = outcomes[stage.id] = _outcome(stage, prepared, reports)
        if outcome.report is not None:
            reports[stage.id] = outcome.report
    return reports, outcomes


def _runs_model(stage: Stage, prepared: PreparedAudit) -> bool:
    """Whether ``stage`` runs the model in this audit; a stage without the method (a plugin
    written before it) is taken to."""
    runs_model = getattr(stage, "runs_model", None)
    return runs_model is None or bool(runs_model(prepared))


def run_stages(
    prepared: PreparedAudit, stages: Sequence[Stage], checks: Sequence[Check]
) -> tuple[dict[str, object], tuple[CheckRun, ...], tuple[str, ...]]:
    """Each stage's report by id, the error records of stages that crashed, stage notes.

    A stage runs when it is required or a check needs it, in registry order within its lane
    (audit.core.stage). With more than one thread, the stages that only read the prepared
    tables run on a thread of their own, told to use one core, while the stages that run the
    model keep the audit's threads for their own splitting: the table stages use the time the
    model lane spends in torch and NumPy, which release the GIL. While both lanes run, torch
    and BLAS compute on one thread each: a lane's intra-op pool as wide as the machine would
    wait on the other lane's core (on 2 cores the model lane's small batches took up to 10x
    longer, and the whole 1M-row audit about 10% longer). Each stage takes its random steps from
    the policy's seed and sees only its own lane's reports, so the result does not depend on
    the thread count or on which lane ends first.
    """
    needed = {stage_id for check in checks for stage_id in check.needs}
    running = [stage for stage in stages if stage.required or stage.id in needed]
    runs_model = {stage.id: _runs_model(stage, prepared) for stage in running}
    beside = [stage for stage in running if not runs_model[stage.id]]
    inline = [stage for stage in running if runs_model[stage.id]]
    if prepared.settings.threads > 1 and beside and inline:
        one_core = replace(prepared, settings=replace(prepared.settings, threads=1))
        with compute_threads(1), ThreadPoolExecutor(1, thread_name_prefix=TABLE_LANE) as pool:
            tables = pool.submit(_run_lane, one_core, beside)
            model_reports, model_outcomes = _run_lane(prepared, inline)
            table_reports, table_outcomes = tables.result()
    else:
        model_reports, model_outcomes = _run_lane(prepared, inline)
        table_reports, table_outcomes = _run_lane(prepared, beside)
    outcomes = {**model_outcomes, **table_outcomes}
    reports = {**model_reports, **table_reports}
    failures: list[CheckRun] = []
    notes: list[str] = []
    for stage in running:  # registry order, whichever lane ran the stage
        outcome = outcomes[stage.id]
        if outcome.errors:
            failures.append(CheckRun(stage.id, CheckStatus.ERROR, "; ".join(outcome.errors), 0))
        notes.extend(outcome.notes)
    return (
        {stage.id: reports[stage.id] for stage in running if stage.id in reports},
        tuple(failures),
        tuple(notes),
    )


def _section(reports: dict[str, object], stage_id: str, kind: type[Report]) -> Report | None:
    """The report of ``stage_id`` for the result's section of that name."""
    report = reports.get(stage_id)
    return report if isinstance(report, kind) else None


def run_prepared(
    prepared: PreparedAudit,
    stages: Sequence[Stage],
    checks: Sequence[Check],
    started_at: str,
    clock: float,
    digests: TrailDigests,
) -> AuditResult:
    """The audit of ``prepared``; ``clock`` is ``time.perf_counter()`` when it began and
    ``digests`` hash its data and model files for the trail."""
    data, model, settings = prepared.data, prepared.model, prepared.settings
    loaded, predictions, features = model.loaded, model.predictions, model.features
    reports, failures, stage_notes = run_stages(prepared, stages, checks)
    data_info, model_info = digests.data(), digests.model()
    fairness = _section(reports, FAIRNESS, FairnessTables)
    if fairness is None:
        raise TypeError("the registered stages must include the fairness stage")
    accountability = AccountabilityTable(dict(settings.policy.accountability))
    context = AuditContext(
        policy=settings.policy,
        frame=data.frame,
        labels=data.target.y,
        decisions=model.predictions.decisions,
        scores=model.predictions.scores,
        sensitive=data.sensitive_columns,
        features=model.features,
        model=model.loaded,
        accountability=accountability,
        reports=reports,
    )
    verdicts = run_checks(context, checks)
    run = RunInfo(
        started_at=started_at,
        duration_seconds=round(time.perf_counter() - clock, 3),
        command=settings.command,
        seed=settings.policy.seed,
        n_boot=settings.policy.n_boot,
        confidence_level=settings.policy.confidence_level,
        model=ModelInfo(
            kind=loaded.kind if loaded else "predictions",
            file=model_info,
            trusted=loaded.trusted if loaded else False,
            output_kind=predictions.output_kind,
            output_shape=predictions.output_shape,
            threshold=settings.threshold if loaded else None,
            positive_label=data.target.positive_label,
            feature_source=features.source if features else None,
            features=features.columns if features else (),
            notes=(
                *(loaded.notes if loaded else ()),
                *predictions.notes,
                *data.notes,
                *stage_notes,
            ),
        ),
        data=DataInfo(
            file=data_info,
            rows=data.rows,
            columns=data.columns,
            target=data.target_column,
            sensitive=data.sensitive_columns,
            binning={column.name: column.binning for column in data.sensitive if column.binning},
            unseen_categories=(
                model.report_features.unseen_categories if model.report_features else {}
            ),
        ),
        config=settings.policy.model_dump(mode="json"),
        config_file=str(settings.config_file) if settings.config_file else None,
        versions=versions(loaded.runtime if loaded else ()),
        platform=platform_name(),
    )
    return AuditResult(
        tool_version=tool_version(),
        run=run,
        groups=fairness.groups,
        disparities=fairness.disparities,
        findings=verdicts.findings,
        checks=(*failures, *verdicts.runs),
        gate=evaluate_gate(verdicts.findings, settings.policy, settings.baseline),
        privacy=_section(reports, PRIVACY, PrivacyReport),
        explanations=_section(reports, EXPLAIN, Explanations),
        text=_section(reports, TEXT, TextReport),
        what_if=_section(reports, WHAT_IF, WhatIf),
        ll144=_section(reports, LL144, LL144Pack),
        robustness=_section(reports, ROBUSTNESS, Robustness),
        data_fit=_section(reports, DATA_FIT, DataFitReport),
        comparisons=verdicts.comparisons,
        knowledge=audit_knowledge(checks, accountability),
    )
