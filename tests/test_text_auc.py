"""Subgroup, BPSN and BNSP AUCs (Borkan et al. 2019) against scikit-learn on a hand-made table.

The subsets below are written out by hand from the table, not computed by the code under
test: BPSN takes the subgroup's negatives and the background's positives, BNSP the
subgroup's positives and the background's negatives.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from audit.text.identity import IdentityCategory, IdentityGroup, IdentityTerms, Membership
from audit.text.subgroup_auc import RankedScores, subgroup_aucs

# row:          0    1    2    3    4    5    6    7    8    9   10   11   12   13
SCORES = np.array([0.9, 0.8, 0.3, 0.6, 0.2, 0.7, 0.4, 0.1, 0.6, 0.65, 0.35, 0.45, 0.3, 0.8])
LABELS = np.array([1, 1, 0, 1, 0, 1, 0, 0, 1, 0, 1, 0, 1, 0])
# Texts that mention the group: rows 0, 2, 3, 4, 8, 10, 12 (positives 0, 3, 8, 10, 12;
# negatives 2, 4). Background: rows 1, 5, 6, 7, 9, 11, 13 (positives 1, 5; negatives 6,
# 7, 9, 11, 13). Scores tie at 0.6 (rows 3, 8), 0.3 (rows 2, 12) and 0.8 (rows 1, 13).
SUBGROUP = np.array([0, 2, 3, 4, 8, 10, 12])
BPSN = np.array([2, 4, 1, 5])
BNSP = np.array([0, 3, 8, 10, 12, 6, 7, 9, 11, 13])


def identity(*groups: str) -> IdentityTerms:
    category = IdentityCategory(
        "c", "c", "adjective", tuple(IdentityGroup(g, g, (g,), ()) for g in groups), ()
    )
    return IdentityTerms((category,), {}, ("test",))


def mask(rows: np.ndarray) -> np.ndarray:
    chosen = np.zeros(len(SCORES), dtype=bool)
    chosen[rows] = True
    return chosen


def sklearn_auc(rows: np.ndarray) -> float:
    return float(roc_auc_score(LABELS[rows], SCORES[rows]))


def test_point_estimates_match_sklearn_on_hand_selected_subsets() -> None:
    result = subgroup_aucs(
        SCORES,
        LABELS,
        identity("g"),
        Membership({("c", "g"): mask(SUBGROUP)}),
        min_group_size=5,
        n_boot=200,
        level=0.95,
        seed=0,
    )
    overall = float(roc_auc_score(LABELS, SCORES))
    assert result.overall_auc == pytest.approx(overall, abs=1e-12)
    (group,) = result.groups
    assert group.n == 7 and group.positives == 5 and group.status == "ok"
    expected = {
        "subgroup_auc": sklearn_auc(SUBGROUP),
        "bpsn_auc": sklearn_auc(BPSN),
        "bnsp_auc": sklearn_auc(BNSP),
    }
    for metric, value in expected.items():
        assert group.metrics[metric] == pytest.approx(value, abs=1e-12), metric
        assert group.gap[metric] == pytest.approx(overall - value, abs=1e-12), metric
        interval = group.gap_ci[metric]
        assert interval is not None and interval[0] <= interval[1]
    # Sanity of the hand-made table: the three metrics differ, so none is computed twice.
    assert len({round(value, 9) for value in expected.values()}) == 3


def test_weighted_replicates_match_sklearn_sample_weights() -> None:
    ranked = RankedScores(SCORES, LABELS)
    weights = np.random.default_rng(3).poisson(1.0, size=(4, len(SCORES))).astype(float)
    got = ranked.auc(mask(BNSP), weights)
    for replicate in range(4):
        expected = roc_auc_score(LABELS[BNSP], SCORES[BNSP], sample_weight=weights[replicate, BNSP])
        assert got[replicate] == pytest.approx(expected, abs=1e-12)


def test_small_and_one_class_groups_have_no_metrics() -> None:
    one_class = np.array([0, 1, 3, 5, 8])  # positives only
    result = subgroup_aucs(
        SCORES,
        LABELS,
        identity("small", "positive_only"),
        Membership(
            {("c", "small"): mask(np.array([0, 2])), ("c", "positive_only"): mask(one_class)}
        ),
        min_group_size=3,
        n_boot=50,
        level=0.95,
        seed=0,
    )
    small, positive_only = result.groups
    assert small.status == "insufficient_data"
    assert set(small.metrics.values()) == {None}
    assert "fewer than 3 texts" in small.undefined["subgroup_auc"]
    assert positive_only.status == "ok"
    assert positive_only.metrics["subgroup_auc"] is None
    assert positive_only.undefined["subgroup_auc"] == "the group's texts hold one class only"
    assert positive_only.undefined["bpsn_auc"] == "the group has no negative texts"
    # BNSP needs only the group's positives and the background's negatives.
    bnsp_rows = np.array([0, 1, 3, 5, 8, 2, 4, 6, 7, 9, 11, 13])
    assert positive_only.metrics["bnsp_auc"] == pytest.approx(sklearn_auc(bnsp_rows), abs=1e-12)
