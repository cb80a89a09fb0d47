"""Realistic perturbations of the model's own columns: measurement noise and recording errors.

A perturbed row is the same person measured again: every numeric column gets Gaussian noise
(its measurement precision from the policy, else a small share of its standard deviation),
and each categorical column is, with a small probability, recorded as another of its
categories, drawn by how common each is. Sensitive and immutable columns never move. The
perturbed rows are raw table rows, re-encoded exactly as the model's input was built, so the
test works for every adapter and every encoding.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from audit.data.table import ColumnCodes
from audit.robustness.results import PerturbedColumn
from audit.robustness.settings import RobustnessSettings


@dataclass(frozen=True)
class CategoricalColumn:
    column: str
    values: np.ndarray  # object [k]: its distinct values in the data
    frequencies: np.ndarray  # float64 [k]: each value's share of the data


@dataclass(frozen=True)
class PerturbationPlan:
    numeric: tuple[tuple[str, float], ...]  # (column, noise standard deviation)
    categorical: tuple[CategoricalColumn, ...]
    per_row: int
    change_rate: float  # chance a categorical column is recorded as another category
    described: tuple[PerturbedColumn, ...]


def numbers_of(raw: pd.Series) -> np.ndarray:
    values: np.ndarray = pd.to_numeric(raw, errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan
    )
    return values


# Rows whose distinct values are counted first: more than max_categories among them settles
# it without hashing the whole column (3-6 ms a column on 1,000,000 rows).
_HEAD_ROWS = 10_000


def is_numeric(raw: pd.Series, max_categories: int) -> bool:
    """A column measured on a scale: numeric, and with more distinct values than a
    categorical sensitive column may have (fewer: a code, perturbed as a category)."""
    if not pd.api.types.is_numeric_dtype(raw) or pd.api.types.is_bool_dtype(raw):
        return False
    return (
        raw.iloc[:_HEAD_ROWS].nunique(dropna=True) > max_categories
        or raw.nunique(dropna=True) > max_categories
    )


def _spread_of(numbers: np.ndarray) -> float:
    """The standard deviation of the values that are numbers: np.std when all are (nanstd's
    masked passes take four times as long on 1,000,000 rows, for the same value)."""
    return float(np.nanstd(numbers) if np.isnan(numbers).any() else np.std(numbers))


def perturbation_plan(
    codes: ColumnCodes,
    columns: Sequence[str],
    held: Collection[str],
    categorical: Collection[str],
    settings: RobustnessSettings,
    max_categories: int,
) -> PerturbationPlan:
    """How each of ``columns`` (the model's table columns of ``codes.frame``) is perturbed;
    ``held`` never are, ``categorical`` are categories whatever their type (the model's
    encoding says so). A category's share is counted from the audit's shared factorization
    (``codes``), which the model's encoder has mostly made already: a value count of each
    column cost a tenth of a second on 1,000,000 rows."""
    frame = codes.frame
    numeric: list[tuple[str, float]] = []
    changes: list[CategoricalColumn] = []
    described: list[PerturbedColumn] = []
    for column in columns:
        if column in held:
            continue
        raw = frame[column]
        if column not in categorical and is_numeric(raw, max_categories):
            precision = settings.precision.get(column)
            if precision is not None:
                sd, source = precision, "policy precision"
            else:
                spread = _spread_of(numbers_of(raw))
                sd, source = (
                    settings.noise * spread,
                    f"{settings.noise:g} of its standard deviation",
                )
            if sd > 0:
                numeric.append((column, sd))
                described.append(PerturbedColumn(column, "numeric", sd, source))
            continue
        row_codes, distinct = codes.factorized(column)  # first seen first, missing as -1
        if len(distinct) < 2:
            continue  # one category: nothing to change to
        counts = np.bincount(row_codes[row_codes >= 0], minlength=len(distinct))
        changes.append(
            CategoricalColumn(
                column,
                distinct.to_numpy(dtype=object),
                counts.astype(np.float64) / counts.sum(),
            )
        )
        described.append(PerturbedColumn(column, "categorical", categories=len(distinct) - 1))
    return PerturbationPlan(
        tuple(numeric),
        tuple(changes),
        settings.perturbations,
        settings.category_change,
        tuple(described),
    )


def _other_categories(
    current: np.ndarray, column: CategoricalColumn, rng: np.random.Generator
) -> np.ndarray:
    """For each value of ``current``, another category drawn by frequency (its own excluded)."""
    index = {value: position for position, value in enumerate(column.values)}
    own = np.array([index.get(value, -1) for value in current], dtype=np.int64)
    weights = np.tile(column.frequencies, (len(current), 1))
    known = np.flatnonzero(own >= 0)
    weights[known, own[known]] = 0.0
    cumulative = np.cumsum(weights, axis=1)
    cumulative /= cumulative[:, -1:]
    drawn = (cumulative < rng.random(len(current))[:, None]).sum(axis=1)
    chosen: np.ndarray = column.values[np.minimum(drawn, len(column.values) - 1)]
    return chosen


def perturbed_rows(
    rows: pd.DataFrame, plan: PerturbationPlan, rng: np.random.Generator
) -> pd.DataFrame:
    """``plan.per_row`` perturbed copies of each row, a row's copies next to each other."""
    copies = rows.iloc[np.repeat(np.arange(len(rows)), plan.per_row)].reset_index(drop=True)
    size = len(copies)
    # Whole columns are replaced rather than written into, so that an integer column takes
    # its noisy float values without a dtype change in place.
    for column, sd in plan.numeric:
        copies[column] = numbers_of(copies[column]) + rng.normal(0.0, sd, size)
    for found in plan.categorical:
        changed = np.flatnonzero(rng.random(size) < plan.change_rate)
        values = copies[found.column].to_numpy(dtype=object).copy()
        if len(changed):
            values[changed] = _other_categories(values[changed], found, rng)
        copies[found.column] = pd.Series(values, index=copies.index).astype(
            rows[found.column].dtype
        )
    return copies
