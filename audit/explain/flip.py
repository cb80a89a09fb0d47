"""The counterfactual flip test: does a decision change when only the sensitive value does?

For a sensitive attribute that is a model input, the rows of each group are given another
group's value in that column (every ordered pair of groups), everything else held fixed; the
frame is re-encoded exactly as the model's input was built, and the model decides again. A
model that ignores the attribute changes no decision. The value written is the target group's
most common raw value (for a banded numeric attribute, its median), so the re-encoded row looks
like that group's rows do. Intervals are percentile bootstrap intervals of the changed share,
resampling the flipped rows (a binomial draw per replicate).
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import permutations
from typing import Any

import numpy as np
import pandas as pd

from audit.explain.results import Flip
from audit.explain.sampling import STREAM_FLIP, generator
from audit.fairness import percentile_interval
from audit.table import SensitiveColumn

# Rows flipped per source group: a share of changed decisions is known to within about a
# percentage point from this many rows, and the test stays one quick pass per pair.
ROWS_PER_GROUP = 2000


class EncodingMismatch(RuntimeError):
    """Re-encoding the unchanged rows did not give the model's input back."""


def representative_value(raw: pd.Series, mask: np.ndarray, banded: bool) -> Any:
    """The value that stands for a group: its most common raw value (ties: first as text),
    its median for a banded numeric column, missing for the missing-value group."""
    values = raw[mask].dropna()
    if values.empty:
        return None
    if banded:
        return float(pd.to_numeric(values).median())
    counts = values.astype(object).value_counts(sort=False)
    best = counts.max()
    return sorted((value for value, count in counts.items() if count == best), key=str)[0]


def flip_attribute(
    frame: pd.DataFrame,
    attribute: SensitiveColumn,
    encode: Callable[[pd.DataFrame], np.ndarray],
    inputs: np.ndarray,
    function: Callable[[np.ndarray], np.ndarray],
    threshold: float,
    n_boot: int,
    level: float,
    seed: int,
) -> tuple[Flip, ...]:
    """Flip results for every ordered pair of ``attribute``'s groups that have rows.

    ``inputs`` is the model input built from ``frame`` (to check that re-encoding
    reproduces it) and ``function`` the positive-class probability.
    """
    rng = generator(seed, STREAM_FLIP)
    raw = frame[attribute.name]
    present = [code for code in range(len(attribute.groups)) if (attribute.codes == code).any()]
    rows_of = {}
    for code in present:
        members = np.flatnonzero(attribute.codes == code)
        if len(members) > ROWS_PER_GROUP:
            members = np.sort(rng.choice(members, size=ROWS_PER_GROUP, replace=False))
        rows_of[code] = members
    values = {
        code: representative_value(raw, attribute.codes == code, attribute.binning is not None)
        for code in present
    }
    base_scores = {}
    for code, members in rows_of.items():
        subset = frame.iloc[members]
        encoded = np.asarray(encode(subset), dtype=np.float32)
        if encoded.shape != inputs[members].shape or not np.allclose(
            encoded, inputs[members], rtol=1e-5, atol=1e-6
        ):
            raise EncodingMismatch(
                f"re-encoding the rows of {attribute.name}={attribute.groups[code]} does not "
                "reproduce the model's input, so flipped rows could not be compared"
            )
        base_scores[code] = function(encoded)
    results = []
    for source, target in permutations(present, 2):
        members = rows_of[source]
        flipped = frame.iloc[members].copy()
        flipped[attribute.name] = values[target]
        scores = function(np.asarray(encode(flipped), dtype=np.float32))
        before = base_scores[source] >= threshold
        after = scores >= threshold
        changed = before != after
        n = len(members)
        share = float(changed.mean())
        interval = None
        if n_boot > 0:
            replicates = rng.binomial(n, share, size=n_boot) / n
            low, high = percentile_interval(replicates[:, None].astype(np.float64), level)
            interval = (float(low[0]), float(high[0]))
        change = scores - base_scores[source]
        results.append(
            Flip(
                attribute=attribute.name,
                from_group=attribute.groups[source],
                to_group=attribute.groups[target],
                value="missing" if values[target] is None else str(values[target]),
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
