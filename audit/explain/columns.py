"""Attributions of encoded model inputs summed back to the table's columns.

A one-hot encoded column feeds the model through several inputs; its attribution is the sum
of theirs. For path methods (Integrated Gradients) and Shapley values alike, the sum over a
group of inputs is the group's own attribution (completeness holds per group), so nothing is
lost by summing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ColumnMap:
    columns: tuple[str, ...]  # distinct table columns, in the order of their first input
    column_of_input: np.ndarray  # int64 [width]: index into ``columns`` of each model input

    @property
    def width(self) -> int:
        return len(self.column_of_input)

    def inputs_per_column(self) -> np.ndarray:
        return np.bincount(self.column_of_input, minlength=len(self.columns))

    def indicator(self) -> np.ndarray:
        """[width, columns]: 1 where a model input belongs to a table column."""
        indicator: np.ndarray = np.zeros((self.width, len(self.columns)))
        indicator[np.arange(self.width), self.column_of_input] = 1
        return indicator

    def to_columns(self, attributions: np.ndarray) -> np.ndarray:
        """[n, width] input attributions to [n, columns] column attributions."""
        result: np.ndarray = np.asarray(attributions, dtype=np.float64) @ self.indicator()
        return result


def column_map(input_columns: Sequence[str]) -> ColumnMap:
    columns = tuple(dict.fromkeys(input_columns))
    index = {column: position for position, column in enumerate(columns)}
    return ColumnMap(columns, np.array([index[name] for name in input_columns], dtype=np.int64))
