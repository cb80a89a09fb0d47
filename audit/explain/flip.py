"""The counterfactual flip test: does a decision change when only the sensitive value does?

For a sensitive attribute that is a model input, the rows of each group are given another
group's value in that column (every ordered pair of groups), everything else held fixed; the
frame is re-encoded exactly as the model's input was built, and the model decides again. A
model that ignores the attribute changes no decision. The value written is the target group's
most common raw value (for a banded numeric attribute, its median), so the re-encoded row looks
like that group's rows do. An encoded copy of the attribute (``audit.explain.copies``) is
flipped the same way, whether or not the attribute itself is an input: its columns get the
target group's most common code, together with the attribute's own column when that is an
input too. Intervals are percentile bootstrap intervals of the changed share, resampling the
flipped rows (a binomial draw per replicate).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import permutations
from typing import Any

import numpy as np
import pandas as pd

from audit.core.intervals import interval_of
from audit.data.table import ColumnCodes, SensitiveColumn
from audit.explain.copies import CopyValues, value_counts, value_text
from audit.explain.results import Flip
from audit.explain.sampling import STREAM_FLIP, generator
from audit.models.features import ModelInputs, mismatched_rows

# Rows flipped per source group: a share of changed decisions is known to within about a
# percentage point from this many rows, and the test stays one quick pass per pair.
ROWS_PER_GROUP = 2000


class EncodingMismatch(RuntimeError):
    """Re-encoding the unchanged rows did not give the model's input back."""


def representative_values(
    raw: pd.Series,
    codes: np.ndarray,
    present: list[int],
    banded: bool,
    factorized: tuple[np.ndarray, pd.Index] | None = None,
) -> dict[int, Any]:
    """The value that stands for each present group: its most common raw value (ties: first
    as text), its median for a banded numeric column, missing for the missing-value group.
    ``factorized``: ``pd.factorize(raw)`` when already made (the audit's column codes)."""
    if banded:
        numbers = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
        medians = {}
        for code in present:
            known = numbers[(codes == code) & ~np.isnan(numbers)]
            medians[code] = float(np.median(known)) if len(known) else None
        return medians
    value_codes, distinct = pd.factorize(raw) if factorized is None else factorized
    width = len(distinct)
    if width == 0:
        return dict.fromkeys(present)
    counts = value_counts(codes, np.asarray(value_codes, dtype=np.int64), width)
    chosen: dict[int, Any] = {}
    for code in present:
        best = counts[code].max()
        candidates = [distinct[int(index)] for index in np.flatnonzero(counts[code] == best)]
        chosen[code] = sorted(candidates, key=str)[0] if best > 0 else None
    return chosen


def _written_text(written: dict[str, dict[int, Any]], target: int, attribute: str) -> str:
    texts = {column: value_text(by_group[target]) for column, by_group in written.items()}
    if list(texts) == [attribute]:
        return texts[attribute]
    return ", ".join(f"{column}={text}" for column, text in texts.items())


def flip_attribute(
    frame: pd.DataFrame,
    attribute: SensitiveColumn,
    encode: Callable[[pd.DataFrame], np.ndarray],
    inputs: ModelInputs,
    function: Callable[[np.ndarray], np.ndarray],
    threshold: float,
    n_boot: int,
    level: float,
    seed: int,
    copies: Sequence[CopyValues] = (),
    named: bool = True,
    column_codes: ColumnCodes | None = None,
) -> tuple[Flip, ...]:
    """Flip results for every ordered pair of ``attribute``'s groups that have rows.

    ``inputs`` is the model input built from ``frame`` (to check that re-encoding
    reproduces it) and ``function`` the positive-class probability. The attribute's own
    column is written when ``named`` (it is a model input), and so is every encoded copy of
    it, each with the target group's own code: the flipped row is a person who differs only
    in the attribute, however many columns carry it. ``column_codes``: ``frame``'s shared
    codes, which save factorizing the attribute's column again.
    """
    rng = generator(seed, STREAM_FLIP)
    present = [code for code in range(len(attribute.groups)) if (attribute.codes == code).any()]
    rows_of = {}
    for code in present:
        members = np.flatnonzero(attribute.codes == code)
        if len(members) > ROWS_PER_GROUP:
            members = np.sort(rng.choice(members, size=ROWS_PER_GROUP, replace=False))
        rows_of[code] = members
    written: dict[str, dict[int, Any]] = {}  # column -> group code -> the value written
    if named:
        banded = attribute.binning is not None
        written[attribute.name] = representative_values(
            frame[attribute.name],
            attribute.codes,
            present,
            banded,
            None if banded or column_codes is None else column_codes.factorized(attribute.name),
        )
    for found in copies:
        for position, column in enumerate(found.copy.columns):
            written[column] = {group: values[position] for group, values in found.values.items()}
    # Every group's rows are encoded and scored in one call, and so are all flipped rows:
    # encoders and models work row by row, so the batches give the same values.
    every_member = np.concatenate([rows_of[code] for code in present])
    # One take from the whole frame: a take from pyarrow-backed columns costs about as much
    # for a thousand rows as for all of them.
    members_frame = frame.iloc[every_member]
    encoded = np.asarray(encode(members_frame), dtype=np.float32)
    mismatched = mismatched_rows(encoded, inputs[every_member])
    if mismatched is not None:
        # Name the group of the first row that differs.
        code = int(attribute.codes[every_member[mismatched[0]]])
        raise EncodingMismatch(
            f"re-encoding the rows of {attribute.name}={attribute.groups[code]} does not "
            "reproduce the model's input, so flipped rows could not be compared"
        )
    bounds = np.cumsum([0] + [len(rows_of[code]) for code in present])
    block_of = {code: slice(bounds[index], bounds[index + 1]) for index, code in enumerate(present)}
    all_base = function(encoded)
    base_scores = {code: all_base[block_of[code]] for code in present}
    pairs = list(permutations(present, 2))
    flipped_frames = []
    for source, target in pairs:
        flipped = members_frame.iloc[block_of[source]].copy()
        for column, by_group in written.items():
            flipped[column] = by_group[target]
        flipped_frames.append(flipped)
    all_flipped = (
        function(np.asarray(encode(pd.concat(flipped_frames)), dtype=np.float32))
        if pairs
        else np.zeros(0)
    )
    pair_bounds = np.cumsum([0] + [len(rows_of[source]) for source, _ in pairs])
    results = []
    for index, (source, target) in enumerate(pairs):
        members = rows_of[source]
        scores = all_flipped[pair_bounds[index] : pair_bounds[index + 1]]
        before = base_scores[source] >= threshold
        after = scores >= threshold
        changed = before != after
        n = len(members)
        share = float(changed.mean())
        interval = None
        if n_boot > 0:
            replicates = rng.binomial(n, share, size=n_boot) / n
            interval = interval_of(replicates, level)
        change = scores - base_scores[source]
        results.append(
            Flip(
                attribute=attribute.name,
                from_group=attribute.groups[source],
                to_group=attribute.groups[target],
                value=_written_text(written, target, attribute.name),
                columns=tuple(written),
                n=n,
                changed=int(changed.sum()),
                changed_share=share,
                ci=interval,
                to_positive=int((after & ~before).sum()),
                to_negative=int((before & ~after).sum()),
                mean_score_change=float(change.mean()),
                mean_abs_score_change=float(np.abs(change).mean()),
            )
        )
    return tuple(results)
