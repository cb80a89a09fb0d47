"""The robustness stage: are decisions stable under realistic perturbations, for every group,
and is recourse equally far for every group?

It reads the rows the explanation stage explains (the same seeded stratified sample, so a
streamed audit's reservoir sample too), perturbs the model's own columns and re-scores them in
one batch, then searches recourse for the rejected ones. It fails soft like the explanation
stage: a part that crashes is recorded as the stage's error and the audit goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence, Set
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from audit.core.errors import ConfigError
from audit.core.policy import Policy
from audit.core.prepared import PreparedAudit
from audit.core.stage import Need, StageOutcome
from audit.explain.captum_attributions import TorchForward, torch_forward
from audit.explain.results import Explanations
from audit.explain.sampling import BACKGROUND_ROWS, generator, stratified_sample
from audit.explain.score import model_function
from audit.explain.stage import STAGE_ID as EXPLAIN
from audit.models.features import CategoricalInput, mismatched_rows
from audit.models.inference import class_labels
from audit.models.positive_score import positive_score
from audit.models.torch_models import TorchAdapter
from audit.robustness.gradient_recourse import affine_inputs, gradient_search
from audit.robustness.groups import Grouping, gaps, group_values, weighted_mean, weighted_median
from audit.robustness.perturb import (
    PerturbationPlan,
    is_numeric,
    perturbation_plan,
    perturbed_rows,
)
from audit.robustness.recourse import Found, Lever, cheaper, lever_of, search
from audit.robustness.results import ActionableColumn, Recourse, Robustness, Stability

STAGE_ID = "robustness"
# Random streams of their own, clear of the explanation stage's (audit.explain.sampling).
STREAM_PERTURB, STREAM_STABILITY_BOOT, STREAM_RECOURSE_BOOT = 16, 17, 18
FLIP_RATE, SCORE_CHANGE = "flip_rate", "mean_abs_score_change"
RECOURSE_SHARE, RECOURSE_COST = "recourse_share", "recourse_cost"


@dataclass(frozen=True)
class _Rows:
    """The explained rows and what every summary of them needs."""

    frame: pd.DataFrame  # the explained rows, every column
    weights: np.ndarray  # data rows each stands for
    groupings: tuple[Grouping, ...]
    policy: Policy


@dataclass(frozen=True)
class _Scoring:
    """How recourse scores a changed row: through the model's encoding and adapter, and by
    gradients of its encoded input where the model has them."""

    score_rows: Callable[[pd.DataFrame], np.ndarray]
    encode: Callable[[pd.DataFrame], np.ndarray]
    encoded: np.ndarray  # float32 [explained rows, width]: their model input
    forward: TorchForward | str | None  # None: not a torch model; str: why no gradients


def _encodable(prepared: PreparedAudit) -> bool:
    features = prepared.model.features
    return features is not None and features.encode is not None


class RobustnessStage:
    """Decision stability under perturbation, and recourse, per group."""

    id = STAGE_ID
    required = False
    needs: tuple[Need, ...] = (
        Need(
            "a tabular model",
            lambda prepared: prepared.model.text is None,
            "a text model: perturbing its inputs is the text section's counterfactuals",
        ),
        Need(
            "a model",
            lambda prepared: prepared.model.loaded is not None,
            "no model to perturb: the audit reads decisions from --predictions",
        ),
        Need(
            "a model input built from the table",
            _encodable,
            "the model's input cannot be rebuilt from the table's columns",
        ),
    )

    def runs_model(self, prepared: PreparedAudit) -> bool:
        return True

    def run(self, prepared: PreparedAudit, reports: Mapping[str, object]) -> StageOutcome:
        try:
            result = robustness(prepared, reports.get(EXPLAIN))
        except ConfigError:
            raise  # the policy names a column the data lacks: the user's to fix
        except Exception as exc:  # the model or its encoder failed on perturbed rows
            reason = f"{type(exc).__name__}: {exc}".strip()
            return StageOutcome(Robustness(status="error", reason=reason), (reason,))
        return StageOutcome(result)

    def skipped(self, reason: str) -> Robustness:
        return Robustness(status="skipped", reason=reason)


def _named_columns(policy: Policy, frame: pd.DataFrame) -> None:
    settings = policy.robustness
    for key, names in (
        ("immutable", settings.immutable),
        ("actionable", list(settings.actionable)),
        ("precision", list(settings.precision)),
    ):
        for name in names:
            if name not in frame.columns:
                raise ConfigError(
                    f"policy [robustness] {key} names the column {name!r}, which the data does "
                    "not have; name a column of the data or remove it (docs/robustness.md)"
                )


def robustness(prepared: PreparedAudit, explained: object) -> Robustness:
    data, model, settings = prepared.data, prepared.model, prepared.settings
    policy = settings.policy
    features = model.features
    assert model.loaded is not None and features is not None and features.encode is not None
    _named_columns(policy, data.frame)
    score = positive_score(
        model.predictions.output_kind,
        model.predictions.output_shape,
        class_labels(model.loaded, model.metadata),
        data.target.labels,
        data.target.positive_label,
        model.file or data.file,
        model.predictions.model_class,
    )
    function = model_function(model.loaded, score, settings.batch_size)
    # The explanation stage's rows: the same call on the same partition and seed.
    sample = stratified_sample(
        data.fine.cell_of_row,
        data.fine.n_cells,
        settings.explain_samples,
        BACKGROUND_ROWS,
        policy.seed,
    )
    cells = data.fine.cell_of_row[sample.rows]
    groupings = tuple(
        Grouping(
            item.features[0], tuple(label[0] for label in item.labels), item.group_of_cell[cells]
        )
        for item in data.slices
        if len(item.features) == 1
    )
    copies = (
        explained.encoded_copies
        if isinstance(explained, Explanations) and explained.status == "ok"
        else ()
    )
    held = frozenset(
        {*data.sensitive_columns, *policy.robustness.immutable}
        | {column for copy in copies for column in copy.columns}
    )
    frame = data.frame.iloc[sample.rows]
    encoded = np.asarray(features.encode(frame), dtype=np.float32)
    if mismatched_rows(encoded, features.values[sample.rows]) is not None:
        raise RuntimeError(
            "re-encoding the explained rows does not reproduce the model's input, so "
            "perturbed rows could not be compared"
        )
    categorical = _categorical_columns(prepared)
    plan = perturbation_plan(
        data.codes, features.columns, held, categorical, policy.robustness, policy.max_categories
    )
    perturbed = perturbed_rows(frame, plan, generator(policy.seed, STREAM_PERTURB))
    # The rows as they are and every perturbed copy, scored in one batch.
    scored = function(np.vstack([encoded, np.asarray(features.encode(perturbed), np.float32)]))
    base, copies_scores = scored[: len(frame)], scored[len(frame) :].reshape(len(frame), -1)
    rows = _Rows(frame, sample.weights, groupings, policy)
    threshold = settings.threshold

    encode = features.encode

    def score_rows(changed: pd.DataFrame) -> np.ndarray:
        return function(np.asarray(encode(changed), dtype=np.float32))

    forward = (
        torch_forward(model.loaded, score, encoded.shape[1])
        if isinstance(model.loaded.adapter, TorchAdapter)
        else None
    )

    return Robustness(
        status="ok",
        explained=score.describe(data.target.positive_label),
        rows=len(frame),
        threshold=threshold,
        stability=_stability(
            rows, plan, held & set(features.columns), base, copies_scores, threshold
        ),
        recourse=_recourse(
            rows,
            data.frame,
            features.columns,
            held,
            categorical,
            base,
            threshold,
            _Scoring(score_rows, encode, encoded, forward),
        ),
    )


def _categorical_columns(prepared: PreparedAudit) -> frozenset[str]:
    """Columns the model's own encoding reads as categories, whatever their type."""
    metadata = prepared.model.metadata
    if metadata is None:
        return frozenset()
    return frozenset(
        spec.column for spec in metadata.features if isinstance(spec, CategoricalInput)
    )


def _boot(rows: _Rows, stream: int) -> np.ndarray:
    policy = rows.policy
    return (
        generator(policy.seed, stream)
        .poisson(1.0, (policy.n_boot, len(rows.frame)))
        .astype(np.float64)
    )


def _subset(rows: _Rows, members: np.ndarray) -> _Rows:
    return _Rows(
        rows.frame.iloc[members],
        rows.weights[members],
        tuple(
            Grouping(grouping.feature, grouping.labels, grouping.group_of_row[members])
            for grouping in rows.groupings
        ),
        rows.policy,
    )


def _stability(
    rows: _Rows,
    plan: PerturbationPlan,
    held: Set[str],
    base: np.ndarray,
    perturbed: np.ndarray,
    threshold: float,
) -> Stability:
    """Per row, the share of its perturbed copies decided otherwise and their mean |score
    change|; per group, their weighted means."""
    policy = rows.policy
    flipped = ((perturbed >= threshold) != (base >= threshold)[:, None]).mean(axis=1)
    change = np.abs(perturbed - base[:, None]).mean(axis=1)
    boot = _boot(rows, STREAM_STABILITY_BOOT)
    level = policy.confidence_level
    found = {}
    for metric, values in ((FLIP_RATE, flipped), (SCORE_CHANGE, change)):
        found[metric] = group_values(
            values,
            rows.weights,
            boot,
            rows.groupings,
            weighted_mean,
            policy.min_group_size,
            level,
            "explained rows",
        )
    return Stability(
        status="ok",
        rows=len(rows.frame),
        perturbations=plan.per_row,
        columns=plan.described,
        held=tuple(sorted(held)),
        flip_rate=float(weighted_mean(flipped, rows.weights[None, :])[0]),
        flip_rates=tuple(found[FLIP_RATE][0]),
        score_changes=tuple(found[SCORE_CHANGE][0]),
        gaps=(
            *gaps(FLIP_RATE, found[FLIP_RATE][0], found[FLIP_RATE][1], level),
            *gaps(SCORE_CHANGE, found[SCORE_CHANGE][0], found[SCORE_CHANGE][1], level),
        ),
    )


def _levers(
    data: pd.DataFrame,
    model_columns: Sequence[str],
    held: Set[str],
    categorical: Set[str],
    rows: _Rows,
) -> tuple[list[Lever], list[str]]:
    """The policy's actionable columns that can move, and why each of the others cannot."""
    settings = rows.policy.robustness
    levers, notes = [], []
    for column, direction in settings.actionable.items():
        if column in held:
            notes.append(f"{column} is sensitive or immutable, so it never moves")
        elif column not in model_columns:
            notes.append(f"{column} is not a model input, so moving it changes no decision")
        elif column in categorical or not is_numeric(data[column], rows.policy.max_categories):
            notes.append(f"{column} is not numeric: recourse moves numeric columns only")
        else:
            lever = lever_of(data[column], column, direction, settings.grid)
            if lever is None:
                notes.append(f"{column} has no spread in the data to measure a change in")
            else:
                levers.append(lever)
    return levers, notes


def _recourse(
    rows: _Rows,
    data: pd.DataFrame,
    model_columns: Sequence[str],
    held: Set[str],
    categorical: Set[str],
    base: np.ndarray,
    threshold: float,
    scoring: _Scoring,
) -> Recourse:
    settings, policy = rows.policy.robustness, rows.policy
    levers, notes = _levers(data, model_columns, held, categorical, rows)

    def outcome(**fields: Any) -> Recourse:
        return Recourse(
            max_changes=settings.max_changes,
            max_cost=settings.max_cost,
            notes=tuple(notes),
            **fields,
        )

    if not levers:
        reason = (
            "the policy names no actionable column ([robustness.actionable], docs/robustness.md)"
            if not settings.actionable
            else "no actionable column can move: " + "; ".join(notes)
        )
        return outcome(status="skipped", reason=reason)
    rejected = np.flatnonzero(base < threshold)
    if not len(rejected):
        return outcome(status="skipped", reason="no explained row is rejected")
    subset = _subset(rows, rejected)
    found = search(
        subset.frame,
        levers,
        base[rejected],
        scoring.score_rows,
        threshold,
        settings.max_changes,
        settings.max_cost,
    )
    by_gradient: int | None = None
    if isinstance(scoring.forward, str):
        notes.append(f"gradient search unavailable, grid search only: {scoring.forward}")
    elif scoring.forward is not None:
        gradient = _gradient_recourse(
            subset, scoring, scoring.forward, rejected, levers, threshold, notes
        )
        if gradient is not None:
            found, taken = cheaper(found, gradient)
            by_gradient = int(taken.sum())
    reachable = np.isfinite(found.cost)
    boot = _boot(subset, STREAM_RECOURSE_BOOT)
    level = policy.confidence_level
    shares, share_replicates = group_values(
        reachable.astype(np.float64),
        subset.weights,
        boot,
        subset.groupings,
        weighted_mean,
        policy.min_group_size,
        level,
        "rejected rows",
    )
    within = np.flatnonzero(reachable)
    reached = _subset(subset, within)
    costs, cost_replicates = group_values(
        found.cost[within],
        reached.weights,
        boot[:, within],
        reached.groupings,
        weighted_median,
        policy.min_group_size,
        level,
        "rejected rows with recourse",
    )
    used = found.moved.sum(axis=0)
    return outcome(
        status="ok",
        search="grid" if by_gradient is None else "gradient",
        by_gradient=by_gradient or 0,
        rejected=len(rejected),
        actionable=tuple(
            ActionableColumn(
                lever.column, lever.direction, lever.spread, len(lever.grid), int(used[index])
            )
            for index, lever in enumerate(levers)
        ),
        share=float(weighted_mean(reachable.astype(np.float64), subset.weights[None, :])[0]),
        shares=tuple(shares),
        costs=tuple(costs),
        gaps=(
            *gaps(RECOURSE_SHARE, shares, share_replicates, level),
            *gaps(RECOURSE_COST, costs, cost_replicates, level),
        ),
    )


def _gradient_recourse(
    rejected_rows: _Rows,
    scoring: _Scoring,
    forward: TorchForward,
    rejected: np.ndarray,
    levers: Sequence[Lever],
    threshold: float,
    notes: list[str],
) -> Found | None:
    """The gradient search's recourse for the rejected rows, None when no lever's encoding
    lets a gradient reach it (each such lever noted)."""
    settings = rejected_rows.policy.robustness
    encoded = scoring.encoded[rejected]
    inputs = affine_inputs(scoring.encode, rejected_rows.frame, encoded, levers)
    notes.extend(
        f"{lever.column}: the model's encoding of it is not linear, so only the grid search "
        "moves it"
        for lever, affine in zip(levers, inputs, strict=True)
        if affine is None
    )
    if all(affine is None for affine in inputs):
        return None
    return gradient_search(
        rejected_rows.frame,
        encoded,
        levers,
        inputs,
        forward,
        scoring.score_rows,
        threshold,
        settings.max_changes,
        settings.max_cost,
    )
