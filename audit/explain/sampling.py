"""Which rows are explained: a seeded sample stratified so that every reported group appears.

Strata are the fine cells of the sensitive partition (one per combination of every sensitive
column's group), so every group of every slice, intersections included, is a union of strata
and is represented whenever one of its cells is. Allocation equalizes: each cell gets the same
number of rows, or all of its rows when it has fewer, which gives small groups as many
explained rows as the budget allows. Each sampled row carries a weight (its cell's size over
its cell's sample) so that global summaries are weighted back to the data's group mix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Rows explained by default: enough for stable global importance and group summaries, few
# enough that SHAP takes seconds on a small tabular model (see docs/explanations.md).
DEFAULT_SAMPLES = 500
# Rows summarizing the data for SHAP's masker and Captum's baselines.
BACKGROUND_ROWS = 50

# Independent random streams derived from the policy seed, one per random step.
STREAM_SAMPLE, STREAM_BACKGROUND, STREAM_BOOTSTRAP, STREAM_METHOD, STREAM_FLIP = range(5)


def generator(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream])


@dataclass(frozen=True)
class ExplainSample:
    rows: np.ndarray  # int64, indices into the data, sorted
    weights: np.ndarray  # float64, data rows each sampled row stands for
    background: np.ndarray  # int64, indices of the background rows


def allocate(sizes: np.ndarray, budget: int) -> np.ndarray:
    """Rows to draw per cell: equal shares capped by each cell's size, summing to the budget.

    Every non-empty cell gets at least one row, even when that exceeds the budget: a group
    the report shows is never left unexplained.
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    if sizes.sum() <= budget:
        return sizes.copy()
    low, high = 1, int(sizes.max())
    # The largest level q with sum(min(size, q)) <= budget, by bisection.
    while low < high:
        middle = (low + high + 1) // 2
        if np.minimum(sizes, middle).sum() <= budget:
            low = middle
        else:
            high = middle - 1
    counts = np.minimum(sizes, low)
    left = budget - int(counts.sum())
    if left > 0:
        # The rounding remainder goes one row each to the largest cells that have rows left.
        open_cells = np.flatnonzero(sizes > counts)
        order = open_cells[np.argsort(-sizes[open_cells], kind="stable")]
        counts[order[:left]] += 1
    return counts


def stratified_sample(
    cell_of_row: np.ndarray, n_cells: int, budget: int, background: int, seed: int
) -> ExplainSample:
    sizes = np.bincount(cell_of_row, minlength=n_cells)
    counts = allocate(sizes, budget)
    rng = generator(seed, STREAM_SAMPLE)
    # Rows grouped by cell once (stable sort keeps row order within a cell), on the cell ids
    # in their smallest type, which numpy sorts by radix (a quarter of the int64 sort's time).
    order = np.argsort(cell_of_row.astype(np.min_scalar_type(n_cells)), kind="stable")
    starts = np.concatenate([[0], np.cumsum(sizes)])
    chosen = []
    weights = []
    for cell in range(n_cells):
        if counts[cell] == 0:
            continue
        members = order[starts[cell] : starts[cell + 1]]
        picked = rng.choice(members, size=int(counts[cell]), replace=False)
        chosen.append(picked)
        weights.append(np.full(len(picked), sizes[cell] / counts[cell]))
    rows = np.concatenate(chosen)
    weight = np.concatenate(weights)
    ordered = np.argsort(rows, kind="stable")
    n = len(cell_of_row)
    background_rows = np.sort(
        generator(seed, STREAM_BACKGROUND).choice(n, size=min(background, n), replace=False)
    )
    return ExplainSample(
        rows.astype(np.int64)[ordered], weight[ordered], background_rows.astype(np.int64)
    )
