"""The rows a streamed audit keeps whole, for the stages that need rows."""

from __future__ import annotations

import numpy as np

# Rows kept per fine cell (combination of sensitive groups): enough for the explanation and
# privacy stages, which sample at most a few thousand rows themselves.
ROWS_PER_CELL = 2000


def stratified_sample(
    cell_of_row: np.ndarray, n_cells: int, per_cell: int, seed: int
) -> np.ndarray:
    """Sorted row positions: up to ``per_cell`` rows of each cell, drawn without replacement.

    Every row's cell is known from the first pass, so the draw is made before any chunk is
    read, and a small group is kept whole however rare it is in the file.
    """
    rng = np.random.default_rng(seed)
    order = np.argsort(cell_of_row, kind="stable")
    bounds = np.searchsorted(cell_of_row[order], np.arange(n_cells + 1))
    kept = []
    for cell in range(n_cells):
        rows = order[bounds[cell] : bounds[cell + 1]]
        kept.append(rows if len(rows) <= per_cell else rng.choice(rows, per_cell, replace=False))
    return np.sort(np.concatenate(kept)) if kept else np.zeros(0, dtype=np.int64)
