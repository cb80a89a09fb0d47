"""Slices: every sensitive feature alone and their intersections, over one fine partition.

Rows are reduced once to "fine cells" (one per combination of every sensitive column's
group that occurs); every slice's groups are unions of fine cells, so per-slice counts and
bootstrap replicates are sums over a small indicator matrix, never another pass over rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np

from audit.table import SensitiveColumn


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


def partition(sensitive: list[SensitiveColumn]) -> Partition:
    key = np.zeros(len(sensitive[0].codes), dtype=np.int64)
    for column in sensitive:
        key = key * len(column.groups) + column.codes
    present, cell_of_row = np.unique(key, return_inverse=True)
    codes = np.zeros((len(present), len(sensitive)), dtype=np.int64)
    remainder = present.copy()
    for position in range(len(sensitive) - 1, -1, -1):
        size = len(sensitive[position].groups)
        codes[:, position] = remainder % size
        remainder //= size
    return Partition(cell_of_row.astype(np.int64), codes, len(present))


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
