"""Recourse by gradient search for torch models, against the least change worked out by hand.

For a linear score the least change in spreads is a fractional knapsack: fill the levers in
order of how much a spread of each raises the logit, each up to its observed range, until the
logit reaches zero. The gradient search must find exactly that (to its bisection's precision),
where the grid search only finds an upper bound.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import Workspace, linear
from test_robustness import audit, planted_frame, value_of
from torch import nn

from audit.core.result import AuditResult
from audit.explain.captum_attributions import TorchForward
from audit.models.features import FeatureMetadata, from_metadata
from audit.models.positive_score import PositiveScore
from audit.robustness.gradient_recourse import affine_inputs, gradient_search
from audit.robustness.recourse import Lever, lever_of, search
from audit.robustness.settings import Direction

LOGITS = PositiveScore("logits", None)
PRECISION = 1e-4  # in spreads: the bisection pins the crossing far closer than this


def metadata(columns: dict[str, tuple[float, float]]) -> FeatureMetadata:
    return FeatureMetadata.model_validate(
        {
            "format": "rai-audit/features-v1",
            "features": [
                {"column": name, "kind": "numeric", "mean": mean, "scale": scale}
                for name, (mean, scale) in columns.items()
            ],
            "output_kind": "logits",
        }
    )


def linear_forward(weights: list[float], bias: float) -> TorchForward:
    return TorchForward(linear([weights], [bias]).eval(), torch.device("cpu"), LOGITS)


class Problem:
    """A linear logistic model on standardised inputs, and rows it rejects."""

    def __init__(
        self,
        frame: pd.DataFrame,
        encoding: FeatureMetadata,
        weights: list[float],
        bias: float,
        directions: dict[str, Direction],
    ) -> None:
        self.frame, self.encoding, self.directions = frame, encoding, directions
        self.forward = linear_forward(weights, bias)
        self.encoded = from_metadata(frame, encoding, Path("planted.csv")).values[:]
        self.logits = self.encoded.astype(np.float64) @ np.asarray(weights) + bias
        self.levers: list[Lever] = []
        for column, direction in directions.items():
            lever = lever_of(frame[column], column, direction, 10)
            assert lever is not None
            self.levers.append(lever)
        # The logit's change per spread of each lever, through its standardisation.
        scales = {spec.column: spec.scale for spec in encoding.features}
        position = {spec.column: index for index, spec in enumerate(encoding.features)}
        self.per_spread = np.array(
            [
                weights[position[lever.column]] / scales[lever.column] * lever.spread
                for lever in self.levers
            ]
        )

    def encode(self, changed: pd.DataFrame) -> np.ndarray:
        return from_metadata(changed, self.encoding, Path("planted.csv")).values[:]

    def score_rows(self, changed: pd.DataFrame) -> np.ndarray:
        return self.forward.numpy(self.encode(changed))

    def rejected(self) -> np.ndarray:
        return np.flatnonzero(self.logits < 0)

    def gradient(self, max_changes: int = 2, max_cost: float = 2.0) -> tuple[np.ndarray, Any]:
        rows = self.rejected()
        frame = self.frame.iloc[rows]
        inputs = affine_inputs(self.encode, frame, self.encoded[rows], self.levers)
        found = gradient_search(
            frame,
            self.encoded[rows],
            self.levers,
            inputs,
            self.forward,
            self.score_rows,
            0.5,
            max_changes,
            max_cost,
        )
        return rows, found

    def least_change(self, max_changes: int = 2, max_cost: float = 2.0) -> np.ndarray:
        """Per rejected row, the least total change in spreads (fractional knapsack)."""
        costs = []
        for row in self.rejected():
            need = -self.logits[row]
            cost, used = 0.0, 0
            for position in np.argsort(-np.abs(self.per_spread), kind="stable"):
                lever, rate = self.levers[position], self.per_spread[position]
                value = float(self.frame[lever.column].iloc[row])
                room_up = (lever.grid[-1] - value) / lever.spread
                room_down = (value - lever.grid[0]) / lever.spread
                if rate > 0 and lever.direction in ("increase", "any"):
                    room = room_up
                elif rate < 0 and lever.direction in ("decrease", "any"):
                    room = room_down
                else:
                    continue
                if need <= 0 or used == max_changes or room <= 0:
                    break
                step = min(room, need / abs(rate))
                cost, need, used = cost + step, need - step * abs(rate), used + 1
            costs.append(cost if need <= 1e-12 and cost <= max_cost else np.inf)
        return np.array(costs)


def two_levers(directions: dict[str, Direction], seed: int = 0) -> Problem:
    rng = np.random.default_rng(seed)
    n = 300
    frame = pd.DataFrame(
        {"a": rng.normal(0.0, 2.0, n), "b": rng.normal(5.0, 1.0, n), "c": rng.normal(size=n)}
    )
    encoding = metadata({"a": (0.0, 2.0), "b": (5.0, 1.0), "c": (0.0, 1.0)})
    # Per spread, b raises the logit 1.5 times as much as a; c is not actionable.
    return Problem(frame, encoding, [1.0, 1.5, 2.0], -1.0, directions)


def test_the_gradient_search_finds_the_least_change_of_a_linear_model() -> None:
    problem = two_levers({"a": "increase", "b": "increase"})
    rows, found = problem.gradient()
    expected = problem.least_change()
    assert len(rows) > 50
    assert np.array_equal(np.isfinite(found.cost), np.isfinite(expected))
    reachable = np.isfinite(expected)
    assert reachable.sum() > 30 and (~reachable).sum() > 5
    assert found.cost[reachable] == pytest.approx(expected[reachable], abs=PRECISION)
    # The grid search's cost is an upper bound on the same least change.
    grid = search(
        problem.frame.iloc[rows],
        problem.levers,
        1 / (1 + np.exp(-problem.logits[rows])),
        problem.score_rows,
        0.5,
        2,
        2.0,
    )
    both = np.isfinite(grid.cost)
    assert (grid.cost[both] >= expected[both] - PRECISION).all()
    assert (grid.cost[both] > found.cost[both] + 0.01).mean() > 0.5


def test_the_search_moves_only_as_the_policy_allows() -> None:
    # b may only fall, though raising it would help: every change must come from a.
    problem = two_levers({"a": "increase", "b": "decrease"})
    _, found = problem.gradient()
    expected = problem.least_change()
    reachable = np.isfinite(expected)
    assert np.array_equal(np.isfinite(found.cost), reachable)
    assert found.cost[reachable] == pytest.approx(expected[reachable], abs=PRECISION)
    assert not found.moved[:, 1].any() and found.moved[reachable, 0].all()
    # With one column allowed, rows that need both levers have no recourse.
    either = two_levers({"a": "increase", "b": "any"})
    _, single = either.gradient(max_changes=1)
    one = either.least_change(max_changes=1)
    two = either.least_change(max_changes=2)
    assert np.array_equal(np.isfinite(single.cost), np.isfinite(one))
    assert (np.isfinite(two) & ~np.isfinite(one)).any()
    assert (single.moved.sum(axis=1) <= 1).all()


def test_a_whole_number_column_moves_to_a_whole_number_the_model_approves() -> None:
    rng = np.random.default_rng(1)
    n = 300
    frame = pd.DataFrame({"hours": rng.integers(10, 70, n), "c": rng.normal(size=n)})
    encoding = metadata({"hours": (40.0, 10.0), "c": (0.0, 1.0)})
    problem = Problem(frame, encoding, [1.0, 1.0], -0.5, {"hours": "increase"})
    assert problem.levers[0].whole
    rows, found = problem.gradient(max_cost=5.0)
    hours = frame["hours"].to_numpy()[rows].astype(np.float64)
    # The least whole number of hours that reaches the threshold: logit = (h - 40)/10 + c - 0.5.
    needed = np.ceil(40 + 10 * (0.5 - frame["c"].to_numpy()[rows]) - 1e-9)
    reachable = needed <= frame["hours"].max()
    spread = problem.levers[0].spread
    assert np.array_equal(np.isfinite(found.cost), reachable)
    moved_by = found.cost[reachable] * spread
    assert moved_by == pytest.approx(needed[reachable] - hours[reachable], abs=1e-9)


def test_a_column_the_encoding_bins_is_left_to_the_grid_search() -> None:
    problem = two_levers({"a": "increase", "b": "increase"})
    rows = problem.rejected()

    def binned(changed: pd.DataFrame) -> np.ndarray:
        encoded = problem.encode(changed)
        encoded[:, 0] = np.floor(encoded[:, 0])
        return encoded

    frame = problem.frame.iloc[rows]
    found = affine_inputs(binned, frame, binned(frame), problem.levers)
    assert found[0] is None
    assert found[1] is not None and found[1].position == 1
    assert found[1].slope == pytest.approx(1.0, rel=1e-6)  # b is standardised with scale 1
    plain = affine_inputs(problem.encode, frame, problem.encoded[rows], problem.levers)
    assert plain[0] is not None and plain[0].slope == pytest.approx(0.5, rel=1e-6)


class SteepLogit(nn.Module):
    """``steep_model`` of test_robustness as a torch module on standardised inputs:
    logit 6 (x1 - 2 x2), x1 standardised with mean 0.5 and scale 2."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = linear([[12.0, -12.0, 0.0]], [3.0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


class Detached(SteepLogit):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x.detach()).detach()


STEEP_METADATA = {
    "format": "rai-audit/features-v1",
    "features": [
        {"column": "x1", "kind": "numeric", "mean": 0.5, "scale": 2.0},
        {"column": "x2", "kind": "numeric", "mean": 0.0, "scale": 1.0},
        {"column": "imm", "kind": "numeric", "mean": 0.0, "scale": 1.0},
    ],
    "output_kind": "logits",
}


def steep_audit(workspace: Workspace, model: nn.Module | None) -> AuditResult:
    """The steep table's audit by ``model`` saved as TorchScript, or by its numpy twin."""
    if model is None:
        return audit(workspace, "steep")
    return audit(workspace, "steep", workspace.torchscript(model, "steep.pt", STEEP_METADATA))


def test_a_torch_models_audit_takes_the_cheaper_gradient_recourse(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path)
    torch_result, grid_result = steep_audit(workspace, SteepLogit()), steep_audit(workspace, None)
    gradient, grid = torch_result.robustness, grid_result.robustness
    assert gradient is not None and gradient.recourse is not None
    assert grid is not None and grid.recourse is not None
    assert (gradient.recourse.search, grid.recourse.search) == ("gradient", "grid")
    assert grid.recourse.by_gradient == 0 and gradient.recourse.by_gradient > 100
    # By hand: a rejected row needs x1 raised to 2 x2, within x1's range and the budget of 2.
    frame = planted_frame("steep")
    x1, x2 = frame["x1"].to_numpy(), frame["x2"].to_numpy()
    rejected = x1 < 2 * x2
    cost = (2 * x2 - x1) / x1.std()
    reachable = (2 * x2 <= x1.max()) & (cost <= 2.0)
    for group in ("A", "B"):
        mine = rejected & (frame["group"].to_numpy() == group)
        share = value_of(gradient.recourse.shares, group)
        assert share.n == mine.sum()
        assert share.value == pytest.approx(reachable[mine].mean(), abs=1e-12)
        assert share.value >= value_of(grid.recourse.shares, group).value  # type: ignore[operator]
        costs = np.sort(cost[mine & reachable])
        lower_median = costs[(len(costs) - 1) // 2]
        median = value_of(gradient.recourse.costs, group).value
        assert median == pytest.approx(lower_median, abs=PRECISION)
    # B, whose x2 is one higher, must still change more and less often gets there.
    gaps = {gap.metric: gap for gap in gradient.recourse.gaps}
    assert (gaps["recourse_share"].low, gaps["recourse_cost"].high) == ("B", "B")


def test_a_torch_model_without_gradients_is_searched_on_the_grid(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path)
    result = steep_audit(workspace, Detached())
    report = result.robustness
    assert report is not None and report.recourse is not None
    assert report.recourse.status == "ok" and report.recourse.search == "grid"
    assert any(
        note.startswith("gradient search unavailable, grid search only: the torch model's output")
        for note in report.recourse.notes
    ), report.recourse.notes


def test_the_html_report_says_which_search_found_the_recourse(tmp_path: Path) -> None:
    from reports.html_report import HtmlFormatter

    workspace = Workspace(tmp_path)
    result = steep_audit(workspace, SteepLogit())
    assert result.robustness is not None and result.robustness.recourse is not None
    rows = result.robustness.recourse.by_gradient
    html = HtmlFormatter().render(result)
    section = html[html.index('<section id="robustness"') :]
    assert (
        "the cheaper of a gradient search through the model and a greedy search over each "
        f"column’s quantiles, the gradient search’s for {rows:,} rows"
    ) in section
