"""The Local Law 144 pack of a finished audit: frozen dataclasses serialized under ``ll144``.

Counts only: each category's applicants and selected (or scored above the median) rows, never
a row of the data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Dimension = Literal["sex", "race_ethnicity"]
TableDimension = Literal["sex", "race_ethnicity", "intersectional"]
# Where a value's category came from: the shipped map, the policy, neither (unknown), or a
# missing value (unknown).
MappingSource = Literal["default", "policy", "unmapped", "missing"]


@dataclass(frozen=True)
class PackMetadata:
    audit_date: str  # ISO dates
    tool_name: str
    tool_version: str
    distribution_date: str
    data_source: str
    data_kind: Literal["historical", "test"]


@dataclass(frozen=True)
class CategoryRate:
    category: tuple[str, ...]  # ("Female",), or ("Female", "Asian") for an intersection
    applicants: int
    selected: int  # selected, or scored above the median in scoring mode
    rate: float  # selected / applicants
    share: float  # applicants / every audited row
    impact_ratio: float | None  # rate / the reference category's; None when excluded
    excluded: str | None  # why it is left out of the impact ratios (the 2 % rule)
    # Beside the impact ratio (audit.fairness.significance): Fisher's exact test of the
    # category's selections against the reference category's, and the selections it lacks
    # to reach the four-fifths limit; None for the reference and unrated categories.
    p_value: float | None = None
    shortfall: int | None = None


@dataclass(frozen=True)
class CategoryTable:
    dimension: TableDimension
    columns: tuple[str, ...]  # the data columns it is read from
    categories: tuple[CategoryRate, ...]
    reference: tuple[str, ...] | None  # the most selected category the ratios divide by
    unknown: int  # rows of no known category (missing or unmapped values)
    unknown_selected: int
    # Why no impact ratio is given (no category left, or none selected); None when they are.
    undefined: str | None = None


@dataclass(frozen=True)
class ValueMapping:
    dimension: Dimension
    column: str
    value: str  # the data's value ("missing" for missing values)
    category: str  # a category, or "unknown"
    source: MappingSource
    rows: int


@dataclass(frozen=True)
class LL144Pack:
    metadata: PackMetadata
    mode: Literal["selection", "scoring"]
    median_score: float | None  # scoring mode: the median over every audited row
    applicants: int  # every audited row
    min_share: float  # the 2 % rule's share
    tables: tuple[CategoryTable, ...]  # sex, race/ethnicity, their intersection
    mapping: tuple[ValueMapping, ...]
