"""How strongly each input column tracks a sensitive attribute: the proxy half of a proxy.

The measure fits the column's type, and both lie in [0, 1]:

- categorical column (text, or one-hot encoded for the model): Cramér's V with Bergsma's bias
  correction, so that a column with many categories is not called associated by chance;
- numeric column: the correlation ratio eta, the share of the column's spread (as a standard
  deviation) that the attribute's groups explain.

Mutual information (in nats) is reported beside either: it also sees non-monotone
dependence, but has no fixed upper bound, so thresholds use the measures above. It is
scikit-learn's: from the contingency table for a categorical column, and for a numeric one
``mutual_info_classif``'s nearest-neighbour estimate, computed by
``audit.explain.knn_information`` with the same value.
Sensitive attributes are categorical here: numeric ones are the bands the audit slices by.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
from sklearn.metrics import mutual_info_score

from audit.data.table import ColumnCodes, SensitiveColumn
from audit.explain.knn_information import knn_mutual_information
from audit.explain.results import Association
from audit.explain.sampling import STREAM_METHOD

# Rows for the nearest-neighbour mutual information estimate of a numeric column: it grows
# as n log n, and its value settles long before this many rows.
MI_ROWS = 5000


def dense_codes(values: np.ndarray) -> np.ndarray:
    """``values`` as codes 0..r-1; codes that already are (non-negative integers) are kept,
    which skips a sort of every row."""
    values = np.asarray(values)
    if values.dtype.kind in "iu" and (len(values) == 0 or values.min() >= 0):
        return values.astype(np.int64, copy=False)
    return np.unique(values, return_inverse=True)[1].reshape(-1)


def contingency(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Counts of each (x, y) code pair, without empty rows or columns."""
    x_codes, y_codes = dense_codes(x), dense_codes(y)
    if len(x_codes) == 0:
        return np.zeros((0, 0), dtype=np.int64)
    return _dense_contingency(x_codes, int(x_codes.max()) + 1, y_codes, int(y_codes.max()) + 1)


def _dense_contingency(x: np.ndarray, r: int, y: np.ndarray, k: int) -> np.ndarray:
    """``contingency`` of dense codes ``x`` (below ``r``) and ``y`` (below ``k``): a column
    is measured against every attribute with its codes made dense once, not once a pair."""
    table = np.bincount(x * k + y, minlength=r * k).reshape(r, k)
    return table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]


def cramers_v(x: np.ndarray, y: np.ndarray) -> float | None:
    """Bias-corrected Cramér's V (Bergsma 2013) of two categorical codings; None when either
    has a single value."""
    return cramers_v_of(contingency(x, y))


def cramers_v_of(counts: np.ndarray) -> float | None:
    """Cramér's V of a contingency table without empty rows or columns."""
    table = counts.astype(np.float64)
    n = table.sum()
    r, k = table.shape
    if r < 2 or k < 2 or n < 2:
        return None
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / n
    chi2 = float(((table - expected) ** 2 / expected).sum())
    phi2 = max(0.0, chi2 / n - (k - 1) * (r - 1) / (n - 1))
    r_corrected = r - (r - 1) ** 2 / (n - 1)
    k_corrected = k - (k - 1) ** 2 / (n - 1)
    denominator = min(k_corrected - 1, r_corrected - 1)
    if denominator <= 0:
        return None
    return float(min(1.0, np.sqrt(phi2 / denominator)))


def correlation_ratio(values: np.ndarray, groups: np.ndarray) -> float | None:
    """eta = sqrt(between-group sum of squares / total sum of squares); None for a constant."""
    return _correlation_ratio(values, *_grouping(groups), *_spread(values))


def _spread(values: np.ndarray) -> tuple[float, float]:
    """The mean of ``values`` and their total sum of squares about it."""
    overall = values.mean()
    return overall, float(((values - overall) ** 2).sum())


def _correlation_ratio(
    values: np.ndarray, codes: np.ndarray, sizes: np.ndarray, overall: float, total: float
) -> float | None:
    """eta from the groups' ``codes`` and ``sizes`` and the values' spread (``_spread``),
    which a column computes once for all its attributes."""
    present = sizes > 0
    means = np.bincount(codes, weights=values)[present] / sizes[present]
    counts = sizes[present]
    if total <= 0 or len(counts) < 2:
        return None
    between = float((counts * (means - overall) ** 2).sum())
    return float(min(1.0, np.sqrt(between / total)))


def is_categorical(raw: pd.Series, inputs: int) -> bool:
    """A column the model one-hot encodes, or one that is not numeric, is categorical."""
    numeric = pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw)
    return inputs > 1 or not numeric


def associations(
    frame: pd.DataFrame,
    columns: Sequence[str],
    inputs_per_column: Sequence[int],
    sensitive: Sequence[SensitiveColumn],
    seed: int,
    threads: int = 1,
    codes: ColumnCodes | None = None,
) -> tuple[Association, ...]:
    """Every (input column, sensitive attribute) pair; sensitive columns are not candidates.
    ``codes``: the audit's factorizations of ``frame``'s columns, to share.

    Columns are measured on ``threads`` threads (coding a column and the nearest-neighbour
    search release the GIL); each column draws from its own generator, so the values do not
    depend on the thread count.
    """
    names = {column.name for column in sensitive}
    shared = ColumnCodes.of(frame, codes)
    candidates = [
        (position, column, inputs)
        for position, (column, inputs) in enumerate(zip(columns, inputs_per_column, strict=True))
        if column not in names and column in frame.columns
    ]

    # Each attribute's dense codes and group sizes, made once for every numeric column with a
    # value in every row (a column with missing values takes its own).
    groupings = [_grouping(attribute.codes) for attribute in sensitive]

    def measure(candidate: tuple[int, str, int]) -> list[Association]:
        position, column, inputs = candidate
        rng = np.random.default_rng([seed, STREAM_METHOD, position])
        return _column_associations(shared, column, inputs, sensitive, groupings, rng, seed)

    if threads > 1 and len(candidates) > 1:
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="rai-assoc") as pool:
            measured = list(pool.map(measure, candidates))
    else:
        measured = [measure(candidate) for candidate in candidates]
    return tuple(association for per_column in measured for association in per_column)


def _grouping(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dense group codes and each group's size."""
    dense = dense_codes(codes)
    return dense, np.bincount(dense)


def _column_associations(
    shared: ColumnCodes,
    column: str,
    inputs: int,
    sensitive: Sequence[SensitiveColumn],
    groupings: Sequence[tuple[np.ndarray, np.ndarray]],
    rng: np.random.Generator,
    seed: int,
) -> list[Association]:
    """One column against every sensitive attribute."""
    raw = shared.frame[column]
    categorical = is_categorical(raw, inputs)
    # Coded (or read as numbers) once per column, not once per attribute: that is the
    # costly step. Missing values are a category of their own, as they are for sensitive
    # columns.
    if categorical:
        codes, width = shared.with_missing(column)
        codes = codes.astype(np.int64, copy=False)  # 0 .. width - 1, missing included
    else:
        numbers = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
        finite = np.isfinite(numbers)
        keep = None if finite.all() else finite  # no copies when every value is a number
        x = numbers if keep is None else numbers[keep]
        spread = _spread(x) if len(x) > 1 else None
    results = []
    information: float | None
    value: float | None
    for attribute, grouping in zip(sensitive, groupings, strict=True):
        if categorical:
            # One table for both measures: scikit-learn would sort every row again.
            dense, sizes = grouping
            table = _dense_contingency(codes, width, dense, len(sizes))
            value = cramers_v_of(table)
            information = float(mutual_info_score(None, None, contingency=table))
            n = len(codes)
            measure = "cramers_v"
        else:
            y, sizes = grouping if keep is None else _grouping(attribute.codes[keep])
            n = len(x)
            value = None if spread is None else _correlation_ratio(x, y, sizes, *spread)
            information = _numeric_information(x, y, int(np.count_nonzero(sizes)), rng, seed)
            measure = "correlation_ratio"
        results.append(
            Association(
                column=column,
                attribute=attribute.name,
                measure=measure,
                value=value,
                mutual_information=information,
                n=n,
                undefined=None
                if value is not None
                else "the column or the attribute takes a single value",
            )
        )
    return results


def _numeric_information(
    x: np.ndarray, y: np.ndarray, classes: int, rng: np.random.Generator, seed: int
) -> float | None:
    """Nearest-neighbour mutual information of ``x`` with the ``classes`` groups ``y``."""
    if len(x) < 4 or classes < 2:
        return None
    if len(x) > MI_ROWS:
        keep = rng.choice(len(x), size=MI_ROWS, replace=False)
        x, y = x[keep], y[keep]
    return knn_mutual_information(x, y, n_neighbors=3, seed=seed)
