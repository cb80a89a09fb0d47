"""Recourse by gradient search, for models that expose gradients (torch modules).

The change is searched in units of each actionable column's spread, ``z``, so that its cost is
``sum |z|`` (the same cost as the grid search in ``audit.robustness.recourse``). For that cost
the steepest way up is along one coordinate at a time: the allowed column with the largest
``|d score / d z|``. So each step moves the still-rejected rows' best column by ``STEP``, in
the direction its gradient and the policy allow, within the column's observed range, the
budget and ``max_changes`` columns; all rows take a step in one forward and backward pass.
When a row's score reaches the threshold, a bisection on its last step finds where it
crossed, so its cost is not rounded up to a whole step. The change is then written into the
row's raw columns (whole-number columns rounded away from the row's value, since 40.3 hours
is not an answer) and re-scored through the model's own encoding and adapter: only a change
the audit's own scoring approves is kept.

Gradients reach a raw column through the model's encoding only where that encoding is affine
in it (a standardised numeric input, or the raw value itself). ``affine_inputs`` probes the
encoding to find the input and slope of each column; a column whose encoding is not affine
(binned, say) is left to the grid search. Written here rather than taken from a recourse
library because DiCE's gradient method and CARLA's need the model in their own wrappers and
training data to fit their own encoders; this search runs on the audit's adapter, encoding
and cost, so its costs compare with the grid search's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from audit.explain.captum_attributions import TorchForward
from audit.robustness.perturb import numbers_of
from audit.robustness.recourse import Found, Lever

# A step of the search, in spreads of the moved column: 40 steps span the default budget of 2;
# the bisection then finds the crossing to STEP / 2**BISECTIONS (about 1e-5 spreads).
STEP = 0.05
BISECTIONS = 12


@dataclass(frozen=True)
class AffineInput:
    """How a raw column reaches the model: ``input = slope * raw + offset`` in one input."""

    position: int  # the model input it feeds
    slope: float  # change of that input per unit of the raw column


def affine_inputs(
    encode: Callable[[pd.DataFrame], np.ndarray],
    rows: pd.DataFrame,
    encoded: np.ndarray,
    levers: Sequence[Lever],
) -> tuple[AffineInput | None, ...]:
    """The input and slope of each lever's column, None where its encoding is not affine.

    Probed on the rows themselves: moving the column by one and by two spreads must change one
    input only, by the same slope for every row, twice as much for twice the move.
    """
    found: list[AffineInput | None] = []
    base = encoded.astype(np.float64)
    for lever in levers:
        values = numbers_of(rows[lever.column])
        moves = [
            np.asarray(encode(rows.assign(**{lever.column: values + k * lever.spread})), np.float64)
            - base
            for k in (1.0, 2.0)
        ]
        changed = np.flatnonzero(np.abs(moves[0]).max(axis=0) > 1e-6)
        if len(changed) != 1:
            found.append(None)
            continue
        position = int(changed[0])
        per_spread = moves[0][:, position]
        slope = float(np.median(per_spread))
        tolerance = 1e-4 * max(1.0, abs(slope))
        others = np.delete(moves[1], position, axis=1)
        affine = (
            np.allclose(per_spread, slope, rtol=0, atol=tolerance)
            and np.allclose(moves[1][:, position], 2 * slope, rtol=0, atol=2 * tolerance)
            and (others.size == 0 or np.abs(others).max() <= 1e-6)
        )
        found.append(AffineInput(position, slope / lever.spread) if affine else None)
    return tuple(found)


def _score_and_gradient(forward: TorchForward, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The score of each row and its gradient with respect to the row's inputs, in one pass."""
    tensor = forward.tensor(inputs).requires_grad_(True)
    with torch.enable_grad():
        output = forward(tensor)
        (gradient,) = torch.autograd.grad(output, tensor, grad_outputs=torch.ones_like(output))
    return (
        output.detach().to("cpu", torch.float64).numpy(),
        gradient.to("cpu", torch.float64).numpy(),
    )


def _allowed_signs(levers: Sequence[Lever]) -> tuple[np.ndarray, np.ndarray]:
    """Per lever, whether it may move up and whether it may move down."""
    up = np.array([lever.direction in ("increase", "any") for lever in levers])
    down = np.array([lever.direction in ("decrease", "any") for lever in levers])
    return up, down


def _ranges(levers: Sequence[Lever], origin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The lowest and highest change of each row's levers, in spreads: the observed range."""
    spread = np.array([lever.spread for lever in levers])
    low = np.array([lever.grid[0] for lever in levers])
    high = np.array([lever.grid[-1] for lever in levers])
    return (low - origin) / spread, (high - origin) / spread


def _realised(
    rows: pd.DataFrame, levers: Sequence[Lever], origin: np.ndarray, change: np.ndarray
) -> tuple[pd.DataFrame, np.ndarray]:
    """The rows with the change written into their raw columns, and the change in spreads as
    written: whole-number columns rounded away from the row's own value, within the range."""
    spread = np.array([lever.spread for lever in levers])
    values = origin + change * spread
    for position, lever in enumerate(levers):
        if not lever.whole:
            continue
        column = np.round(values[:, position], 9)  # float noise must not round 41.0 up to 42
        rounded = np.where(change[:, position] > 0, np.ceil(column), np.floor(column))
        values[:, position] = np.clip(rounded, lever.grid[0], lever.grid[-1])
    changed = rows.reset_index(drop=True)
    for position, lever in enumerate(levers):
        changed[lever.column] = values[:, position]
    return changed, (values - origin) / spread


def gradient_search(
    rows: pd.DataFrame,
    encoded: np.ndarray,
    levers: Sequence[Lever],
    inputs: Sequence[AffineInput | None],
    forward: TorchForward,
    score_rows: Callable[[pd.DataFrame], np.ndarray],
    threshold: float,
    max_changes: int,
    max_cost: float,
) -> Found:
    """The recourse the gradient search finds for each of ``rows`` (rejected; ``encoded`` is
    their model input) within the bound; inf cost where it finds none."""
    n, width = len(rows), len(levers)
    origin = np.column_stack([numbers_of(rows[lever.column]) for lever in levers])
    # Input change per spread of each lever: the chain rule from inputs to levers and back.
    to_inputs = np.zeros((width, encoded.shape[1]))
    for position, (lever, affine) in enumerate(zip(levers, inputs, strict=True)):
        if affine is not None:
            to_inputs[position, affine.position] = affine.slope * lever.spread
    movable = np.array([affine is not None for affine in inputs])
    up, down = _allowed_signs(levers)
    low, high = _ranges(levers, origin)
    base = encoded.astype(np.float64)
    change = np.zeros((n, width))
    before = np.zeros((n, width))  # each row's change before its last step
    searching = np.ones(n, dtype=bool)
    crossed = np.zeros(n, dtype=bool)
    for _ in range(int(np.ceil(max_cost / STEP)) + 2 * width + 1):
        active = np.flatnonzero(searching)
        if not len(active):
            break
        score, gradient = _score_and_gradient(forward, base[active] + change[active] @ to_inputs)
        reached = score >= threshold
        crossed[active[reached]] = True
        searching[active[reached]] = False
        active, gradient = active[~reached], gradient[~reached] @ to_inputs.T
        current = change[active]
        spent = np.abs(current).sum(axis=1)
        moved = current != 0
        may_add = moved.sum(axis=1) < max_changes
        rising = up & (gradient > 0) & (current < high[active] - 1e-12)
        falling = down & (gradient < 0) & (current > low[active] + 1e-12)
        allowed = movable & (rising | falling) & (moved | may_add[:, None])
        allowed &= (max_cost - spent > 1e-12)[:, None]
        strength = np.where(allowed, np.abs(gradient), 0.0)
        best = strength.argmax(axis=1)
        stuck = strength[np.arange(len(active)), best] <= 0
        searching[active[stuck]] = False
        active, best, current, spent = active[~stuck], best[~stuck], current[~stuck], spent[~stuck]
        sign = np.sign(gradient[~stuck][np.arange(len(active)), best])
        at = current[np.arange(len(active)), best]
        room = np.where(sign > 0, high[active, best] - at, at - low[active, best])
        size = np.minimum.reduce([np.full(len(active), STEP), room, max_cost - spent])
        before[active] = change[active]
        change[active, best] = at + sign * size
    found = np.flatnonzero(crossed)
    change[~crossed] = 0.0
    # The crossing lies on the last step: halve it until it is pinned down.
    low_change, high_change = before[found], change[found]
    for _ in range(BISECTIONS):
        middle = (low_change + high_change) / 2
        approved = forward.numpy((base[found] + middle @ to_inputs).astype(np.float32))
        approved = approved >= threshold
        high_change[approved] = middle[approved]
        low_change[~approved] = middle[~approved]
    # One bracket past the crossing, so that float32 rounding of the raw value's encoding
    # cannot leave it a hair short of the threshold: the cost is at most STEP / 4096 too high.
    change[found] = high_change + (high_change - low_change)
    changed, written = _realised(rows, levers, origin, change)
    # Only a change that the audit's own scoring approves counts, on the raw columns.
    verified = crossed.copy()
    if len(found):
        verified[found] = score_rows(changed.iloc[found]) >= threshold
    cost = np.where(verified, np.abs(written).sum(axis=1), np.inf)
    moved_columns = (written != 0) & verified[:, None]
    return Found(cost, moved_columns)
