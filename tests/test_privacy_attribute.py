"""Attribute inference: a sensitive attribute encoded in the scores is found, one that is not
is not; the attack's AUC is checked against scikit-learn and against a second attack model."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import SplineTransformer

from audit.data.table import SensitiveColumn
from audit.privacy.attribute_inference import (
    _more_than_two_values,
    attribute_inference,
    out_of_fold,
)

N = 4000


def column(name: str, codes: np.ndarray, groups: tuple[str, ...]) -> SensitiveColumn:
    return SensitiveColumn(name=name, codes=codes.astype(np.int64), groups=groups, binning=None)


def run(scores: np.ndarray | None, decisions: np.ndarray, *columns: SensitiveColumn):  # type: ignore[no-untyped-def]
    return attribute_inference(
        scores,
        decisions,
        columns,
        n_boot=200,
        confidence_level=0.95,
        seed=0,
        min_group_size=30,
    )


def test_scores_that_encode_the_attribute_give_it_away_and_others_do_not() -> None:
    rng = np.random.default_rng(0)
    sex = rng.integers(0, 2, N)
    leaky = 1 / (1 + np.exp(-(1.5 * sex + rng.normal(size=N))))
    blind = 1 / (1 + np.exp(-rng.normal(size=N)))
    result = run(leaky, leaky >= 0.5, column("sex", sex, ("F", "M")))
    (attribute,) = result.attributes
    assert result.inputs == ("score",) and attribute.status == "ok"
    assert attribute.auc > 0.8 and attribute.ci[0] > 0.78
    assert attribute.base_rate == pytest.approx(max(sex.mean(), 1 - sex.mean()))
    assert attribute.attack_accuracy > attribute.base_rate + 0.15

    # A second, independent attack (logistic regression on a spline basis of the score)
    # reaches the same AUC: the binned Bayes attack is not weaker than a fitted model.
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted = cross_val_predict(
            make_pipeline(SplineTransformer(n_knots=8), LogisticRegression(max_iter=2000)),
            leaky[:, None],
            sex,
            cv=folds,
            method="predict_proba",
        )
    assert attribute.auc == pytest.approx(roc_auc_score(sex, fitted[:, 1]), abs=0.02)

    (chance,) = run(blind, blind >= 0.5, column("sex", sex, ("F", "M"))).attributes
    assert abs(chance.auc - 0.5) < 0.03 and chance.ci[0] < 0.5 < chance.ci[1]
    assert chance.chance_auc == 0.5


def test_several_groups_use_the_macro_one_vs_rest_auc() -> None:
    rng = np.random.default_rng(1)
    codes = rng.choice(3, N, p=[0.5, 0.3, 0.2])
    # Group 1 sits in the middle of the score range: no monotone attack finds it.
    centre = np.array([-1.5, 0.0, 1.5])[codes]
    scores = 1 / (1 + np.exp(-(centre + rng.normal(scale=0.7, size=N))))
    result = run(scores, scores >= 0.5, column("race", codes, ("a", "b", "c")))
    (attribute,) = result.attributes
    probabilities = out_of_fold(scores, codes, 3, seed=0)
    expected = roc_auc_score(codes, probabilities, multi_class="ovr", average="macro")
    assert attribute.auc == pytest.approx(expected, abs=1e-9)
    assert attribute.auc > 0.75
    for group in attribute.groups:
        code = ("a", "b", "c").index(group.group)
        assert group.auc == pytest.approx(
            roc_auc_score(codes == code, probabilities[:, code]), abs=1e-9
        )
        assert group.n == int((codes == code).sum())
    assert attribute.base_rate == pytest.approx(np.bincount(codes).max() / N)


def test_decisions_alone_small_groups_and_determinism() -> None:
    rng = np.random.default_rng(2)
    sex = rng.integers(0, 2, N)
    decisions = (rng.random(N) < np.where(sex == 1, 0.7, 0.3)).astype(np.int8)
    tiny = np.where(np.arange(N) < 10, 1, 0)  # group "y" has 10 rows: under min_group_size
    result = run(None, decisions, column("sex", sex, ("F", "M")), column("t", tiny, ("x", "y")))
    by_name = {attribute.attribute: attribute for attribute in result.attributes}
    assert result.inputs == ("decision",)
    # With a binary input the attack's AUC is about that of the decision itself (each fold's
    # estimates differ a little, which blurs the two-valued ranking across folds).
    assert by_name["sex"].auc == pytest.approx(roc_auc_score(sex, decisions), abs=0.02)
    assert by_name["t"].status == "insufficient_data" and by_name["t"].auc is None
    again = run(None, decisions, column("sex", sex, ("F", "M")))
    assert again.attributes[0].ci == by_name["sex"].ci


@pytest.mark.parametrize(
    "values",
    [[], [0.3], [0.3, 0.3], [0.3, 0.7, 0.3], [0.3, 0.7, 0.3, 0.5], [0.0, -0.0, 1.0], [1, 0, 2]],
)
def test_the_attack_reads_scores_with_a_third_value(values: list[float]) -> None:
    array = np.array(values, dtype=np.float64)
    assert _more_than_two_values(array) == (len(np.unique(array)) > 2)
