"""The robustness stage: perturbation stability and recourse per group, against planted models.

Every audited table here has fewer rows than the explanation sample, so every row is
explained with weight 1 and the tests recompute the stage's numbers with plain numpy: the
same seeded noise applied to the table, scored by the model itself, and recourse found by
brute force over the same grid.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import FAST_N_BOOT, Workspace

from audit import AuditRequest, run_audit, to_json
from audit.core.findings import Severity
from audit.core.result import AuditResult, CheckStatus
from audit.data.table import ColumnCodes
from audit.robustness.perturb import is_numeric, perturbation_plan, perturbed_rows
from audit.robustness.recourse import lever_of, search
from audit.robustness.results import GroupValue
from audit.robustness.settings import RobustnessSettings
from audit.robustness.stage import STREAM_PERTURB

FEATURES = ("x1", "x2", "imm")
SMALL_GROUP = 12  # rows of group C: fewer than min_group_size (30)
ACTIONABLE = {"x1": "increase"}


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))


def fragile_model(batch: np.ndarray) -> np.ndarray:
    """Decides on x2 alone, steeply: group B's x2 sits at the threshold (see planted_frame)."""
    return sigmoid(40.0 * batch[:, 1])


def steep_model(batch: np.ndarray) -> np.ndarray:
    """Approves x1 > 2 x2: x2 tracks group B, so B must raise x1 by two more units."""
    return sigmoid(6.0 * (batch[:, 0] - 2.0 * batch[:, 1]))


def steady_model(batch: np.ndarray) -> np.ndarray:
    """Approves x1 > 0, the same rule for everyone, on inputs spread alike in every group."""
    return sigmoid(3.0 * batch[:, 0])


def planted_frame(kind: str, seed: int = 0) -> pd.DataFrame:
    """Groups A and B (200 rows each) and C (12). ``fragile``: B's x2 right at the threshold,
    A's far from it; ``steep``: x2 is 1 for B, 0 for A (plus a little noise); ``steady``: the
    same distributions for every group."""
    rng = np.random.default_rng(seed)
    group = np.array(["A"] * 200 + ["B"] * 200 + ["C"] * SMALL_GROUP)
    n = len(group)
    x1 = rng.normal(size=n)
    if kind == "fragile":
        far = rng.choice([-1.0, 1.0], size=n) * (1.5 + np.abs(rng.normal(size=n)))
        x2 = np.where(group == "B", rng.normal(0.0, 0.005, n), far)
    elif kind == "steep":
        x2 = (group == "B") + rng.normal(0.0, 0.1, n)
    else:
        x2 = rng.normal(size=n)
    return pd.DataFrame(
        {
            "x1": np.round(x1, 6),
            "x2": np.round(x2, 6),
            "imm": np.round(rng.normal(size=n), 6),
            "group": group,
            "label": rng.integers(0, 2, n),
        }
    )


MODELS = {"fragile": fragile_model, "steep": steep_model, "steady": steady_model}


def audit(
    workspace: Workspace, kind: str, model_file: Path | None = None, **policy: Any
) -> AuditResult:
    """The audit of a planted table by its model, or by ``model_file`` (which embeds its
    feature list) in its place."""
    frame = planted_frame(kind)
    return run_audit(
        AuditRequest(
            data=workspace.table(frame, f"{kind}.csv"),
            model=MODELS[kind] if model_file is None else model_file,
            features=FEATURES if model_file is None else None,
            target="label",
            sensitive=("group",),
            explain=False,
            search_config=False,
            policy_overrides={
                "n_boot": FAST_N_BOOT,
                "robustness": {"immutable": ["imm"], "actionable": ACTIONABLE},
                **policy,
            },
        )
    )


def scores_of(frame: pd.DataFrame, kind: str) -> np.ndarray:
    """The model's score of a table's rows, as the audit feeds it: float32 inputs."""
    inputs = frame[list(FEATURES)].to_numpy(dtype=np.float64).astype(np.float32)
    return MODELS[kind](inputs)


def expected_flip_rates(kind: str, per_row: int = 5, seed: int = 0) -> dict[str, float]:
    """Each group's share of perturbed copies decided otherwise, recomputed: the stage's noise
    (its seeded stream; x1 then x2, 1% of each column's standard deviation, ``per_row``
    copies per row next to each other), applied here and scored by the model itself."""
    frame = planted_frame(kind)
    rng = np.random.default_rng([seed, STREAM_PERTURB])
    copies = frame.loc[np.repeat(frame.index, per_row)].reset_index(drop=True)
    for column in ("x1", "x2"):
        sd = 0.01 * frame[column].std(ddof=0)
        copies[column] = copies[column].to_numpy() + rng.normal(0.0, sd, len(copies))
    before = np.repeat(scores_of(frame, kind) >= 0.5, per_row)
    changed = (scores_of(copies, kind) >= 0.5) != before
    by_group = pd.Series(changed).groupby(copies["group"].to_numpy()).mean()
    return {str(group): float(rate) for group, rate in by_group.items()}


def expected_recourse(kind: str, max_cost: float = 2.0, points: int = 10) -> pd.DataFrame:
    """Per rejected row, the cheapest raise of x1 to a grid value (the column's quantiles at
    ``points`` levels, observed values) that the model approves, by brute force: one column,
    so greedy search must find exactly this."""
    frame = planted_frame(kind)
    x1 = frame["x1"].to_numpy()
    grid = np.unique(np.quantile(x1, np.linspace(0, 1, points), method="inverted_cdf"))
    spread = x1.std()
    rejected = frame[scores_of(frame, kind) < 0.5].reset_index(drop=True)
    start = rejected["x1"].to_numpy()
    costs = np.full(len(rejected), np.inf)
    for value in grid:
        cost = (value - start) / spread
        approved = scores_of(rejected.assign(x1=value), kind) >= 0.5
        allowed = (value > start) & (cost <= max_cost + 1e-12) & approved
        costs = np.where(allowed, np.minimum(costs, cost), costs)
    return rejected.assign(cost=costs)


def value_of(values: tuple[GroupValue, ...], group: str) -> GroupValue:
    (found,) = [value for value in values if value.group == group]
    return found


def findings_of(result: AuditResult, check: str) -> list[Any]:
    return [finding for finding in result.findings if finding.check == check]


@pytest.fixture(scope="module")
def audits(tmp_path_factory: pytest.TempPathFactory) -> dict[str, AuditResult]:
    workspace = Workspace(tmp_path_factory.mktemp("robustness"))
    return {kind: audit(workspace, kind) for kind in MODELS}


def test_flip_rates_equal_the_same_perturbations_scored_here(
    audits: dict[str, AuditResult],
) -> None:
    for kind in ("fragile", "steady"):
        report = audits[kind].robustness
        assert report is not None and report.stability is not None
        expected = expected_flip_rates(kind)
        for group in ("A", "B"):
            found = value_of(report.stability.flip_rates, group)
            assert found.value == pytest.approx(expected[group], abs=1e-12), (kind, group)
            assert found.n == 200


def test_a_group_at_the_threshold_is_caught_as_fragile(audits: dict[str, AuditResult]) -> None:
    result = audits["fragile"]
    (finding,) = findings_of(result, "robustness.stability_gap")
    evidence = finding.evidence
    rates = expected_flip_rates("fragile")
    assert evidence.groups == (("B",), ("A",))
    assert rates["A"] == 0.0 and rates["B"] > 0.2
    assert evidence.value == pytest.approx(rates["B"] - rates["A"], abs=1e-12)
    assert finding.severity is Severity.CRITICAL
    assert finding.accountable.value == "developer"


def test_a_tiny_group_has_no_rate(audits: dict[str, AuditResult]) -> None:
    report = audits["fragile"].robustness
    assert report is not None and report.stability is not None
    small = value_of(report.stability.flip_rates, "C")
    assert small.value is None and small.ci is None and small.n == SMALL_GROUP
    assert small.undefined is not None and small.undefined.startswith("insufficient data: 12")


def test_a_group_specific_steep_input_is_caught_as_unequal_recourse(
    audits: dict[str, AuditResult],
) -> None:
    result = audits["steep"]
    report = result.robustness
    assert report is not None and report.recourse is not None
    expected = expected_recourse("steep")
    for group in ("A", "B"):
        mine = expected[expected["group"] == group]
        reachable = np.isfinite(mine["cost"].to_numpy())
        assert value_of(report.recourse.shares, group).value == pytest.approx(
            reachable.mean(), abs=1e-12
        )
        assert value_of(report.recourse.shares, group).n == len(mine)
    share_gap = [
        finding
        for finding in findings_of(result, "robustness.recourse_gap")
        for row in finding.measurements()
        if row.evidence.metric == "recourse_share_gap"
    ]
    assert share_gap, [finding.title for finding in result.findings]
    measured = next(
        row for row in share_gap[0].measurements() if row.evidence.metric == "recourse_share_gap"
    )
    assert measured.evidence.groups == (("B",), ("A",))  # B has less recourse
    assert measured.severity.rank >= Severity.HIGH.rank


def test_the_cost_of_recourse_equals_brute_force_over_the_grid() -> None:
    frame = planted_frame("steep")
    lever = lever_of(frame["x1"], "x1", "increase", 10)
    assert lever is not None
    rejected = frame[scores_of(frame, "steep") < 0.5].reset_index(drop=True)

    def score_rows(rows: pd.DataFrame) -> np.ndarray:
        return scores_of(rows, "steep")

    found = search(rejected, [lever], score_rows(rejected), score_rows, 0.5, 2, 2.0)
    expected = expected_recourse("steep")["cost"].to_numpy()
    assert np.array_equal(np.isfinite(found.cost), np.isfinite(expected))
    reachable = np.isfinite(expected)
    assert found.cost[reachable] == pytest.approx(expected[reachable], abs=1e-12)
    assert found.moved[:, 0].tolist() == reachable.tolist()


def test_a_robust_fair_model_raises_nothing_at_medium_or_above(
    audits: dict[str, AuditResult],
) -> None:
    result = audits["steady"]
    runs = {run.id: run for run in result.checks}
    for check in ("robustness.stability_gap", "robustness.recourse_gap"):
        assert runs[check].status is CheckStatus.OK
        serious = [
            finding
            for finding in findings_of(result, check)
            if finding.severity.rank >= Severity.MEDIUM.rank
        ]
        assert serious == [], [finding.title for finding in serious]
    report = result.robustness
    assert report is not None and report.recourse is not None
    assert report.recourse.status == "ok" and report.recourse.rejected > 100


def test_sensitive_and_immutable_columns_never_move() -> None:
    rng = np.random.default_rng(3)
    n = 300
    frame = pd.DataFrame(
        {
            "x1": rng.normal(size=n),
            "imm": rng.normal(size=n),
            "colour": rng.choice(["red", "green", "blue"], size=n, p=[0.6, 0.3, 0.1]),
            "sex": rng.choice(["F", "M"], size=n),
            "sex_code": rng.integers(0, 2, n),
        }
    )
    settings = RobustnessSettings(category_change=0.5, immutable=["imm"])
    held = {"sex", "imm", "sex_code"}
    plan = perturbation_plan(ColumnCodes(frame), tuple(frame.columns), held, set(), settings, 10)
    assert [column.column for column in plan.described] == ["x1", "colour"]
    perturbed = perturbed_rows(frame, plan, np.random.default_rng(0))
    original = frame.loc[np.repeat(frame.index, settings.perturbations)].reset_index(drop=True)
    for column in sorted(held):
        assert perturbed[column].tolist() == original[column].tolist(), column
    changed = perturbed["colour"] != original["colour"]
    assert 0.4 < changed.mean() < 0.6  # category_change of them, each to another category
    assert set(perturbed["colour"]) == {"red", "green", "blue"}
    assert (perturbed["x1"] != original["x1"]).all()
    noise = (perturbed["x1"] - original["x1"]).std()
    assert noise == pytest.approx(0.01 * frame["x1"].std(ddof=0), rel=0.1)


def test_the_section_is_the_same_for_the_same_seed(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path)
    first, second = audit(workspace, "steep"), audit(workspace, "steep")
    sections = [json.loads(to_json(result))["robustness"] for result in (first, second)]
    assert sections[0] == sections[1]
    reseeded = json.loads(to_json(audit(workspace, "steep", seed=1)))["robustness"]
    assert reseeded["stability"] != sections[0]["stability"]


def test_without_a_model_the_stage_is_skipped_with_its_reason(tmp_path: Path) -> None:
    frame = planted_frame("steady").assign(decision=lambda table: (table["x1"] > 0).astype(int))
    result = run_audit(
        AuditRequest(
            data=Workspace(tmp_path).table(frame),
            predictions="decision",
            target="label",
            sensitive=("group",),
            search_config=False,
            policy_overrides={"n_boot": FAST_N_BOOT},
        )
    )
    assert result.robustness is not None and result.robustness.status == "skipped"
    reason = "no model to perturb: the audit reads decisions from --predictions"
    assert result.robustness.reason == reason
    runs = {run.id: run for run in result.checks}
    assert runs["robustness.stability_gap"].status is CheckStatus.SKIPPED
    assert runs["robustness.stability_gap"].reason == f"no robustness test: {reason}"


def test_a_policy_column_the_data_lacks_is_a_one_line_error(tmp_path: Path) -> None:
    from audit.core.errors import ConfigError

    with pytest.raises(ConfigError, match=r"actionable names the column 'hours'"):
        audit(Workspace(tmp_path), "steady", robustness={"actionable": {"hours": "increase"}})


def test_the_html_report_says_it_in_words_with_a_chart_per_question(
    audits: dict[str, AuditResult],
) -> None:
    from reports.html_report import HtmlFormatter

    html = HtmlFormatter().render(audits["steep"])
    section = html[html.index('<section id="robustness"') :]
    section = section[: section.index("</section>")]
    assert section.count("<svg") == 2
    assert "of rejected people could be approved" in section
    report = audits["steep"].robustness
    assert report is not None and report.recourse is not None
    share = {row.group: row.value for row in report.recourse.shares}
    assert share["B"] is not None and share["A"] is not None and share["B"] < share["A"]
    assert (
        f"the widest gap between groups is by group, B {100 * share['B']:.1f}% against "
        f"A {100 * share['A']:.1f}%."
    ) in section


def test_the_headline_names_the_widest_gap_by_its_attribute_not_a_highest_group() -> None:
    from audit.robustness.results import Gap, Stability
    from reports.robustness_charts import _headline

    def rate(feature: str, group: str, value: float) -> GroupValue:
        return GroupValue(feature, group, 100, value, (value / 2, value * 2))

    # Male has the highest rate of all; race has the widest gap between its own groups.
    rates = (
        rate("sex", "Female", 0.010),
        rate("sex", "Male", 0.022),
        rate("race", "White", 0.020),
        rate("race", "Other", 0.003),
    )
    gaps = (
        Gap("sex", "flip_rate", 0.012, (0.001, 0.04), "Male", "Female"),
        Gap("race", "flip_rate", 0.017, (0.007, 0.04), "White", "Other"),
    )
    stability = Stability("ok", flip_rate=0.018, flip_rates=rates, gaps=gaps)
    assert _headline(stability, None) == (
        "Small, realistic errors in a person's inputs change 1.8% of decisions; the widest gap "
        "between groups is by race, White 2.0% against Other 0.3%."
    )
    level = Stability("ok", flip_rate=0.018, flip_rates=rates, gaps=(replace(gaps[0], value=0.0),))
    assert _headline(level, None).endswith("change 1.8% of decisions.")


def test_a_streamed_audit_perturbs_the_streamed_sample(tmp_path: Path) -> None:
    frame = planted_frame("fragile")
    result = run_audit(
        AuditRequest(
            data=Workspace(tmp_path).table(frame, "fragile.csv"),
            model=MODELS["fragile"],
            features=FEATURES,
            target="label",
            sensitive=("group",),
            explain=False,
            chunk_rows=100,
            search_config=False,
            policy_overrides={"n_boot": FAST_N_BOOT, "robustness": {"immutable": ["imm"]}},
        )
    )
    report = result.robustness
    assert report is not None and report.status == "ok" and report.stability is not None
    # Every row is in the streamed sample (fewer than its rows per cell), so B is as fragile.
    assert report.rows == len(frame)
    assert value_of(report.stability.flip_rates, "B").n == 200
    assert [
        finding.evidence.groups for finding in findings_of(result, "robustness.stability_gap")
    ] == [(("B",), ("A",))]


def test_categories_are_drawn_by_their_share_of_the_rows_with_a_value() -> None:
    colour = ["blue", None, "red", "red", "green", "red", None, "blue", "red", "green"]
    frame = pd.DataFrame({"colour": colour, "code": [3, 1, 3, 3, 2, 1, 3, 3, 2, 3]})
    plan = perturbation_plan(
        ColumnCodes(frame), ("colour", "code"), (), set(), RobustnessSettings(), 10
    )
    for column, categorical in zip(("colour", "code"), plan.categorical, strict=True):
        expected = frame[column].value_counts(normalize=True, dropna=True)
        assert categorical.column == column
        assert dict(zip(categorical.values, categorical.frequencies, strict=True)) == pytest.approx(
            expected.to_dict(), rel=0, abs=1e-15
        )
        assert categorical.values.tolist() == frame[column].dropna().unique().tolist()
    assert [(column.column, column.categories) for column in plan.described] == [
        ("colour", 2),
        ("code", 2),
    ]


def test_a_column_is_a_scale_by_its_distinct_values_past_its_first_rows() -> None:
    """The first rows' distinct values decide early; a column whose later rows add values
    past max_categories is still a scale."""
    few_then_many = pd.Series(np.r_[np.zeros(20_000), np.arange(11.0)])
    assert is_numeric(few_then_many, 10)
    assert not is_numeric(pd.Series(np.r_[np.zeros(20_000), np.arange(10.0)]), 10)
    assert is_numeric(pd.Series(np.arange(30_000)), 10)
    assert not is_numeric(pd.Series([True, False] * 20), 1)
    assert not is_numeric(pd.Series([str(value) for value in range(40)]), 10)


def test_numeric_noise_scale_is_the_spread_of_the_numbers_missing_values_aside() -> None:
    values = np.random.default_rng(5).normal(3.0, 2.0, 1_000)
    with_missing = values.copy()
    with_missing[::7] = np.nan
    frame = pd.DataFrame({"complete": values, "gappy": with_missing})
    settings = RobustnessSettings()
    plan = perturbation_plan(ColumnCodes(frame), ("complete", "gappy"), (), set(), settings, 10)
    assert dict(plan.numeric) == {
        "complete": settings.noise * np.nanstd(values),
        "gappy": settings.noise * np.nanstd(with_missing),
    }
