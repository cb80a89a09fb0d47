"""Slices: every sensitive feature alone and their intersections, over one fine partition.

Rows are reduced once to "fine cells" (one per combination of every sensitive column's
group that occurs); every slice's groups are unions of fine cells, so per-slice counts and
bootstrap replicates are sums over a small indicator matrix, never another pass over rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np

from audit.data.table import SensitiveColumn


@dataclass(frozen=True)
class Partition:
    cell_of_row: np.ndarray  # int64 [rows]: fine cell of each row
    cell_codes: np.ndarray  # int64 [cells, features]: each cell's group code per feature
    n_cells: int


@dataclass(frozen=True)
class Slice:
    features: tuple[str, ...]
    labels: tuple[tuple[str, ...], ...]  # each group's values, one per feature
    group_of_cell: np.ndarray  # int64 [cells]

    @property
    def n_groups(self) -> int:
        return len(self.labels)

    def indicator(self, n_cells: int) -> np.ndarray:
        matrix = np.zeros((n_cells, self.n_groups), dtype=np.float64)
        matrix[np.arange(n_cells), self.group_of_cell] = 1.0
        return matrix

    def sum_by_group(self, per_cell: np.ndarray) -> np.ndarray:
        """``per_cell`` ``[replicates, cells, ...]`` summed over each group's cells, as
        ``[replicates, groups, ...]`` (integer counts stay integers).

        Each cell is in one group, so each group is one selection and one sum, and integer
        counts need no conversion to the floats of a product with ``indicator``.
        """
        return np.stack(
            [
                per_cell[:, self.group_of_cell == group].sum(axis=1)
                for group in range(self.n_groups)
            ],
            axis=1,
        )


def cell_keys(codes: list[np.ndarray], sizes: list[int]) -> np.ndarray:
    """Each row's combination of group codes as one integer (mixed radix, first column first).

    Keys of every possible combination run from 0 to prod(sizes) - 1, so chunks of rows read
    apart agree on them before anyone knows which combinations occur.
    """
    key = np.zeros(len(codes[0]), dtype=np.int64)
    for column_codes, size in zip(codes, sizes, strict=True):
        key = key * size + column_codes
    return key


def cell_space(sizes: list[int]) -> int:
    """How many combinations of groups there can be: the range of ``cell_keys``."""
    return int(np.prod(sizes, dtype=np.int64)) if sizes else 1


def codes_of_keys(keys: np.ndarray, sizes: list[int]) -> np.ndarray:
    """``[len(keys), columns]`` group codes of each key: the inverse of ``cell_keys``."""
    codes = np.zeros((len(keys), len(sizes)), dtype=np.int64)
    remainder = keys.astype(np.int64, copy=True)
    for position in range(len(sizes) - 1, -1, -1):
        codes[:, position] = remainder % sizes[position]
        remainder //= sizes[position]
    return codes


def partition(sensitive: list[SensitiveColumn]) -> Partition:
    sizes = [len(column.groups) for column in sensitive]
    key = cell_keys([column.codes for column in sensitive], sizes)
    space = cell_space(sizes)
    if space <= max(len(key), 1 << 16):
        # Counting the keys finds the same sorted cells as np.unique without sorting every row.
        present = np.flatnonzero(np.bincount(key, minlength=space))
        position = np.zeros(space, dtype=np.int64)
        position[present] = np.arange(len(present))
        cell_of_row = position[key]
    else:
        present, cell_of_row = np.unique(key, return_inverse=True)
    return Partition(cell_of_row.astype(np.int64), codes_of_keys(present, sizes), len(present))


def build_slices(
    sensitive: list[SensitiveColumn], fine: Partition, max_intersection: int
) -> list[Slice]:
    slices = []
    for order in range(1, min(max_intersection, len(sensitive)) + 1):
        for members in combinations(range(len(sensitive)), order):
            member_codes = fine.cell_codes[:, list(members)]
            keys, group_of_cell = np.unique(member_codes, axis=0, return_inverse=True)
            labels = tuple(
                tuple(sensitive[m].groups[code] for m, code in zip(members, key, strict=True))
                for key in keys
            )
            slices.append(
                Slice(
                    features=tuple(sensitive[m].name for m in members),
                    labels=labels,
                    group_of_cell=group_of_cell.reshape(-1).astype(np.int64),
                )
            )
    return slices
