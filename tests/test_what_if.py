"""The mitigation what-if (--what-if): cross-fitted per-group thresholds and the reweighting
estimate, against an independent computation.

The expected figures fit Fairlearn's ThresholdOptimizer here, on the same halves with the same
seed, and measure the other half with scikit-learn and Fairlearn's metric functions; the
reweighting estimate is recomputed from the training table with pandas.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import ADULT_DATA, ADULT_MODEL, Cli, Workspace
from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference
from fairlearn.postprocessing import ThresholdOptimizer
from sklearn.base import BaseEstimator
from sklearn.metrics import accuracy_score

from audit import AuditRequest, run_audit, to_json
from audit.core.result import AuditResult
from audit.core.serialize import to_document
from audit.mitigation.results import Method
from audit.mitigation.stage import STREAMED
from audit.mitigation.what_if import NO_TRAINING_DATA, cross_fit_halves

SEED = 3
GROUPS = ("A", "B")


def planted(rows: int = 600, seed: int = 0, small: int = 0) -> pd.DataFrame:
    """Group A's x sits one unit above B's, and the label follows x: the model (a score of x
    alone) selects A far more often. ``small`` rows of a group C too small to measure."""
    rng = np.random.default_rng(seed)
    blocks = []
    for group, shift, count in (("A", 0.5, rows), ("B", -0.5, rows), ("C", 0.0, small)):
        x = rng.normal(loc=shift, size=count)
        label = (x + rng.normal(scale=0.8, size=count) > 0.2).astype(int)
        blocks.append(pd.DataFrame({"x": np.round(x, 4), "g": group, "y": label}))
    return pd.concat(blocks, ignore_index=True)


def score(batch: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-2.0 * batch[:, 0]))


def audit(data: Path, **options: Any) -> AuditResult:
    policy = {"n_boot": 200, "seed": SEED, **options.pop("policy", {})}
    return run_audit(
        AuditRequest(
            data=data,
            target="y",
            sensitive=("g",),
            model=score,
            features=("x",),
            explain=False,
            search_config=False,
            what_if=options.pop("what_if", True),
            policy_overrides=policy,
            **options,
        )
    )


def method(result: AuditResult, method_id: str) -> Method:
    assert result.what_if is not None
    (slice_,) = result.what_if.slices
    return next(item for item in slice_.methods if item.id == method_id)


class Scores(BaseEstimator):
    """The test's own prefit estimator: its prediction is the score column."""

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> Scores:
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X)[:, 0]


def expected_thresholds(frame: pd.DataFrame, constraint: str) -> np.ndarray:
    # float64: Fairlearn writes its interpolated probabilities into a frame of the scores' dtype.
    scores = score(frame[["x"]].to_numpy(dtype=np.float32)).astype(np.float64)
    labels, groups = frame["y"].to_numpy(), frame["g"].to_numpy()
    cells = pd.factorize(groups, sort=True)[0]
    halves = cross_fit_halves(cells, labels, SEED)
    decided = np.zeros(len(frame), dtype=int)
    for half in (0, 1):
        fit, measured = halves == half, halves != half
        optimizer = ThresholdOptimizer(
            estimator=Scores(), constraints=constraint, prefit=True, predict_method="predict"
        )
        optimizer.fit(scores[fit, None], labels[fit], sensitive_features=groups[fit])
        decided[measured] = optimizer.predict(
            scores[measured, None], sensitive_features=groups[measured], random_state=SEED
        )
    return decided


def expected_figures(frame: pd.DataFrame, decided: np.ndarray) -> dict[str, Any]:
    y, g = frame["y"].to_numpy(), frame["g"]
    return {
        "accuracy": accuracy_score(y, decided),
        "demographic_parity_difference": demographic_parity_difference(
            y, decided, sensitive_features=g
        ),
        "equalized_odds_difference": equalized_odds_difference(y, decided, sensitive_features=g),
        "selection": pd.Series(decided).groupby(g.to_numpy()).mean().to_dict(),
    }


def assert_matches(found: Method, expected: dict[str, Any]) -> None:
    assert found.status == "ok", found.reason
    for name in ("accuracy", "demographic_parity_difference", "equalized_odds_difference"):
        assert found.metrics[name] == pytest.approx(expected[name], abs=1e-12), name
    rates = {group.group[0]: group.selection_rate for group in found.groups}
    assert rates == pytest.approx(expected["selection"], abs=1e-12)


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, Path, AuditResult]:
    frame = planted()
    data = tmp_path_factory.mktemp("what-if") / "data.csv"
    frame.to_csv(data, index=False)
    return pd.read_csv(data), data, audit(data)


@pytest.mark.parametrize("constraint", ["demographic_parity", "equalized_odds"])
def test_thresholds_match_fairlearn_fitted_on_the_same_halves(
    case: tuple[pd.DataFrame, Path, AuditResult], constraint: str
) -> None:
    frame, _, result = case
    expected = expected_figures(frame, expected_thresholds(frame, constraint))
    assert_matches(method(result, f"thresholds_{constraint}"), expected)


def test_before_is_the_audits_own_figures(case: tuple[pd.DataFrame, Path, AuditResult]) -> None:
    frame, _, result = case
    before = method(result, "before")
    decisions = (score(frame[["x"]].to_numpy(dtype=np.float32)) >= 0.5).astype(int)
    assert_matches(before, expected_figures(frame, decisions))
    for disparity in result.disparities:
        if disparity.comparison == "between_groups" and disparity.metric in before.metrics:
            assert before.metrics[disparity.metric] == disparity.value
            assert before.ci[disparity.metric] == disparity.ci  # same counts, same seed


def test_demographic_parity_thresholds_close_the_planted_gap(
    case: tuple[pd.DataFrame, Path, AuditResult],
) -> None:
    _, _, result = case
    before = method(result, "before").metrics["demographic_parity_difference"]
    after = method(result, "thresholds_demographic_parity").metrics["demographic_parity_difference"]
    assert before is not None and after is not None
    assert before > 0.3 and after < before / 5


def test_intervals_contain_the_estimates(case: tuple[pd.DataFrame, Path, AuditResult]) -> None:
    _, _, result = case
    assert result.what_if is not None
    checked = 0
    for slice_ in result.what_if.slices:
        for item in slice_.methods:
            pairs = [(item.metrics[name], item.ci[name]) for name in item.metrics]
            pairs += [(group.selection_rate, group.ci) for group in item.groups]
            for value, interval in pairs:
                if item.status == "ok":
                    assert value is not None and interval is not None
                    assert interval[0] <= value <= interval[1], (item.id, value, interval)
                    checked += 1
    assert checked == 3 * (3 + 2)  # before and both thresholds: 3 figures and 2 groups each


def test_same_seed_same_section_and_the_report_validates(
    case: tuple[pd.DataFrame, Path, AuditResult],
) -> None:
    _, data, result = case
    again = audit(data)
    assert to_document(again)["what_if"] == to_document(result)["what_if"]
    document = json.loads(to_json(result))  # to_json validates against the schema
    section = document["what_if"]
    assert section["status"] == "ok" and section["seed"] == SEED
    assert sum(section["halves"]) == len(case[0])
    assert "disparate treatment" in section["caution"]
    assert "not advice" in section["caution"]
    assert "disparate treatment" in section["roles"]["regulator"]
    assert "approximation" in section["reweighting"]
    assert method(result, "reweighting").reason == NO_TRAINING_DATA


def test_without_what_if_there_is_no_section(case: tuple[pd.DataFrame, Path, AuditResult]) -> None:
    _, data, _ = case
    result = audit(data, what_if=False, policy={"n_boot": 20})
    assert result.what_if is None
    assert "what_if" not in json.loads(to_json(result))


def test_halves_split_every_group_and_label_evenly() -> None:
    rng = np.random.default_rng(1)
    cells = rng.integers(0, 5, size=1001)
    labels = rng.integers(0, 2, size=1001)
    halves = cross_fit_halves(cells, labels, seed=4)
    for cell in range(5):
        for label in (0, 1):
            stratum = halves[(cells == cell) & (labels == label)]
            assert abs(int(stratum.sum()) * 2 - len(stratum)) <= 1
    assert np.array_equal(halves, cross_fit_halves(cells, labels, seed=4))
    assert not np.array_equal(halves, cross_fit_halves(cells, labels, seed=5))


def test_reweighting_moves_each_groups_odds_by_its_kamiran_calders_weights(
    workspace: Workspace,
) -> None:
    frame = planted(seed=1)
    data = workspace.table(frame)
    train = planted(rows=900, seed=2)
    result = audit(data, train_data=workspace.table(train, "train.csv"))
    read = pd.read_csv(data)
    # w(g, y) = P(y) / P(y | g): each group's label odds move by w(g, 1) / w(g, 0).
    overall = train["y"].mean()
    by_group = train.groupby("g")["y"].mean()
    factor = (overall / by_group) / ((1 - overall) / (1 - by_group))
    scores = score(read[["x"]].to_numpy(dtype=np.float32)).astype(np.float64)
    odds = scores / (1 - scores) * read["g"].map(factor).to_numpy()
    decided = (odds / (1 + odds) >= 0.5).astype(int)
    found = method(result, "reweighting")
    assert_matches(found, expected_figures(read, decided))
    before = method(result, "before").metrics["demographic_parity_difference"]
    assert found.metrics["demographic_parity_difference"] < before  # type: ignore[operator]
    json.loads(to_json(result))


def test_a_group_too_small_keeps_the_models_decisions(workspace: Workspace) -> None:
    data = workspace.table(planted(small=12))
    found = method(audit(data), "thresholds_demographic_parity")
    assert found.unchanged == {"C": "12 rows, fewer than min_group_size (30)"}
    small = next(group for group in found.groups if group.group == ("C",))
    assert small.status == "insufficient_data" and small.selection_rate is None


def test_a_streamed_audit_skips_the_what_if_with_its_reason(workspace: Workspace) -> None:
    data = workspace.table(planted(rows=100))
    result = audit(data, chunk_rows=50, policy={"n_boot": 20})
    assert result.what_if is not None
    assert result.what_if.status == "skipped" and result.what_if.reason == STREAMED
    assert json.loads(to_json(result))["what_if"]["slices"] == []


def test_adult_example_reports_the_trade_off_in_every_format(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = cli(
        "run",
        ADULT_MODEL,
        ADULT_DATA,
        "--target",
        "income",
        "--sensitive",
        "sex,race",
        "--what-if",
        "--no-explain",
        "--n-boot",
        "200",
        "--format",
        "json,html,markdown",
        "--out",
        out,
    )
    assert result.exit_code in (0, 1), result.output
    document = json.loads((out / "report.json").read_text("utf-8"))
    sex = next(s for s in document["what_if"]["slices"] if s["feature"] == ["sex"])
    before, dp = sex["methods"][0], sex["methods"][1]
    assert dp["id"] == "thresholds_demographic_parity"
    assert (
        dp["metrics"]["demographic_parity_difference"]
        < before["metrics"]["demographic_parity_difference"] / 4
    )
    markdown = (out / "report.md").read_text("utf-8")
    assert "#### By `sex`" in markdown
    shown = f"{before['metrics']['accuracy']:.3f} [{before['ci']['accuracy'][0]:.3f}, "
    assert shown in markdown
    assert "Per-group thresholds for demographic parity" in markdown
    html = (out / "report.html").read_text("utf-8")
    assert 'id="what-if"' in html and "disparate treatment" in html
    assert 'aria-label="Demographic parity difference by method, sex"' in html


def test_a_crashing_method_is_recorded_and_the_audit_is_incomplete(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    import audit.mitigation.what_if as what_if

    def crash(*args: Any, **kwargs: Any) -> np.ndarray:
        raise RuntimeError("deliberate failure")

    monkeypatch.setattr(what_if, "threshold_decisions", crash)
    result = audit(workspace.table(planted(rows=100)))
    assert result.what_if is not None and result.what_if.status == "error"
    found = method(result, "thresholds_equalized_odds")
    assert found.status == "error" and found.reason == "RuntimeError: deliberate failure"
    assert method(result, "before").status == "ok"
    assert result.incomplete  # exit code 3, like a crashed check
    assert any(check.id == "what_if" for check in result.checks)
    json.loads(to_json(result))


def test_decisions_read_from_the_data_are_thresholded_on_their_scores(
    workspace: Workspace,
) -> None:
    frame = planted(rows=300)
    frame["score"] = score(frame[["x"]].to_numpy(dtype=np.float32)).astype(np.float64)
    frame["decision"] = (frame["score"] >= 0.5).astype(int)
    data = workspace.table(frame)
    result = run_audit(
        AuditRequest(
            data=data,
            target="y",
            sensitive=("g",),
            predictions="decision",
            scores="score",
            train_data=workspace.table(frame.sample(200, random_state=1), "train.csv"),
            search_config=False,
            what_if=True,
            policy_overrides={"n_boot": 50, "seed": SEED},
        )
    )
    read = pd.read_csv(data)
    expected = expected_figures(read, expected_thresholds(read, "demographic_parity"))
    assert_matches(method(result, "thresholds_demographic_parity"), expected)
    reweighting = method(result, "reweighting")
    assert reweighting.status == "skipped" and "read from the data" in (reweighting.reason or "")


def test_reweighting_needs_the_sensitive_column_in_the_training_data(
    workspace: Workspace,
) -> None:
    data = workspace.table(planted(rows=100))
    train = workspace.table(planted(rows=100, seed=2).drop(columns="g"), "train.csv")
    found = method(audit(data, train_data=train), "reweighting")
    assert found.status == "skipped"
    assert found.reason == "the training data (train.csv) has no column 'g'"
