"""Encoded copies: input columns that carry a sensitive attribute under another name.

A model that reads ``sex_code`` (1 for one sex, 2 for the other) uses sex as surely as one
that reads ``sex``; so does one that reads one-hot columns ``is_f`` and ``is_m``. Such a copy
is direct use, not a proxy, and the flip test must rewrite it. Two kinds are found:

- one input column whose association with the attribute (the association stage's Cramér's V
  or correlation ratio) passes ``explain_encoded_copy``;
- a set of indicator columns (0/1 or true/false, whatever their names) whose joint values
  determine the attribute, measured as the one categorical column they encode: the
  bias-corrected Cramér's V of their joint values passes ``explain_encoded_copy``. Indicators
  that are copies on their own form the set (they are one encoding, rewritten together); when
  they do not determine the attribute, every strongly associated indicator
  (``explain_association``) joins, and those the rest determine the attribute without are
  dropped again, weakest first, unless they belong to a one-hot block with another member
  (the two are never 1 on the same row): rewriting only part of a block would leave a row no
  encoder writes.

Only columns the association stage found strongly associated are read again, and each step is
one vectorized pass over the rows, so a table without such columns costs nothing more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from audit.core.policy import Threshold
from audit.data.table import ColumnCodes, SensitiveColumn
from audit.explain.association import cramers_v
from audit.explain.results import Association, EncodedCopy

# The policy thresholds: near-perfect association (a copy), and strong association (an
# indicator that may belong to a set that determines the attribute).
COPY_THRESHOLD = "explain_encoded_copy"
ASSOCIATION_THRESHOLD = "explain_association"


@dataclass(frozen=True)
class CopyValues:
    """An encoded copy with the raw values the flip test writes for each group."""

    copy: EncodedCopy
    values: dict[int, tuple[Any, ...]]  # group code -> the group's modal value per column


@dataclass(frozen=True)
class _Column:
    codes: np.ndarray  # int64 per row, missing a value of its own
    hot: np.ndarray | None  # bool per row where an indicator column is 1; None otherwise


def value_counts(group_codes: np.ndarray, value_codes: np.ndarray, width: int) -> np.ndarray:
    """[groups, width]: rows of each group carrying each value code (codes < 0, missing, are
    not counted). One count of (group, value) pairs instead of a pass per group."""
    known = value_codes >= 0
    groups = int(group_codes.max()) + 1 if len(group_codes) else 0
    counts: np.ndarray = np.bincount(
        group_codes[known] * width + value_codes[known], minlength=groups * width
    ).reshape(groups, width)
    return counts


def value_text(value: Any) -> str:
    return "missing" if pd.isna(value) else str(value)


def _read(shared: ColumnCodes, column: str) -> _Column:
    raw = shared.frame[column]
    codes, width = shared.with_missing(column)
    numeric = pd.api.types.is_numeric_dtype(raw) or pd.api.types.is_bool_dtype(raw)
    # A 0/1 indicator: no missing value (it would be a value of its own), and at most two
    # values, both 0 or 1.
    _, distinct = shared.factorized(column)
    complete = width == len(distinct)
    indicator = numeric and complete and width <= 2 and {*distinct.tolist()} <= {0, 1}
    hot = np.asarray(raw == 1, dtype=bool) if indicator else None
    return _Column(codes, hot)


def _joint(columns: Sequence[_Column], rows: int) -> np.ndarray:
    """One code per distinct combination of the columns' values, renumbered densely after
    each column (one count, no sort) so that it never overflows."""
    joint = np.zeros(rows, dtype=np.int64)
    for column in columns:
        combined = joint * (int(column.codes.max()) + 1) + column.codes
        joint = (np.cumsum(np.bincount(combined) > 0) - 1)[combined]
    return joint


def _strength(columns: Sequence[_Column], attribute: SensitiveColumn) -> float:
    """Cramér's V of the columns' joint values and the attribute; 0 for no column."""
    if not columns:
        return 0.0
    return cramers_v(_joint(columns, len(attribute.codes)), attribute.codes) or 0.0


def _in_a_block(column: _Column, others: Sequence[_Column]) -> bool:
    """Whether ``column`` and one of ``others`` are never 1 on the same row: two columns of one
    one-hot block."""
    assert column.hot is not None  # only indicators are candidates
    return any(
        other.hot is not None and not bool((column.hot & other.hot).any()) for other in others
    )


def _determining_set(
    own: list[str],
    strong: list[str],
    read: dict[str, _Column],
    attribute: SensitiveColumn,
    limit: Threshold,
) -> tuple[list[str], float]:
    """The indicator columns that encode the attribute together, with their joint Cramér's V.

    ``own`` are copies on their own; ``strong`` the other strongly associated indicators,
    strongest first. Just ``own`` when they pass ``limit`` or when even every indicator
    together does not.
    """
    own_strength = _strength([read[c] for c in own], attribute)
    if limit.violated_by(own_strength) or not strong:
        return own, own_strength
    members = [*own, *strong]
    strength = _strength([read[c] for c in members], attribute)
    if not limit.violated_by(strength):
        return own, own_strength
    for column in reversed(strong):
        rest = [c for c in members if c != column]
        if _in_a_block(read[column], [read[c] for c in rest]):
            continue  # part of the block: the flip rewrites it with the rest
        without = _strength([read[c] for c in rest], attribute)
        if limit.violated_by(without):
            members, strength = rest, without
    return members, strength


def _copy_values(
    frame: pd.DataFrame,
    columns: list[str],
    read: Sequence[_Column],
    attribute: SensitiveColumn,
    measure: str,
    value: float,
) -> CopyValues:
    """The copy with each group's most common joint value (ties: first as text)."""
    joint = _joint(read, len(frame))
    counts = value_counts(attribute.codes, joint, int(joint.max()) + 1)
    values: dict[int, tuple[Any, ...]] = {}
    texts: dict[str, tuple[str, ...]] = {}
    carried = 0
    for group in np.flatnonzero(counts.sum(axis=1)):
        candidates = []
        for tied in np.flatnonzero(counts[group] == counts[group].max()):
            row = int(np.argmax(joint == tied))  # a row that carries the code, to read it
            raw = tuple(frame[column].iloc[row] for column in columns)
            candidates.append((tuple(map(value_text, raw)), int(tied), raw))
        text, code, raw = min(candidates, key=lambda candidate: candidate[0])
        values[int(group)], texts[attribute.groups[group]] = raw, text
        carried += int(counts[group, code])
    return CopyValues(
        EncodedCopy(
            attribute=attribute.name,
            columns=tuple(columns),
            measure=measure,
            value=value,
            group_code_share=carried / len(joint),
            codes=texts,
            n=len(joint),
        ),
        values,
    )


def _passes(association: Association | None, limit: Threshold) -> bool:
    return (
        association is not None
        and association.value is not None
        and limit.violated_by(association.value)
    )


def encoded_copies(
    frame: pd.DataFrame,
    columns: Sequence[str],
    associations: Sequence[Association],
    sensitive: Sequence[SensitiveColumn],
    copy_limit: Threshold,
    association_limit: Threshold,
    codes: ColumnCodes | None = None,
) -> tuple[CopyValues, ...]:
    """Every encoded copy of every sensitive attribute among the input ``columns``, from the
    association stage's measures (sensitive columns are never candidates); columns in input
    order, one-column copies first. ``codes``: the audit's factorizations of ``frame``'s
    columns, to share."""
    found: list[CopyValues] = []
    if frame.empty:
        return ()
    shared = ColumnCodes.of(frame, codes)
    for attribute in sensitive:
        measured = {item.column: item for item in associations if item.attribute == attribute.name}
        own = [column for column in columns if _passes(measured.get(column), copy_limit)]
        strong = [column for column in columns if _passes(measured.get(column), association_limit)]
        read = {column: _read(shared, column) for column in dict.fromkeys(own + strong)}
        for column in own:
            if read[column].hot is None:
                association = measured[column]
                found.append(
                    _copy_values(
                        frame,
                        [column],
                        [read[column]],
                        attribute,
                        association.measure,
                        association.value or 0.0,
                    )
                )
        own_indicators = [column for column in own if read[column].hot is not None]
        other_indicators = sorted(
            (c for c in strong if read[c].hot is not None and c not in own),
            key=lambda column: -(measured[column].value or 0.0),
        )
        members, strength = _determining_set(
            own_indicators, other_indicators, read, attribute, copy_limit
        )
        if not members:
            continue
        ordered = [column for column in columns if column in members]
        if ordered == own_indicators and len(ordered) == 1:
            # One column that is a copy on its own keeps its own measure, as associations show.
            association = measured[ordered[0]]
            measure, value = association.measure, association.value or 0.0
        else:
            measure, value = "cramers_v", strength
        found.append(
            _copy_values(
                frame, ordered, [read[column] for column in ordered], attribute, measure, value
            )
        )
    return tuple(found)
