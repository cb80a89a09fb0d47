"""Recourse: the smallest change of actionable inputs that turns a rejection into an approval.

A bounded greedy coordinate search, model-agnostic: it only scores candidate rows, so it works
for every adapter (a tree ensemble, a pipeline reading raw columns, a remote scorer). Each
actionable column has a grid of candidate values, quantiles of the column in the data (values
people actually have), in its allowed direction from the row's own value. A move's cost is its
size in standard deviations of the column; a path's cost is the sum over the columns it moved
(Ustun, Spangher & Liu 2019 measure cost in percentiles; a spread is the same idea for numeric
columns and needs no per-column distribution). Each step scores every candidate move of every
still-rejected row in one batch: the cheapest move that reaches the threshold ends the row's
search; otherwise the move with the largest score gain per unit cost is taken, a column moving
once. The search stops at ``max_changes`` columns or ``max_cost``. Greedy search finds a
recourse, not always the cheapest one: its costs are upper bounds (docs/robustness.md), the
same bound for every group, so the gap between groups compares like with like. Written here
because the recourse libraries (e.g. actionable-recourse, DiCE) need a linear model or a
model object they can call themselves, not the audit's adapter.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from audit.robustness.perturb import numbers_of
from audit.robustness.settings import Direction


@dataclass(frozen=True)
class Lever:
    """An actionable column: its direction, unit of cost and candidate values."""

    column: str
    direction: Direction
    spread: float
    grid: np.ndarray  # float64, sorted distinct candidate values
    whole: bool  # every observed value is a whole number (hours, years of education)


@dataclass(frozen=True)
class Found:
    cost: np.ndarray  # float64 [rows]: cost of the change found, inf where none was
    moved: np.ndarray  # bool [rows, levers]: the columns that change moves


def cheaper(first: Found, second: Found) -> tuple[Found, np.ndarray]:
    """Per row, the cheaper of two searches' recourse (the first on ties), and where the
    second's was taken."""
    taken = second.cost < first.cost
    cost = np.where(taken, second.cost, first.cost)
    return Found(cost, np.where(taken[:, None], second.moved, first.moved)), taken


def lever_of(raw: pd.Series, column: str, direction: Direction, points: int) -> Lever | None:
    """The lever of a numeric column, None when it has no spread to measure cost in."""
    values = numbers_of(raw)
    values = values[np.isfinite(values)]
    spread = float(np.std(values)) if len(values) else 0.0
    if spread <= 0:
        return None
    # Observed values (inverted CDF), so a candidate is a value someone really has.
    levels = np.linspace(0.0, 1.0, points)
    grid = np.unique(np.quantile(values, levels, method="inverted_cdf"))
    return Lever(column, direction, spread, grid, bool(np.all(values == np.round(values))))


def _candidates(
    origin: np.ndarray, lever: Lever, budget: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, value, cost) of every allowed move of ``lever`` for rows at ``origin``."""
    grid = lever.grid[None, :]
    start = origin[:, None]
    allowed = {
        "increase": grid > start,
        "decrease": grid < start,
        "any": grid != start,
    }[lever.direction]
    cost = np.abs(grid - start) / lever.spread
    allowed &= np.isfinite(start) & (cost <= budget[:, None] + 1e-12)
    rows, points = np.nonzero(allowed)
    return rows, lever.grid[points], cost[rows, points]


def search(
    rows: pd.DataFrame,
    levers: Sequence[Lever],
    scores: np.ndarray,
    score_rows: Callable[[pd.DataFrame], np.ndarray],
    threshold: float,
    max_changes: int,
    max_cost: float,
) -> Found:
    """The recourse found for each of ``rows`` (rejected, at ``scores``) within the bound."""
    n, width = len(rows), len(levers)
    origin = np.column_stack([numbers_of(rows[lever.column]) for lever in levers])
    current = origin.copy()
    spent = np.zeros(n)
    score = np.asarray(scores, dtype=np.float64).copy()
    moved = np.zeros((n, width), dtype=bool)
    cost = np.full(n, np.inf)
    searching = np.ones(n, dtype=bool)
    for _ in range(min(max_changes, width)):
        active = np.flatnonzero(searching)
        if not len(active):
            break
        pieces = []
        for position, lever in enumerate(levers):
            still = active[~moved[active, position]]
            found_rows, values, costs = _candidates(
                origin[still, position], lever, max_cost - spent[still]
            )
            pieces.append((still[found_rows], np.full(len(found_rows), position), values, costs))
        row_of = np.concatenate([piece[0] for piece in pieces])
        if not len(row_of):
            break
        lever_of_move = np.concatenate([piece[1] for piece in pieces])
        value_of = np.concatenate([piece[2] for piece in pieces])
        cost_of = np.concatenate([piece[3] for piece in pieces])
        trial = current[row_of].copy()
        trial[np.arange(len(row_of)), lever_of_move] = value_of
        candidates = rows.iloc[row_of].reset_index(drop=True)
        for position, lever in enumerate(levers):
            candidates[lever.column] = trial[:, position]
        trial_scores = score_rows(candidates)
        total = spent[row_of] + cost_of
        # Rows that reach the threshold: the cheapest such move, first by row order on ties.
        reached = np.flatnonzero(trial_scores >= threshold)
        order = reached[np.lexsort((total[reached], row_of[reached]))]
        first = order[np.unique(row_of[order], return_index=True)[1]]
        done = row_of[first]
        cost[done] = total[first]
        moved[done, lever_of_move[first]] = True
        searching[done] = False
        # The others take the move with the best gain per unit cost, if any move gains.
        rest = np.flatnonzero(searching[row_of])
        gain = (trial_scores[rest] - score[row_of[rest]]) / cost_of[rest]
        rest, gain = rest[gain > 0], gain[gain > 0]
        best = rest[np.lexsort((-gain, row_of[rest]))]
        best = best[np.unique(row_of[best], return_index=True)[1]]
        stepped = row_of[best]
        searching[np.setdiff1d(active, np.concatenate([done, stepped]))] = False
        current[stepped, lever_of_move[best]] = value_of[best]
        spent[stepped] = total[best]
        score[stepped] = trial_scores[best]
        moved[stepped, lever_of_move[best]] = True
    # Columns moved on a path that never reached the threshold are not a recourse.
    moved[~np.isfinite(cost)] = False
    return Found(cost, moved)
