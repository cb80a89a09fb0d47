"""The ``[data_fit]`` section of the policy: how drift is binned and what a confident score is.

Defaults are in knowledge/policy_defaults.toml; docs/configuration.md explains each key.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class DataFitSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Bins of a numeric column, cut at the training data's quantiles (fewer when values repeat).
    numeric_bins: int = Field(default=10, ge=2, le=100)
    # A column with more distinct training values than this is not binned by category (it is
    # more likely an identifier or free text); its drift is not measured.
    max_categories: int = Field(default=50, ge=2)
    # Shares below this count as this in the population stability index, so that an empty
    # bin on one side gives a large but finite term.
    share_floor: float = Field(default=1e-4, gt=0, lt=0.01)
    # Without training data: a numeric input is out of range more than this many scales
    # (the model's embedded standardisation) from the mean it was trained with.
    metadata_scales: float = Field(default=5.0, gt=0)
    # A label is confidently contradicted when the model's score is at least ``confident_high``
    # for a negative label, or at most ``confident_low`` for a positive one.
    confident_high: float = Field(default=0.9, gt=0.5, lt=1)
    confident_low: float = Field(default=0.1, gt=0, lt=0.5)
