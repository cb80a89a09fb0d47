"""SHAP values per table column: shap's permutation explainer, run for every row at once.

The game's players are the table's columns, not the model's encoded inputs: a coalition keeps
the explained row's value for its columns and takes a background row's value for the others,
so a one-hot block is taken whole from one row, never mixed, and the values are Shapley values
of columns under SHAP's independent masker, with no summing after the fact.

The algorithm is ``shap.explainers.Permutation`` with ``shap.maskers.Independent``: for each
row, ``PERMUTATIONS`` random orders of the columns (drawn exactly as shap draws them: numpy's
legacy generator seeded once, ``shuffle`` of the row's column indices in place, row after
row), each walked forward (switching columns on) and back (switching them off in the same
order); a column's value is the mean change of the background-averaged score at its steps.
The tests hold the values equal to shap's own explainer's for the same seed.

Written here rather than called because shap explains one row per Python call: each row
builds a masked model, masks on the CPU and calls the model a few times on a few thousand rows,
and its numba kernels compile anew in every process (8-12 s on a 2-core machine, more than the
rest of an audit of the bundled example). Here the masked inputs of every step of every row
are built with numpy only and scored in large blocks; a step that cannot change a background
row's input (the row and that background row agree on the column switched) reuses that row's
previous score, and masked inputs that coincide, within a row or across rows, are scored once
(each is keyed by its columns' value codes). A model scores equal inputs alike, so none of
this changes a value; on the bundled Adult MLP it halves the model rows.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

import numpy as np
import pandas as pd

from audit.core.threads import compute_threads
from audit.explain.attributions import Attributions
from audit.explain.columns import ColumnMap

# Antithetic permutations per row: each costs 2 * columns + 1 background-averaged scores.
# Exact for additive models with one; more reduce the variance from interactions.
PERMUTATIONS = 3
# Masked inputs built and scored at once: bounds the block's memory at about
# BLOCK_INPUTS x model inputs x 4 bytes. Blocks that stay in the cache while they are built
# and scored (7 MB for the Adult model's 107 inputs) take about 15% less than blocks of 2**16.
BLOCK_INPUTS = 1 << 14
# (row, permutation, step, background row) cells one thread walks at once: the unit within
# which equal masked inputs are scored once. Its index arrays take about 40 bytes a cell
# (160 MB at most); the default 500 rows of 50 background rows and 14 columns are 2.2M cells,
# one chunk on one thread, or one of 1.1M cells per thread on two.
CHUNK_CELLS = 1 << 22


def shap_permutations(seed: int, rows: int, columns: int, permutations: int) -> np.ndarray:
    """int64 [rows, permutations, columns]: the column orders shap's explainer walks.

    ``shap.explainers.Permutation(..., seed=seed)`` calls ``np.random.seed(seed)`` once, then
    for each row shuffles that row's varying column indices in place, once per permutation.
    Every column varies in this game (a row's code never equals a background row's), so a
    row starts from ``arange(columns)``.
    """
    generator = np.random.RandomState(seed)
    orders = np.empty((rows, permutations, columns), dtype=np.int64)
    for row in range(rows):
        indices = np.arange(columns)
        for permutation in range(permutations):
            generator.shuffle(indices)
            orders[row, permutation] = indices
    return orders


@dataclass(frozen=True)
class ColumnValues:
    """The values each column takes among the explained and background rows, by code.

    Equal codes are equal input bytes, which the model scores alike. A masked input is built
    from its columns' codes, never by gathering whole rows and masking one over the other
    (three times slower). Most columns set at most one input per value (a number, a one-hot
    block): those are written as that one input into zeros, one scatter for all of them,
    in about half the time of copying each column's block (Adult's 107 inputs, 13 columns).
    Any other column's block is copied whole from its small table.
    """

    codes: np.ndarray  # int64 [rows, columns]: each row's code of each column's value
    tables: tuple[np.ndarray, ...]  # per column, float32 [values, the column's inputs]
    inputs: tuple[slice | np.ndarray, ...]  # per column, where its inputs lie in a row
    width: int
    single: np.ndarray  # int64 [k]: the columns whose values set at most one input each
    first_value: np.ndarray  # int64 [k]: where each one's values start in the two below
    value_input: np.ndarray  # int64 [values]: the input a value sets (any of its own if none)
    value_number: np.ndarray  # float32 [values]: what it sets that input to
    blocks: tuple[int, ...]  # the other columns, copied whole

    def build(self, chosen: np.ndarray) -> np.ndarray:
        """float32 [len(chosen), width]: the inputs whose columns hold codes ``chosen``."""
        built = np.zeros((len(chosen), self.width), dtype=np.float32)
        if len(self.single):
            # When every column sets one input (Adult's do), the codes need no selecting.
            values = (chosen if not self.blocks else chosen[:, self.single]) + self.first_value
            where = np.take(self.value_input, values)
            where += np.arange(0, built.size, self.width, dtype=np.int64)[:, None]
            built.reshape(-1)[where] = np.take(self.value_number, values)
        for column in self.blocks:
            built[:, self.inputs[column]] = np.take(self.tables[column], chosen[:, column], axis=0)
        return built


def column_values(table: np.ndarray, columns: ColumnMap) -> ColumnValues:
    codes = np.empty((len(table), len(columns.columns)), dtype=np.int64)
    tables: list[np.ndarray] = []
    inputs: list[slice | np.ndarray] = []
    single: list[int] = []
    value_input: list[np.ndarray] = []
    value_number: list[np.ndarray] = []
    for column in range(len(columns.columns)):
        positions = np.flatnonzero(columns.column_of_input == column)
        block = np.ascontiguousarray(table[:, positions])
        as_bytes = block.view(np.dtype((np.void, block.dtype.itemsize * block.shape[1])))
        _, first, codes[:, column] = np.unique(
            as_bytes.reshape(-1), return_index=True, return_inverse=True
        )
        values = block[first]
        tables.append(values)
        # A column's inputs side by side (one-hot blocks are) take a slice, not an index.
        contiguous = positions[-1] - positions[0] + 1 == len(positions)
        inputs.append(slice(positions[0], positions[-1] + 1) if contiguous else positions)
        # Set by its bits, not its value: -0.0 is written as it is, not left as 0.0.
        set_inputs = values.view(f"u{values.dtype.itemsize}") != 0
        if (set_inputs.sum(axis=1) <= 1).all():
            which = set_inputs.argmax(axis=1)
            single.append(column)
            value_input.append(positions[which])
            value_number.append(values[np.arange(len(values)), which])
    sizes = [len(numbers) for numbers in value_number]
    return ColumnValues(
        codes,
        tuple(tables),
        tuple(inputs),
        columns.width,
        np.array(single, dtype=np.int64),
        np.cumsum([0, *sizes], dtype=np.int64)[:-1],
        np.concatenate(value_input or [np.empty(0, np.int64)]).astype(np.int64),
        np.concatenate(value_number or [np.empty(0, np.float32)]).astype(np.float32),
        tuple(column for column in range(len(columns.columns)) if column not in single),
    )


def _places(codes: np.ndarray) -> np.ndarray | None:
    """int64 [columns]: each column's place value in a masked input's key (the mixed-radix
    number of its columns' codes), or None when the keys would not fit in 63 bits; then every
    masked input is scored."""
    place, places = 1, []
    for count in codes.max(axis=0, initial=0) + 1:
        places.append(place)
        place *= int(count)
        if place >= 1 << 63:
            return None
    return np.array(places, dtype=np.int64)


def _first_of_each(distinct: np.ndarray) -> np.ndarray:
    """Positions of the first occurrence of each code of ``pd.factorize``, whose codes are
    numbered in order of first occurrence: where the running maximum grows."""
    running = np.maximum.accumulate(distinct)
    grows = np.ones(len(distinct), dtype=bool)
    grows[1:] = running[1:] > running[:-1]
    return np.flatnonzero(grows)


def _chunk_values(
    function: Callable[[np.ndarray], np.ndarray],
    values_of: ColumnValues,
    row_codes: np.ndarray,
    background_codes: np.ndarray,
    places: np.ndarray | None,
    background_scores: np.ndarray,
    row_scores: np.ndarray,
    orders: np.ndarray,
) -> np.ndarray:
    """float64 [rows, columns]: the explainer's values for one chunk of rows."""
    rows, permutations, m = orders.shape
    k = len(background_codes)
    steps = 2 * m + 1
    # The column switched at each step of the walk: on in order for steps 1..m, then off in
    # the same order for steps m+1..2m. Step 0 is every column off.
    switched = np.concatenate([orders, orders], axis=2)  # [rows, P, 2m]
    # Which columns are on after each step, [rows, P, steps, m].
    rank = np.empty_like(orders)
    np.put_along_axis(rank, orders, np.arange(m)[None, None, :], axis=2)
    step = np.arange(steps)[:, None]
    on = np.where(
        step <= m, rank[:, :, None, :] < step, rank[:, :, None, :] >= step - m
    )  # [rows, P, steps, m]
    # Each column's change of code from the background row to the explained row, [rows, k, m].
    delta = row_codes[:, None, :] - background_codes[None, :, :]
    # A step changes a background row's input only where the two rows differ on the column.
    changes = np.ones((rows, permutations, steps, k), dtype=bool)
    changes[:, :, 1:, :] = np.take_along_axis(
        delta[:, None, :, :] != 0, switched[:, :, None, :], axis=3
    ).transpose(0, 1, 3, 2)
    # All off and all on are scored once for every row: the background's and the row's own.
    known = np.zeros(steps, dtype=bool)
    known[[0, m, 2 * m]] = True
    scores = np.zeros((rows, permutations, steps, k))
    scores[:, :, [0, 2 * m], :] = background_scores
    scores[:, :, m, :] = row_scores[:, None, None]
    evaluate = changes & ~known[None, None, :, None]
    coalition, against = np.nonzero(evaluate.reshape(-1, k))
    if len(coalition):
        if places is None:
            cells = distinct = np.arange(len(coalition))
        else:
            # A masked input's key is the background row's, plus each switched-on column's
            # change of place-valued code, summed along the walk (minus where it switches off).
            moves = np.take_along_axis(
                (delta * places)[:, None, :, :], switched[:, :, None, :], axis=3
            )  # [rows, P, k, 2m]
            moves[..., m:] *= -1
            keys = np.empty((rows, permutations, steps, k), dtype=np.int64)
            keys[:, :, 0, :] = background_codes @ places
            keys[:, :, 1:, :] = np.cumsum(moves, axis=3).transpose(0, 1, 3, 2)
            keys[:, :, 1:, :] += keys[:, :, :1, :]
            # Equal keys are equal inputs (about half of them for the Adult model: rows share
            # values with each other and with background rows), scored once. pandas hashes;
            # np.unique would sort a million keys.
            distinct = pd.factorize(keys.reshape(-1, k)[coalition, against])[0]
            cells = _first_of_each(distinct)
        row = coalition // (permutations * steps)
        on_of_cell = on.reshape(-1, m)

        def masked_inputs(part: slice) -> np.ndarray:
            # Each column's code: the explained row's where the column is on, else the
            # background row's. np.take gathers rows several times faster than indexing.
            scored = cells[part]
            chosen = np.where(
                np.take(on_of_cell, coalition[scored], axis=0),
                np.take(row_codes, row[scored], axis=0),
                np.take(background_codes, against[scored], axis=0),
            )
            return values_of.build(chosen)

        distinct_scores = np.concatenate(
            [
                np.asarray(function(masked_inputs(slice(start, start + BLOCK_INPUTS))))
                for start in range(0, len(cells), BLOCK_INPUTS)
            ]
        )
        scores.reshape(-1, k)[coalition, against] = distinct_scores[distinct]
    # Every other step keeps the score of the last step that changed its input.
    source = np.where(changes | known[None, None, :, None], step[None, None, :, :], 0)
    last = np.maximum.accumulate(source, axis=2)
    averaged = np.take_along_axis(scores, last, axis=2).mean(axis=3)  # [rows, P, steps]
    forward = np.diff(averaged[:, :, : m + 1], axis=2)
    backward = -np.diff(averaged[:, :, m:], axis=2)
    values = np.zeros((rows, permutations, m))
    np.put_along_axis(values, orders, forward + backward, axis=2)
    result: np.ndarray = values.sum(axis=1) / (2 * permutations)
    return result


def shap_attributions(
    function: Callable[[np.ndarray], np.ndarray],
    inputs: np.ndarray,
    background: np.ndarray,
    columns: ColumnMap,
    seed: int,
    threads: int = 1,
    permutations: int = PERMUTATIONS,
) -> Attributions:
    """Column-level SHAP values of ``function`` (a positive-class probability) per row.

    ``inputs`` [rows, width] are the encoded rows to explain, ``background`` [k, width] the
    encoded rows whose values stand in for a column that is left out. Chunks of rows are
    walked on ``threads`` threads at once (``function`` must allow that; torch modules and
    scikit-learn estimators do).
    """
    n, k, m = len(inputs), len(background), len(columns.columns)
    inputs = np.ascontiguousarray(inputs, dtype=np.float32)
    background = np.ascontiguousarray(background, dtype=np.float32)
    orders = shap_permutations(seed, n, m, permutations)
    background_scores = np.asarray(function(background), dtype=np.float64)
    row_scores = np.asarray(function(inputs), dtype=np.float64)
    values_of = column_values(np.concatenate([inputs, background]), columns)
    codes = values_of.codes
    places = _places(codes)
    # Chunks of rows on ``threads`` threads at once: numpy and torch release the GIL while
    # they build and score a block, and each chunk then computes on one thread (measured on
    # the Adult MLP, 2 cores: 0.56 s against 0.89 s for one block at a time on two threads).
    # A chunk per thread shares equal inputs across all of its rows.
    rows_per_chunk = max(
        1,
        min(
            CHUNK_CELLS // (permutations * (2 * m + 1) * max(1, k)),
            -(-n // max(1, threads)),
        ),
    )

    def chunk_values(start: int) -> np.ndarray:
        chunk = slice(start, start + rows_per_chunk)
        return _chunk_values(
            function,
            values_of,
            codes[:n][chunk],
            codes[n:],
            places,
            background_scores,
            row_scores[chunk],
            orders[chunk],
        )

    starts = range(0, n, rows_per_chunk)
    with ThreadPoolExecutor(max(1, min(threads, len(starts)))) as pool, compute_threads(1):
        values = np.concatenate(list(pool.map(chunk_values, starts)) or [np.zeros((0, m))])
    base = float(background_scores.mean())
    return Attributions(
        method="shap",
        values=values,
        outputs=row_scores,
        reference=np.full(n, base),
        reference_text="mean score over the background rows",
        library=_library(),
        settings={
            "explainer": "permutation",
            "masker": "independent",
            "players": "table columns",
            "permutations": permutations,
            "background_rows": k,
        },
    )


def _library() -> str:
    """The algorithm's source; shap itself is not imported (tests compare the two)."""
    try:
        return f"shap {version('shap')} algorithm (PermutationExplainer), batched by rai-audit"
    except PackageNotFoundError:
        return "shap's PermutationExplainer algorithm, batched by rai-audit"
