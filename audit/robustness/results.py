"""The robustness stage's report: frozen dataclasses that report.json and the HTML report read.

Every number is an aggregate over the explained rows of a group; no row, value or path of a
person is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Status = Literal["ok", "skipped", "error"]


@dataclass(frozen=True)
class PerturbedColumn:
    """How one of the model's columns is perturbed."""

    column: str
    kind: Literal["numeric", "categorical"]
    # numeric: the Gaussian noise's standard deviation, in the column's units
    noise_sd: float | None = None
    # numeric: "policy precision", or the share of the column's standard deviation
    noise_source: str | None = None
    categories: int | None = None  # categorical: how many categories it can change to


@dataclass(frozen=True)
class GroupValue:
    """One measure of one group, over the explained rows it has."""

    feature: str
    group: str
    n: int  # the rows it is measured over
    value: float | None
    ci: tuple[float, float] | None
    undefined: str | None = None  # why it has no value (too few rows)


@dataclass(frozen=True)
class Gap:
    """The largest difference of a measure between a feature's groups (highest minus lowest)."""

    feature: str
    metric: str
    value: float | None
    ci: tuple[float, float] | None
    high: str | None  # the group with the highest value
    low: str | None  # the group with the lowest value
    undefined: str | None = None


@dataclass(frozen=True)
class Stability:
    status: Status
    reason: str | None = None
    rows: int = 0
    perturbations: int = 0  # per row
    columns: tuple[PerturbedColumn, ...] = ()
    held: tuple[str, ...] = ()  # the model's columns never perturbed: sensitive, immutable
    flip_rate: float | None = None  # over every explained row, weighted to the data
    flip_rates: tuple[GroupValue, ...] = ()
    score_changes: tuple[GroupValue, ...] = ()  # mean |score change|
    gaps: tuple[Gap, ...] = ()


@dataclass(frozen=True)
class ActionableColumn:
    column: str
    direction: Literal["increase", "decrease", "any"]
    spread: float  # its standard deviation: one unit of cost
    grid: int  # candidate values (quantiles of the column)
    used: int = 0  # rejected rows whose cheapest change found moves it


@dataclass(frozen=True)
class Recourse:
    status: Status
    reason: str | None = None
    rejected: int = 0
    actionable: tuple[ActionableColumn, ...] = ()
    max_changes: int = 0
    max_cost: float = 0.0
    share: float | None = None  # rejected rows with recourse within the bound, weighted
    shares: tuple[GroupValue, ...] = ()
    costs: tuple[GroupValue, ...] = ()  # median cost of those with recourse
    gaps: tuple[Gap, ...] = ()
    notes: tuple[str, ...] = ()  # policy columns that cannot move or the gradient cannot reach
    # "grid": the greedy grid search alone; "gradient": the gradient search as well (a torch
    # model), each row's recourse the cheaper of the two
    search: Literal["grid", "gradient"] | None = None
    by_gradient: int = 0  # rejected rows whose recourse is the gradient search's (cheaper)


@dataclass(frozen=True)
class Robustness:
    status: Status
    reason: str | None = None
    explained: str | None = None  # the score perturbed, as the explanations name it
    rows: int = 0  # explained rows (the explanation stage's seeded sample)
    threshold: float | None = None  # the decision threshold on that score
    stability: Stability | None = None
    recourse: Recourse | None = None
