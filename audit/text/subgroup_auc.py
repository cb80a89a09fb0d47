"""Subgroup, BPSN and BNSP AUCs per identity group (Borkan et al. 2019).

For the texts that mention a group (the subgroup) and those that do not (the background):
- subgroup AUC: ROC AUC on the subgroup's texts alone;
- BPSN AUC (background positive, subgroup negative): on the background's positive and the
  subgroup's negative texts. Low: the model scores the group's negative texts above positive
  texts about others;
- BNSP AUC (background negative, subgroup positive): on the background's negative and the
  subgroup's positive texts. Low: the group's positive texts score below negative texts
  about others.
Each comes with its gap to the overall AUC. Intervals are Poisson-bootstrap percentiles,
every metric and the overall AUC from the same replicate weights, so the gap is paired.

AUCs are computed as a (weighted) Mann-Whitney statistic over one sort of all scores, ties
counted half, which equals the trapezoidal ROC AUC (scikit-learn's ``roc_auc_score``).
"""

from __future__ import annotations

import numpy as np

from audit.core.intervals import interval_of
from audit.text.identity import IdentityTerms, Membership
from audit.text.results import SubgroupAuc, SubgroupAucResult

METRICS = ("subgroup_auc", "bpsn_auc", "bnsp_auc")
REPLICATE_BLOCK = 200  # replicates per block: bounds memory at block x rows


def sorted_auc(labels: np.ndarray, weights: np.ndarray, tie_starts: np.ndarray) -> np.ndarray:
    """Weighted AUC of rows already sorted by score.

    ``weights`` is [rows] or [replicates, rows]; ``tie_starts`` are the first positions of
    each run of equal scores. NaN where a class has no weight.
    """
    weights = np.atleast_2d(weights)
    positive = np.add.reduceat(weights * labels, tie_starts, axis=1)
    negative = np.add.reduceat(weights * (1 - labels), tie_starts, axis=1)
    below = np.cumsum(negative, axis=1) - negative
    numerator = (positive * (below + 0.5 * negative)).sum(axis=1)
    denominator = positive.sum(axis=1) * negative.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = numerator / np.where(denominator > 0, denominator, 1)
    return np.where(denominator > 0, ratio, np.nan)


class RankedScores:
    """All rows sorted once by score; any subset keeps that order."""

    def __init__(self, scores: np.ndarray, labels: np.ndarray) -> None:
        self.order = np.argsort(scores, kind="stable")
        self.sorted_scores = scores[self.order]
        self.labels = labels.astype(np.float64)

    def auc(self, subset: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """AUC over the rows where ``subset`` is True; ``weights`` [B, rows] for replicates."""
        picked = self.order[subset[self.order]]
        if len(picked) == 0:
            return np.full(1 if weights is None else len(weights), np.nan)
        ranked = self.sorted_scores[subset[self.order]]
        starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
        row_weights = np.ones(len(picked)) if weights is None else weights[:, picked]
        return sorted_auc(self.labels[picked], row_weights, starts)


def _undefined(metric: str, subgroup: np.ndarray, labels: np.ndarray) -> str | None:
    positive, negative = labels == 1, labels == 0
    if metric == "subgroup_auc":
        if not (subgroup & positive).any() or not (subgroup & negative).any():
            return "the group's texts hold one class only"
    elif metric == "bpsn_auc":
        if not (subgroup & negative).any():
            return "the group has no negative texts"
        if not (~subgroup & positive).any():
            return "the background has no positive texts"
    elif metric == "bnsp_auc":
        if not (subgroup & positive).any():
            return "the group has no positive texts"
        if not (~subgroup & negative).any():
            return "the background has no negative texts"
    return None


def _subsets(subgroup: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    positive, negative = labels == 1, labels == 0
    return {
        "subgroup_auc": subgroup,
        "bpsn_auc": (subgroup & negative) | (~subgroup & positive),
        "bnsp_auc": (subgroup & positive) | (~subgroup & negative),
    }


def subgroup_aucs(
    scores: np.ndarray,
    labels: np.ndarray,
    identity: IdentityTerms,
    members: Membership,
    *,
    min_group_size: int,
    n_boot: int,
    level: float,
    seed: int,
) -> SubgroupAucResult:
    n = len(scores)
    if labels.min() == labels.max():
        return SubgroupAucResult(
            status="skipped", reason="the audited labels hold one class only", rows=n
        )
    ranked = RankedScores(scores, labels)
    everyone = np.ones(n, dtype=bool)
    overall = float(ranked.auc(everyone)[0])
    plans = []
    for category in identity.categories:
        for group in category.groups:
            subgroup = members.rows[(category.name, group.name)]
            plans.append((category.name, group.name, subgroup))
    # One replicate weight matrix, drawn block by block from one generator: the overall AUC
    # and every group's metrics see the same resampled rows.
    rng = np.random.default_rng(seed)
    point: dict[tuple[int, str], float | None] = {}
    undefined: dict[tuple[int, str], str] = {}
    wanted: list[tuple[int, str, np.ndarray]] = []
    for index, (_, _, subgroup) in enumerate(plans):
        ok = int(subgroup.sum()) >= min_group_size
        for metric, subset in _subsets(subgroup, labels).items():
            why = _undefined(metric, subgroup, labels)
            if not ok:
                undefined[(index, metric)] = f"fewer than {min_group_size} texts mention the group"
            elif why is not None:
                undefined[(index, metric)] = why
            else:
                point[(index, metric)] = float(ranked.auc(subset)[0])
                wanted.append((index, metric, subset))
    overall_replicates: list[np.ndarray] = []
    replicates: dict[tuple[int, str], list[np.ndarray]] = {key[:2]: [] for key in wanted}
    for start in range(0, n_boot, REPLICATE_BLOCK):
        block = min(REPLICATE_BLOCK, n_boot - start)
        weights = rng.poisson(1.0, size=(block, n)).astype(np.float64)
        overall_replicates.append(ranked.auc(everyone, weights))
        for index, metric, subset in wanted:
            replicates[(index, metric)].append(ranked.auc(subset, weights))
    overall_all = np.concatenate(overall_replicates) if overall_replicates else np.zeros(0)
    groups = []
    for index, (category_name, group_name, subgroup) in enumerate(plans):
        metrics: dict[str, float | None] = {}
        ci: dict[str, tuple[float, float] | None] = {}
        gap: dict[str, float | None] = {}
        gap_ci: dict[str, tuple[float, float] | None] = {}
        for metric in METRICS:
            value = point.get((index, metric))
            metrics[metric] = value
            gap[metric] = overall - value if value is not None else None
            drawn = replicates.get((index, metric))
            if value is not None and drawn:
                values = np.concatenate(drawn)
                ci[metric] = interval_of(values, level)
                gap_ci[metric] = interval_of(overall_all - values, level)
            else:
                ci[metric] = None
                gap_ci[metric] = None
        members_n = int(subgroup.sum())
        groups.append(
            SubgroupAuc(
                category=category_name,
                group=group_name,
                n=members_n,
                positives=int(labels[subgroup].sum()),
                status="ok" if members_n >= min_group_size else "insufficient_data",
                metrics=metrics,
                ci=ci,
                gap=gap,
                gap_ci=gap_ci,
                undefined={
                    metric: why
                    for (position, metric), why in undefined.items()
                    if position == index
                },
            )
        )
    return SubgroupAucResult(
        status="ok",
        rows=n,
        overall_auc=overall,
        overall_ci=interval_of(overall_all, level) if len(overall_all) else None,
        groups=tuple(groups),
    )
