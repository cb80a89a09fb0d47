"""The stage: each group's mean positive-class score, with a bootstrap interval of the gap."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from audit.core.prepared import PreparedAudit
from audit.core.stage import Need, StageOutcome

STAGE_ID = "example.score_means"


@dataclass(frozen=True)
class ColumnMeans:
    column: str
    groups: tuple[str, ...]
    sizes: tuple[int, ...]
    means: tuple[float, ...]
    # The largest minus the smallest group mean in each bootstrap replicate of the rows.
    gap_replicates: tuple[float, ...]


@dataclass(frozen=True)
class ScoreMeans:
    columns: tuple[ColumnMeans, ...]
    confidence_level: float


def _column_means(
    values: np.ndarray, scores: np.ndarray, column: str, n_boot: int, seed: int
) -> ColumnMeans:
    groups, codes = np.unique(values.astype(str), return_inverse=True)
    sizes = np.bincount(codes, minlength=len(groups))
    means = np.bincount(codes, weights=scores, minlength=len(groups)) / sizes
    # Poisson weights resample the rows without drawing indices; the same seed, the same
    # interval (rai-audit's rule: every random step takes the audit's seed).
    weights = np.random.default_rng(seed).poisson(1.0, size=(n_boot, len(scores)))
    replicates = []
    for row_weights in weights:
        counts = np.bincount(codes, weights=row_weights, minlength=len(groups))
        sums = np.bincount(codes, weights=row_weights * scores, minlength=len(groups))
        with np.errstate(invalid="ignore", divide="ignore"):
            group_means = sums / counts
        replicates.append(float(np.nanmax(group_means) - np.nanmin(group_means)))
    return ColumnMeans(
        column=column,
        groups=tuple(groups),
        sizes=tuple(int(size) for size in sizes),
        means=tuple(float(mean) for mean in means),
        gap_replicates=tuple(replicates),
    )


class ScoreMeansStage:
    id = STAGE_ID
    required = False  # runs when a check needs it
    needs = (
        Need(
            "scores",
            lambda prepared: prepared.model.predictions.scores is not None,
            "the audit has decisions only, no scores to average",
        ),
    )

    def runs_model(self, prepared: PreparedAudit) -> bool:
        return False  # it reads the scores already made: it runs beside the model stages

    def run(self, prepared: PreparedAudit, reports: Mapping[str, object]) -> StageOutcome:
        scores = prepared.model.predictions.scores
        if scores is None:  # the need above keeps this from happening
            return StageOutcome(None)
        policy = prepared.settings.policy
        frame = prepared.data.frame
        columns = tuple(
            _column_means(frame[column].to_numpy(), scores, column, policy.n_boot, policy.seed)
            for column in prepared.data.sensitive_columns
        )
        return StageOutcome(ScoreMeans(columns, policy.confidence_level))

    def skipped(self, reason: str) -> None:
        return None
