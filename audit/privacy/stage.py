"""The privacy stage of an audit: runs once, before the checks, which read its report.

Each part (PII scan, membership inference, attribute inference) that cannot run records
why; one that crashes is recorded as an error of the stage and the others still run.
Input errors in ``--train-data`` or ``--holdout`` (a missing column, one class only) are
the user's to fix and are raised like any other input error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from audit.core.policy import Policy
from audit.core.prepared import PreparedAudit
from audit.core.stage import Need, StageOutcome
from audit.core.stage_guard import guarded
from audit.data.table import SensitiveColumn, TableRows, prepare_sensitive
from audit.privacy.attribute_inference import attribute_inference
from audit.privacy.membership import GroupCodes, Scored, membership_inference
from audit.privacy.pii import scan_frame
from audit.privacy.report import (
    AttributeInferenceResult,
    MembershipResult,
    ModelFileScan,
    PiiScan,
    PrivacyReport,
)

STAGE_ID = "privacy"


@dataclass(frozen=True)
class PrivacyInputs:
    policy: Policy
    frame: pd.DataFrame
    source: Path
    sensitive: Sequence[SensitiveColumn]
    bins: dict[str, list[float]]
    labels: np.ndarray
    scores: np.ndarray | None
    decisions: np.ndarray
    model_inputs: tuple[str, ...]
    score_rows: Callable[[TableRows], Scored] | None  # None without a model or scores
    members: TableRows | None = None
    holdout: TableRows | None = None
    model_file: ModelFileScan | None = None


def _membership_groups(
    inputs: PrivacyInputs, members: pd.DataFrame, nonmembers: pd.DataFrame
) -> tuple[list[GroupCodes], list[str]]:
    names = [column.name for column in inputs.sensitive]
    present = [name for name in names if name in members.columns and name in nonmembers.columns]
    notes = [
        f"no per-group figures for {name!r}: the column is not in both member and non-member data"
        for name in names
        if name not in present
    ]
    if not present:
        return [], notes
    both = pd.concat([members[present], nonmembers[present]], ignore_index=True)
    prepared = prepare_sensitive(
        both,
        present,
        {name: edges for name, edges in inputs.bins.items() if name in present},
        inputs.policy.max_categories,
        inputs.policy.quantile_bands,
        inputs.source,
        max_groups=inputs.policy.max_groups,
    )
    split = len(members)
    groups = [
        GroupCodes(column.name, column.groups, column.codes[:split], column.codes[split:])
        for column in prepared
    ]
    return groups, notes


def _membership(inputs: PrivacyInputs) -> MembershipResult:
    if inputs.members is None:
        return MembershipResult(
            status="skipped",
            reason="no --train-data: give the rows the model was trained on to test "
            "whether its output gives them away",
        )
    if inputs.score_rows is None or inputs.scores is None:
        return MembershipResult(
            status="skipped",
            reason="membership inference needs the model's scores: audit a model, or give "
            "--scores with --predictions",
        )
    members = inputs.score_rows(inputs.members)
    if inputs.holdout is not None:
        nonmembers = inputs.score_rows(inputs.holdout)
        nonmember_frame, source = inputs.holdout.frame, "holdout"
    else:
        # The audited data stands in for unseen rows: it should be a test split.
        nonmembers = Scored(inputs.labels, inputs.scores, inputs.decisions)
        nonmember_frame, source = inputs.frame, "audited data"
    groups, notes = _membership_groups(inputs, inputs.members.frame, nonmember_frame)
    result = membership_inference(
        members,
        nonmembers,
        source,
        groups,
        n_boot=inputs.policy.n_boot,
        confidence_level=inputs.policy.confidence_level,
        seed=inputs.policy.seed,
        min_group_size=inputs.policy.min_group_size,
    )
    return replace(result, notes=tuple(notes))


def _attributes(inputs: PrivacyInputs) -> AttributeInferenceResult:
    return attribute_inference(
        inputs.scores,
        inputs.decisions,
        inputs.sensitive,
        n_boot=inputs.policy.n_boot,
        confidence_level=inputs.policy.confidence_level,
        seed=inputs.policy.seed,
        min_group_size=inputs.policy.min_group_size,
    )


def run_privacy(inputs: PrivacyInputs) -> tuple[PrivacyReport, list[str]]:
    """The privacy report and, per crashed part, one line for the stage's error record."""
    errors: list[str] = []
    pii = guarded(
        "pii",
        errors,
        PiiScan(status="skipped", rows=len(inputs.frame)),
        lambda: scan_frame(
            inputs.frame,
            inputs.policy.seed,
            model_inputs=inputs.model_inputs,
            sensitive=[column.name for column in inputs.sensitive],
        ),
    )
    membership = guarded(
        "membership", errors, MembershipResult(status="skipped"), lambda: _membership(inputs)
    )
    attributes = guarded(
        "attribute_inference",
        errors,
        AttributeInferenceResult(status="skipped"),
        lambda: _attributes(inputs),
    )
    return PrivacyReport(pii, membership, attributes, inputs.model_file), errors


class PrivacyStage:
    """PII in the data, membership and attribute inference, unsafe model files."""

    id = STAGE_ID
    required = False
    needs: tuple[Need, ...] = ()

    def runs_model(self, prepared: PreparedAudit) -> bool:
        # Only membership inference runs the model, on the training and holdout rows.
        return prepared.data.members is not None or prepared.data.holdout is not None

    def run(self, prepared: PreparedAudit, reports: Mapping[str, object]) -> StageOutcome:
        data, model = prepared.data, prepared.model
        report, errors = run_privacy(
            PrivacyInputs(
                policy=prepared.policy,
                frame=data.frame,
                source=data.file,
                sensitive=data.sensitive,
                bins=data.bins,
                labels=data.target.y,
                scores=model.predictions.scores,
                decisions=model.predictions.decisions,
                model_inputs=model.features.columns if model.features else (),
                score_rows=model.score_rows,
                members=data.members,
                holdout=data.holdout,
                model_file=model.loaded.extra.get("file_scan") if model.loaded else None,
            )
        )
        return StageOutcome(report, tuple(errors))

    def skipped(self, reason: str) -> None:
        return None
