"""The ``[robustness]`` section of the policy: how decisions are perturbed and which inputs a
person can act on.

Defaults are in knowledge/policy_defaults.toml; docs/configuration.md explains each key.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat

Direction = Literal["increase", "decrease", "any"]


class RobustnessSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Perturbed copies of each explained row, all scored in one batch.
    perturbations: int = Field(default=5, ge=1, le=100)
    # Gaussian noise on a numeric column, as a share of its standard deviation.
    noise: float = Field(default=0.01, gt=0, le=1)
    # A column's measurement precision (the noise's standard deviation in its own units),
    # which replaces ``noise`` for that column.
    precision: dict[str, PositiveFloat] = {}
    # Chance that a perturbation records a categorical column as another of its categories.
    category_change: float = Field(default=0.02, ge=0, le=1)
    # Columns that never move, in perturbations or in recourse (sensitive columns never do).
    immutable: list[str] = []
    # Columns a person can change to turn a rejection around, and in which direction.
    actionable: dict[str, Direction] = {}
    # Recourse search: candidate values per column (quantiles of the column), the most
    # columns changed, and the largest total change, in standard deviations of each column.
    grid: int = Field(default=10, ge=2, le=100)
    max_changes: int = Field(default=2, ge=1, le=10)
    max_cost: float = Field(default=2.0, gt=0)
