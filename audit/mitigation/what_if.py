"""The mitigation what-if: how accuracy and the disparities would move under per-group
thresholds (Fairlearn's ThresholdOptimizer) and under reweighting (Kamiran and Calders), on the
audited rows, with intervals.

Cross-fitting keeps every figure honest: the rows are split in two halves, a mitigation is
fitted on one half and applied to the other, then the halves swap; every row is measured once,
by a mitigation that never saw it, and the combined confusion counts go through the same
tables (audit.fairness.tables) as the audit's own figures, so "before" is exactly the audit's.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, partial
from importlib import resources
from typing import Any, Literal

import numpy as np

from audit.core.errors import RaiAuditError
from audit.core.policy import Policy
from audit.core.result import GroupStatus
from audit.data.slices import Partition, Slice
from audit.data.table import SensitiveColumn, TableRows, prepare_sensitive, prepare_target
from audit.fairness.tables import FairnessTables, cell_confusion, fairness_from_counts
from audit.mitigation.results import (
    ACCURACY,
    BEFORE,
    TRADE_OFF_METRICS,
    GroupSelection,
    Method,
    SliceWhatIf,
    WhatIf,
)

CONSTRAINTS = ("demographic_parity", "equalized_odds")
REWEIGHTING = "reweighting"
METHOD_NAMES = {
    BEFORE: "Model's decisions (before)",
    "thresholds_demographic_parity": "Per-group thresholds for demographic parity",
    "thresholds_equalized_odds": "Per-group thresholds for equalized odds",
    REWEIGHTING: "Reweighting (Kamiran-Calders), estimated without retraining",
}
NO_TRAINING_DATA = "no training data: give --train-data for the reweighting estimate"


@cache
def words() -> dict[str, Any]:
    """The section's caution, method and role texts (audit/knowledge/what_if.toml)."""
    text = resources.files("audit").joinpath("knowledge/what_if.toml").read_text("utf-8")
    return tomllib.loads(text)


@dataclass(frozen=True)
class WhatIfInputs:
    labels: np.ndarray  # int8, every audited row
    decisions: np.ndarray  # int8, the audited decisions
    scores: np.ndarray | None  # the positive-class score; None: decisions only
    fine: Partition
    slices: Sequence[Slice]  # the single-feature slices, each its own what-if
    sensitive: Sequence[SensitiveColumn]
    policy: Policy
    threshold: float
    # The decisions are the scores at ``threshold`` (a model), not read from the data.
    thresholded: bool
    members: TableRows | None  # --train-data
    target_column: str
    positive_label: str


def cross_fit_halves(cell_of_row: np.ndarray, labels: np.ndarray, seed: int) -> np.ndarray:
    """Each row's half (0 or 1): within every stratum of fine cell and label, a seeded
    shuffle dealt out alternately, so both halves hold every group and label in proportion.

    Written by hand: scikit-learn's StratifiedKFold warns on strata smaller than the number
    of folds, and a group with one row of a label is a normal thing in an audit.
    """
    strata = cell_of_row.astype(np.int64) * 2 + labels.astype(np.int64)
    shuffled = np.random.default_rng(seed).random(len(strata))
    order = np.lexsort((shuffled, strata))  # by stratum, shuffled within it
    ordered = strata[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    halves = np.empty(len(order), dtype=np.int8)
    halves[order] = rank % 2
    return halves


@cache
def _score_passthrough_type() -> type:
    from sklearn.base import BaseEstimator

    class ScorePassthrough(BaseEstimator):
        """A fitted "estimator" whose prediction is its first input column: the audited
        model's score, so ThresholdOptimizer post-processes the model as it was audited
        (it needs an estimator, and the model may be a file of any kind or decisions)."""

        def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> ScorePassthrough:
            return self

        def __sklearn_is_fitted__(self) -> bool:
            return True

        def predict(self, X: np.ndarray) -> np.ndarray:
            return np.asarray(X)[:, 0]

    return ScorePassthrough


def threshold_decisions(
    scores: np.ndarray,
    labels: np.ndarray,
    groups: np.ndarray,
    halves: np.ndarray,
    fitted: np.ndarray,
    constraint: str,
    seed: int,
) -> np.ndarray:
    """Decisions of per-group thresholds for ``constraint``, cross-fitted: each ``fitted``
    row is decided by thresholds fitted on the other half's fitted rows; other rows are 0."""
    from fairlearn.postprocessing import ThresholdOptimizer

    decided = np.zeros(len(scores), dtype=np.int8)
    for half in (0, 1):
        fit = fitted & (halves == half)
        measured = fitted & (halves != half)
        optimizer = ThresholdOptimizer(
            estimator=_score_passthrough_type()(),
            constraints=constraint,
            prefit=True,
            predict_method="predict",
        )
        optimizer.fit(scores[fit, None], labels[fit], sensitive_features=groups[fit])
        # Its decisions are randomized between two thresholds where a group needs it.
        predicted = optimizer.predict(
            scores[measured, None], sensitive_features=groups[measured], random_state=seed
        )
        decided[measured] = np.asarray(predicted).astype(np.int8)
    return decided


def fitted_groups(
    groups: np.ndarray,
    labels: np.ndarray,
    halves: np.ndarray,
    slice_: Slice,
    min_group_size: int,
) -> tuple[np.ndarray, dict[str, str]]:
    """The groups that get thresholds (bool ``[groups]``) and why each other one does not:
    fewer than min_group_size rows, or a half of the split without one of the labels
    (Fairlearn cannot place a threshold on one label class)."""
    n_groups = slice_.n_groups
    rows = np.bincount(groups, minlength=n_groups)
    present = np.zeros((n_groups, 2, 2), dtype=np.int64)
    np.add.at(present, (groups, halves, labels.astype(np.int64)), 1)
    enough = rows >= min_group_size
    both_labels: np.ndarray = np.all(present > 0, axis=(1, 2))
    unchanged = {}
    for index, label in enumerate(slice_.labels):
        if not enough[index]:
            unchanged[" / ".join(label)] = (
                f"{int(rows[index])} rows, fewer than min_group_size ({min_group_size})"
            )
        elif not both_labels[index]:
            unchanged[" / ".join(label)] = "a half of the split has only one label class"
    return enough & both_labels, unchanged


def kamiran_calders_odds(
    column: SensitiveColumn,
    members: TableRows,
    target_column: str,
    positive_label: str,
    policy: Policy,
) -> tuple[dict[str, float], dict[str, str]] | str:
    """Per training group, the factor w(g, 1) / w(g, 0) by which Kamiran and Calders'
    weights w(g, y) = P(y) / P(y | g) move the group's odds of a positive label; and why
    groups have none. A string: why the estimate cannot be made for this column."""
    if column.binning is not None:
        return (
            f"{column.name!r} is a banded numeric column ({column.binning}): the training rows "
            "are not banded the same way"
        )
    if column.name not in members.frame.columns:
        return f"the training data ({members.source.name}) has no column {column.name!r}"
    target = prepare_target(members.frame, target_column, positive_label, members.source)
    (trained,) = prepare_sensitive(
        members.frame,
        [column.name],
        {},
        policy.max_categories,
        policy.quantile_bands,
        members.source,
        max_groups=policy.max_groups,
    )
    if trained.binning is not None:
        return f"{column.name!r} has too many values in the training data to compare groups"
    counts = np.zeros((len(trained.groups), 2), dtype=np.int64)
    np.add.at(counts, (trained.codes, target.y.astype(np.int64)), 1)
    negatives, positives = counts.sum(axis=0)
    factors, unchanged = {}, {}
    for label, (group_negatives, group_positives) in zip(trained.groups, counts, strict=True):
        if group_negatives == 0 or group_positives == 0:
            unchanged[label] = "one label class in the training data"
        else:
            # (P(1) / P(1 | g)) / (P(0) / P(0 | g)), the group sizes cancelling.
            factors[label] = float((positives * group_negatives) / (negatives * group_positives))
    return factors, unchanged


def reweighted_decisions(
    scores: np.ndarray, groups: np.ndarray, factors: np.ndarray, threshold: float
) -> np.ndarray:
    """Each row's score with its group's odds multiplied by ``factors[group]`` (a prior
    shift), decided at ``threshold`` like the audited score."""
    factor = factors[groups]
    adjusted = scores * factor / (scores * factor + (1.0 - scores))
    return (adjusted >= threshold).astype(np.int8)


def _overall_slice(n_cells: int) -> Slice:
    """Every row as one group: the slice whose accuracy the table reports."""
    return Slice(features=(), labels=((),), group_of_cell=np.zeros(n_cells, dtype=np.int64))


def _measured(
    method_id: str,
    tables: FairnessTables,
    slice_: Slice,
    unchanged: dict[str, str],
) -> Method:
    overall = next(group for group in tables.groups if group.feature == ())
    metrics: dict[str, float | None] = {}
    ci: dict[str, tuple[float, float] | None] = {}
    undefined: dict[str, str] = {}
    if overall.status is GroupStatus.OK:
        metrics[ACCURACY] = overall.metrics.get(ACCURACY)
        ci[ACCURACY] = overall.ci.get(ACCURACY)
    else:
        metrics[ACCURACY], ci[ACCURACY] = None, None
        undefined[ACCURACY] = "fewer rows than min_group_size"
    for disparity in tables.disparities:
        if (
            disparity.feature == slice_.features
            and disparity.comparison == "between_groups"
            and disparity.metric in TRADE_OFF_METRICS
        ):
            metrics[disparity.metric] = disparity.value
            ci[disparity.metric] = disparity.ci
            if disparity.undefined is not None:
                undefined[disparity.metric] = disparity.undefined
    groups = tuple(
        GroupSelection(
            group=group.group,
            n=group.n,
            status="ok" if group.status is GroupStatus.OK else "insufficient_data",
            selection_rate=group.metrics.get("selection_rate"),
            ci=group.ci.get("selection_rate"),
        )
        for group in tables.groups
        if group.feature == slice_.features
    )
    return Method(
        id=method_id,
        name=METHOD_NAMES[method_id],
        status="ok",
        reason=None,
        metrics={name: metrics.get(name) for name in TRADE_OFF_METRICS},
        ci={name: ci.get(name) for name in TRADE_OFF_METRICS},
        undefined=undefined,
        groups=groups,
        unchanged=unchanged,
    )


def _not_measured(method_id: str, status: Literal["skipped", "error"], reason: str) -> Method:
    return Method(
        id=method_id,
        name=METHOD_NAMES[method_id],
        status=status,
        reason=reason,
        metrics={name: None for name in TRADE_OFF_METRICS},
        ci={name: None for name in TRADE_OFF_METRICS},
        undefined={},
        groups=(),
    )


# A method's decisions and the groups it left unchanged, or why it cannot run.
Decided = tuple[np.ndarray, dict[str, str]] | str
Decide = Callable[[], Decided]


def _slice_what_if(
    inputs: WhatIfInputs, slice_: Slice, halves: np.ndarray, errors: list[str]
) -> SliceWhatIf:
    fine, policy = inputs.fine, inputs.policy
    measured_slices = [slice_, _overall_slice(fine.n_cells)]
    groups = slice_.group_of_cell[fine.cell_of_row]
    # float64: Fairlearn writes its interpolated probabilities into a frame of the scores'
    # dtype, which refuses them in float32 (and decisions only are 0/1 scores).
    scores = np.asarray(
        inputs.scores if inputs.scores is not None else inputs.decisions, dtype=np.float64
    )

    def measure(method_id: str, decisions: np.ndarray, unchanged: dict[str, str]) -> Method:
        counts = cell_confusion(fine.cell_of_row, fine.n_cells, inputs.labels, decisions)
        tables = fairness_from_counts(fine.n_cells, measured_slices, counts, None, None, policy)
        return _measured(method_id, tables, slice_, unchanged)

    def thresholds(constraint: str) -> Decided:
        fitted, unchanged = fitted_groups(
            groups, inputs.labels, halves, slice_, policy.min_group_size
        )
        if fitted.sum() < 2:
            return "fewer than two groups have enough rows of both labels in each half"
        rows = fitted[groups]
        decided = inputs.decisions.astype(np.int8, copy=True)
        decided[rows] = threshold_decisions(
            scores, inputs.labels, groups, halves, rows, constraint, policy.seed
        )[rows]
        return decided, unchanged

    def reweighting() -> Decided:
        if inputs.members is None:
            return NO_TRAINING_DATA
        if inputs.scores is None or not inputs.thresholded:
            return "needs a model's scores and threshold: the decisions were read from the data"
        if not np.all((inputs.scores >= 0) & (inputs.scores <= 1)):
            return "the scores are not probabilities in [0, 1]"
        (column,) = [c for c in inputs.sensitive if (c.name,) == slice_.features]
        found = kamiran_calders_odds(
            column, inputs.members, inputs.target_column, inputs.positive_label, policy
        )
        if isinstance(found, str):
            return found
        factors, unchanged = found
        names = [" / ".join(label) for label in slice_.labels]
        for name in names:
            if name not in factors and name not in unchanged:
                unchanged[name] = "no training rows"
        # A group without a factor keeps the model's decisions (NaN here, replaced below).
        by_group = np.array([factors.get(name, np.nan) for name in names])
        decided = reweighted_decisions(inputs.scores, groups, by_group, inputs.threshold)
        keep = np.isnan(by_group)[groups]
        decided[keep] = inputs.decisions[keep]
        return decided, {name: unchanged[name] for name in names if name in unchanged}

    methods = [measure(BEFORE, inputs.decisions, {})]
    decide: dict[str, Decide] = {
        f"thresholds_{constraint}": partial(thresholds, constraint) for constraint in CONSTRAINTS
    }
    decide[REWEIGHTING] = reweighting
    for method_id, make in decide.items():
        try:
            made = make()
        except RaiAuditError:
            raise  # bad --train-data: the user's to fix, like any input error
        except Exception as exc:  # Fairlearn and the data are outside our control
            reason = f"{type(exc).__name__}: {exc}".strip()
            errors.append(f"{'/'.join(slice_.features)} {method_id}: {reason}")
            methods.append(_not_measured(method_id, "error", reason))
            continue
        if isinstance(made, str):
            methods.append(_not_measured(method_id, "skipped", made))
        else:
            methods.append(measure(method_id, *made))
    return SliceWhatIf(feature=slice_.features, methods=tuple(methods))


def what_if(inputs: WhatIfInputs) -> tuple[WhatIf, tuple[str, ...]]:
    """The section and one line per crashed method (the stage's errors)."""
    policy = inputs.policy
    halves = cross_fit_halves(inputs.fine.cell_of_row, inputs.labels, policy.seed)
    errors: list[str] = []
    slices = tuple(
        _slice_what_if(inputs, slice_, halves, errors)
        for slice_ in inputs.slices
        if len(slice_.features) == 1
    )
    text = words()
    notes = ["each sensitive feature gets its own thresholds; intersections are not optimized"]
    if inputs.scores is None:
        notes.append("decisions only (no scores): the thresholds randomize between 0 and 1")
    section = WhatIf(
        status="error" if errors else "ok",
        reason="; ".join(errors) or None,
        method=text["method"].format(seed=policy.seed, n_boot=policy.n_boot),
        caution=text["caution"],
        roles=dict(text["roles"]),
        reweighting=text["reweighting"],
        seed=policy.seed,
        halves=tuple(int(count) for count in np.bincount(halves, minlength=2)),
        slices=slices,
        notes=tuple(notes),
    )
    return section, tuple(errors)
