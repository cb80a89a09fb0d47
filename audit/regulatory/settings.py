"""The ``[ll144]`` section of the policy: the metadata, columns and category map of the New York
City Local Law 144 bias-audit pack (docs/regulators.md). Its flags (--audit-date ...) set the
same keys."""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from audit.core.errors import ConfigError
from audit.regulatory.results import Dimension, MappingSource

UNKNOWN = "unknown"
SEX: Dimension = "sex"
RACE: Dimension = "race_ethnicity"
# A column of --sensitive with one of these names (case-folded) holds the dimension, unless
# the policy names the column.
COLUMN_NAMES = {SEX: ("sex", "gender"), RACE: ("race", "ethnicity", "race_ethnicity")}


class LL144Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # The metadata the DCWP rules ask a published summary to state.
    audit_date: date | None = None
    tool_name: str | None = None
    tool_version: str | None = None
    distribution_date: date | None = None  # when the tool was first distributed / used
    data_source: str | None = None
    data_kind: Literal["historical", "test"] | None = None
    # selection: the decision is "selected"; scoring: a score above the data's median is.
    mode: Literal["selection", "scoring"] = "selection"
    sex_column: str | None = None
    race_column: str | None = None
    # A category under this share of the rows is left out of the impact ratios (the 2 % rule).
    min_share: float = Field(default=0.02, ge=0, lt=1)
    # Data value -> category (or "unknown"), over the shipped map (knowledge/ll144_categories.toml).
    sex: dict[str, str] = {}
    race_ethnicity: dict[str, str] = {}


# Metadata key -> (what it is, its flag); the policy key is the same name under [ll144].
METADATA = {
    "audit_date": ("audit date", "--audit-date 2026-12-01"),
    "tool_name": ("name of the automated employment decision tool", "--tool-name 'Resume Screen'"),
    "tool_version": ("version of the tool", "--tool-version 3.1"),
    "distribution_date": ("date the tool was first distributed", "--distribution-date 2025-06-01"),
    "data_source": ("source of the audited data", "--data-source 'ATS export, 2025'"),
    "data_kind": ("kind of the data, historical or test", "--data-kind historical"),
}


def require_metadata(settings: LL144Settings) -> None:
    """Refuse a pack that would leave out metadata the rules require."""
    for key, (what, flag) in METADATA.items():
        if getattr(settings, key) is None:
            raise ConfigError(
                f"the ll144 pack needs the {what} ({key}): pass {flag} or set {key} under "
                "[ll144] in the policy file"
            )


def pack_columns(settings: LL144Settings, sensitive: Sequence[str]) -> tuple[str, str]:
    """The --sensitive columns that hold sex and race/ethnicity."""
    return (
        _column(settings.sex_column, SEX, "sex", sensitive),
        _column(settings.race_column, RACE, "race", sensitive),
    )


def _column(named: str | None, dimension: Dimension, key: str, sensitive: Sequence[str]) -> str:
    shown = ", ".join(sensitive) or "none"
    if named is not None:
        if named not in sensitive:
            raise ConfigError(
                f"[ll144] {key}_column = {named!r} is not a --sensitive column ({shown}); add "
                f"it to --sensitive or fix {key}_column"
            )
        return named
    found = [column for column in sensitive if column.casefold() in COLUMN_NAMES[dimension]]
    if len(found) != 1:
        raise ConfigError(
            f"the ll144 pack needs the --sensitive column that holds {dimension.replace('_', '/')}"
            f" (sensitive columns: {shown}); add it to --sensitive or set {key}_column under "
            "[ll144] in the policy file"
        )
    return found[0]


@dataclass(frozen=True)
class CategoryMap:
    """One dimension's categories, in the rules' order, and the category of each known value."""

    dimension: Dimension
    categories: tuple[str, ...]
    values: dict[str, str]  # case-folded value -> category or UNKNOWN
    overridden: frozenset[str]  # case-folded values the policy maps

    def category(self, value: str) -> tuple[str, MappingSource]:
        """The value's category (UNKNOWN when unmapped) and where that came from."""
        key = value.strip().casefold()
        if key not in self.values:
            return UNKNOWN, "unmapped"
        return self.values[key], "policy" if key in self.overridden else "default"


@cache
def _shipped() -> dict[str, dict[str, object]]:
    text = resources.files("audit").joinpath("knowledge/ll144_categories.toml").read_text("utf-8")
    return tomllib.loads(text)


def category_map(settings: LL144Settings, dimension: Dimension) -> CategoryMap:
    shipped = _shipped()[dimension]
    categories = tuple(str(name) for name in shipped["categories"])  # type: ignore[attr-defined]
    values = {name.casefold(): name for name in categories}
    values.update({str(k): str(v) for k, v in shipped["values"].items()})  # type: ignore[attr-defined]
    overrides: dict[str, str] = getattr(settings, dimension)
    allowed = {name.casefold(): name for name in (*categories, UNKNOWN)}
    for value, category in overrides.items():
        if category.strip().casefold() not in allowed:
            raise ConfigError(
                f"[ll144.{dimension}] maps {value!r} to {category!r}, which is not a category; "
                f"use one of: {', '.join(categories)}, or {UNKNOWN}"
            )
        values[value.strip().casefold()] = allowed[category.strip().casefold()]
    overridden = frozenset(value.strip().casefold() for value in overrides)
    return CategoryMap(dimension, categories, values, overridden)
