"""Group metrics, disparities and their bootstrap intervals for every slice."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

import numpy as np

from audit.core.errors import ConfigError
from audit.core.intervals import finite_interval, percentile_interval
from audit.core.policy import Policy
from audit.core.progress import Progress
from audit.core.replicates import poisson_resampled, replicates_in_blocks
from audit.core.result import INSUFFICIENT_DATA, Disparity, GroupResult, GroupStatus
from audit.data.slices import Partition, Slice
from audit.fairness.calibration import (
    CalibrationTable,
    calibration_error_by_group,
    calibration_error_replicates,
    calibration_table,
)
from audit.fairness.metrics import (
    CALIBRATION_ERROR,
    DISPARITIES,
    RATE_METRICS,
    ROC_AUC,
    DisparitySpec,
    auc_by_group_from_cells,
    confusion_index,
    denominators,
    fairlearn_rates,
    rates_from_counts,
    roc_auc_by_group,
    undefined_rates,
)
from audit.fairness.score_sketch import ScoreSketch

# Scores are binned for bootstrapping ROC AUC; point estimates stay exact.
AUC_BINS = 256
# Cap on the elements of one chunk of histogram replicates, to bound memory.
MAX_CHUNK_ELEMENTS = 8_000_000
# The bootstrap reports its progress from this many drawn counts (about 2 s on one core).
PROGRESS_DRAWS = 50_000_000
NO_SCORES = "the audit has no scores, only decisions (pass --scores)"


@dataclass(frozen=True)
class SliceStats:
    """One slice's numbers, with the replicates the checks need for their intervals."""

    slice: Slice
    counts: np.ndarray  # int64 [groups, 4]
    ok: np.ndarray  # bool [groups]: at least min_group_size rows
    point: dict[str, np.ndarray]  # metric -> [groups], NaN where undefined
    replicates: dict[str, np.ndarray]  # metric -> [n_boot, groups]
    reference: int  # index of the reference group
    # metric -> bool [groups]: the metric's own denominator (rows, positive labels, negative
    # labels or positive decisions) has at least min_group_size rows. A rate over 3 positives
    # is 0 or 1 by chance, so it takes no part in a disparity.
    enough: dict[str, np.ndarray]

    def usable(self, metric: str) -> np.ndarray:
        """The metric per group, NaN where its denominator is too small to compare."""
        return np.where(self.enough[metric], self.point[metric], np.nan)

    def usable_replicates(self, metric: str) -> np.ndarray:
        """The metric's replicates ``[n_boot, groups]``, NaN where ``usable`` is."""
        return np.where(self.enough[metric][None, :], self.replicates[metric], np.nan)


@dataclass(frozen=True)
class FairnessTables:
    slices: tuple[SliceStats, ...]
    groups: tuple[GroupResult, ...]
    disparities: tuple[Disparity, ...]
    # Largest possible distance of any reported ROC AUC from the exact value: 0 when it was
    # computed from every row's score, the sketch's bound when from score histograms.
    auc_max_error: float = 0.0


@dataclass(frozen=True)
class RowScores:
    """Every row's fine cell, label and score: what exact ROC AUC needs."""

    cell_of_row: np.ndarray  # int64
    labels: np.ndarray  # int8
    scores: np.ndarray  # float64

    def by_score(self) -> RowScores:
        """The same rows in ascending order of score, rows of equal score in no set order:
        the AUC and the score bins read from it treat tied rows alike, so numpy's default
        (unstable, vectorized) sort serves, at about 60% of a stable sort's time."""
        order = np.argsort(self.scores)
        return RowScores(self.cell_of_row[order], self.labels[order], self.scores[order])


# Where ROC AUC comes from: every row's score (exact), a mergeable sketch of the scores
# (a streamed audit too large to keep them), or nowhere (decisions only).
AucSource = RowScores | ScoreSketch | None


def _defined_count(values: np.ndarray) -> np.ndarray:
    return np.isfinite(values).sum(axis=-1)


def between_difference(values: np.ndarray) -> np.ndarray:
    """max - min over the last axis (groups), ignoring NaN; NaN with fewer than 2 defined."""
    with np.errstate(invalid="ignore"):
        spread = np.nanmax(_fill(values, -np.inf), axis=-1) - np.nanmin(
            _fill(values, np.inf), axis=-1
        )
    return np.where(_defined_count(values) >= 2, spread, np.nan)


def between_ratio(values: np.ndarray) -> np.ndarray:
    """min / max over groups; all groups at zero is parity (1)."""
    low = np.nanmin(_fill(values, np.inf), axis=-1)
    high = np.nanmax(_fill(values, -np.inf), axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(high > 0, low / high, 1.0)
    return np.where(_defined_count(values) >= 2, ratio, np.nan)


def reference_difference(values: np.ndarray, reference: int) -> np.ndarray:
    gaps = np.abs(values - values[..., reference : reference + 1])
    return np.where(_defined_count(gaps) >= 2, np.nanmax(_fill(gaps, -np.inf), axis=-1), np.nan)


def reference_ratio(values: np.ndarray, reference: int) -> np.ndarray:
    """Smallest of min(group, reference) / max(group, reference); both zero is parity."""
    base = values[..., reference : reference + 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        ratios = np.minimum(values, base) / np.maximum(values, base)
    ratios = np.where((values == 0) & (base == 0), 1.0, ratios)
    return np.where(_defined_count(ratios) >= 2, np.nanmin(_fill(ratios, np.inf), axis=-1), np.nan)


def _fill(values: np.ndarray, fill: float) -> np.ndarray:
    # nanmax/nanmin warn on all-NaN rows; a sentinel keeps them quiet, and the defined
    # count masks those rows afterwards.
    return np.where(np.isnan(values), fill, values)


Combiner = Callable[[np.ndarray], np.ndarray]


def disparity_values(
    spec: DisparitySpec, metrics: dict[str, np.ndarray], comparison: str, reference: int
) -> np.ndarray:
    if comparison == "between_groups":
        measure: Combiner = between_difference if spec.kind == "difference" else between_ratio
    elif spec.kind == "difference":
        measure = lambda values: reference_difference(values, reference)  # noqa: E731
    else:
        measure = lambda values: reference_ratio(values, reference)  # noqa: E731
    parts = np.stack([measure(metrics[name]) for name in spec.components])
    combined = parts.max(axis=0) if spec.kind == "difference" else parts.min(axis=0)
    # Any undefined component leaves the combined value undefined.
    return np.where(np.isnan(parts).any(axis=0), np.nan, combined)


def _shortfall(spec: DisparitySpec, values: np.ndarray, base: np.ndarray) -> np.ndarray:
    """How far ``values`` are from ``base`` by the disparity's own measure; larger is worse.

    A ratio disparity is set by the smallest ratio, which need not be the largest gap.
    """
    if spec.kind == "difference":
        return np.abs(values - base)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratios = np.minimum(values, base) / np.maximum(values, base)
    return -np.where((values == 0) & (base == 0), 1.0, ratios)


def _worst_pair(
    spec: DisparitySpec, stats: SliceStats, comparison: str
) -> tuple[tuple[str, ...], ...]:
    best: tuple[float, tuple[int, int]] | None = None
    for name in spec.components:
        values = stats.usable(name)
        if _defined_count(values) < 2:
            continue
        if comparison == "between_groups":
            pair = (int(np.nanargmin(values)), int(np.nanargmax(values)))
            shortfall = float(_shortfall(spec, values[pair[1]], values[pair[0]]))
        else:
            if not np.isfinite(values[stats.reference]):
                continue
            shortfalls = _shortfall(spec, values, values[stats.reference])
            worst = int(np.argmax(_fill(shortfalls, -np.inf)))
            pair, shortfall = (stats.reference, worst), float(shortfalls[worst])
        if best is None or shortfall > best[0]:
            best = (shortfall, pair)
    if best is None:
        return ()
    return tuple(stats.slice.labels[index] for index in best[1])


def _reference_group(slice_: Slice, counts: np.ndarray, ok: np.ndarray, policy: Policy) -> int:
    configured = [policy.reference_groups.get(feature) for feature in slice_.features]
    if all(value is not None for value in configured):
        wanted = tuple(str(value) for value in configured)
        if wanted not in slice_.labels:
            known = ", ".join("/".join(label) for label in slice_.labels)
            raise ConfigError(
                f"reference group {'/'.join(slice_.features)}={'/'.join(wanted)!r} is not in "
                f"the data; its groups are: {known}"
            )
        return slice_.labels.index(wanted)
    sizes = counts.sum(axis=1)
    # The largest group with enough rows; failing any, the largest (reported as too small).
    return int(np.argmax(np.where(ok, sizes, -1) if ok.any() else sizes))


def cell_confusion(
    cell_of_row: np.ndarray, n_cells: int, labels: np.ndarray, decisions: np.ndarray
) -> np.ndarray:
    """Confusion counts ``[cells, 4]`` of these rows: sums over any split of the rows add up."""
    return np.bincount(
        cell_of_row * 4 + confusion_index(labels, decisions), minlength=n_cells * 4
    ).reshape(n_cells, 4)


def compute_fairness(
    fine: Partition,
    slices: list[Slice],
    labels: np.ndarray,
    decisions: np.ndarray,
    scores: np.ndarray | None,
    policy: Policy,
) -> FairnessTables:
    cell_counts = cell_confusion(fine.cell_of_row, fine.n_cells, labels, decisions)
    auc = RowScores(fine.cell_of_row, labels, scores) if scores is not None else None
    calibration = (
        calibration_table(fine.cell_of_row, fine.n_cells, labels, scores)
        if scores is not None
        else None
    )
    return fairness_from_counts(fine.n_cells, slices, cell_counts, auc, calibration, policy)


def fairness_from_counts(
    n_cells: int,
    slices: list[Slice],
    cell_counts: np.ndarray,
    auc: AucSource,
    calibration: CalibrationTable | None,
    policy: Policy,
    threads: int = 1,
    progress: Progress | None = None,
) -> FairnessTables:
    """Every slice's tables from the fine cells' confusion counts (merged over chunks or not).

    Rates, disparities and their Poisson-bootstrap intervals need only ``cell_counts``: a row
    drawn Poisson(1) times makes a cell's count Poisson(count), so the replicates are drawn
    from the counts, and equal counts and seed give equal intervals however the rows were
    read. ROC AUC ranks scores, so it reads ``auc``; calibration error reads the cells'
    score statistics ``calibration`` (None without scores).
    """
    rng = np.random.default_rng(policy.seed)
    indicators = [slice_.indicator(n_cells) for slice_ in slices]
    slice_counts = [np.rint(indicator.T @ cell_counts).astype(np.int64) for indicator in indicators]
    with ThreadPoolExecutor(1, thread_name_prefix="rai-fairlearn") as beside:
        # Fairlearn's MetricFrame is Python that holds the GIL; the bootstrap below is numpy
        # that releases it. Given a second thread, the point values are computed meanwhile.
        points_ready = beside.submit(fairlearn_rates, slice_counts) if threads > 1 else None
        replicate_counts = poisson_resampled(rng, cell_counts, policy.n_boot)
        auc_points, auc_errors, histogram = _auc_inputs(auc, slices, n_cells)
        calibration_reason = _why_no_calibration(calibration)
        calibrated = calibration if calibration_reason is None else None
        # Counts drawn for the ROC AUC and calibration replicates: the bootstrap's costly part.
        draws = [
            policy.n_boot * table.size
            for table in (histogram, calibrated.rows if calibrated is not None else None)
            if table is not None
        ]
        report = None
        if progress is not None and sum(draws) >= PROGRESS_DRAWS:
            progress.start("bootstrap intervals", len(draws) * policy.n_boot, unit="replicates")
            report = progress.advance
        auc_replicates = (
            _auc_replicates(histogram, indicators, auc_points, policy.n_boot, rng, threads, report)
            if histogram is not None
            else None
        )
        # From a generator spawned off the audit's, after its draws: those stay as they were,
        # and these do not depend on how ROC AUC was resampled (every score or a sketch).
        calibration_replicates = (
            calibration_error_replicates(
                calibrated,
                indicators,
                policy.n_boot,
                rng.spawn(1)[0],
                MAX_CHUNK_ELEMENTS,
                threads,
                report,
            )
            if calibrated is not None
            else None
        )
    stats_list: list[SliceStats] = []
    groups: list[GroupResult] = []
    disparities: list[Disparity] = []
    points = points_ready.result() if points_ready is not None else fairlearn_rates(slice_counts)
    for position, slice_ in enumerate(slices):
        counts, point = slice_counts[position], points[position]
        ok = counts.sum(axis=1) >= policy.min_group_size
        replicates = rates_from_counts(slice_.sum_by_group(replicate_counts))
        if auc_replicates is not None:
            point[ROC_AUC] = auc_points[position]
            replicates[ROC_AUC] = auc_replicates[position]
        if calibration is not None and calibration_replicates is not None:
            point[CALIBRATION_ERROR] = calibration_error_by_group(
                calibration, slice_.group_of_cell, slice_.n_groups
            )
            replicates[CALIBRATION_ERROR] = calibration_replicates[position]
        rows_needed = {
            name: ok & (rows >= policy.min_group_size)
            for name, rows in denominators(counts).items()
        }
        stats = SliceStats(
            slice=slice_,
            counts=counts,
            ok=ok,
            point=point,
            replicates=replicates,
            reference=_reference_group(slice_, counts, ok, policy),
            enough={name: rows_needed.get(name, ok) for name in point},
        )
        stats_list.append(stats)
        groups.extend(_group_results(stats, auc is not None, calibration_reason, policy))
        disparities.extend(_disparities(stats, policy, calibration_reason or NO_SCORES))
    reported_errors = [
        error[stats.ok & np.isfinite(error)]
        for error, stats in zip(auc_errors, stats_list, strict=False)
    ]
    auc_max_error = max((float(e.max()) for e in reported_errors if e.size), default=0.0)
    return FairnessTables(tuple(stats_list), tuple(groups), tuple(disparities), auc_max_error)


def _auc_inputs(
    auc: AucSource, slices: list[Slice], n_cells: int
) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray | None]:
    """Per slice: ROC AUC per group and its largest possible error; and the cells' score
    histograms ``[cells, 2, bins]`` that the bootstrap resamples."""
    if auc is None:
        return [], [], None
    if isinstance(auc, ScoreSketch):
        pairs = [auc.auc_by_group(slice_.group_of_cell, slice_.n_groups) for slice_ in slices]
        return (
            [point for point, _ in pairs],
            [error for _, error in pairs],
            auc.coarse_histogram(AUC_BINS),
        )
    # One sort serves every slice: gathered in score order once, each slice reads the rows
    # in order instead of gathering them at random again.
    by_score = auc.by_score()
    points = [
        roc_auc_by_group(
            by_score.scores,
            by_score.labels,
            slice_.group_of_cell[by_score.cell_of_row],
            slice_.n_groups,
            presorted=True,
        )
        for slice_ in slices
    ]
    histogram = _quantile_histogram(by_score, n_cells)
    return points, [np.zeros_like(point) for point in points], histogram


def _quantile_histogram(by_score: RowScores, n_cells: int) -> np.ndarray:
    """Scores binned at (up to ``AUC_BINS``) quantiles of all scores, per cell and label, from
    rows in ascending order of score.

    Quantiles and bins are read off the sorted scores (the sort the exact AUC made), which is
    several times faster than ``np.quantile`` and ``np.searchsorted`` over the unsorted
    scores, with the same result.
    """
    sorted_scores = by_score.scores
    size = len(sorted_scores)
    steps = np.flatnonzero(sorted_scores[1:] != sorted_scores[:-1]) + 1
    if len(steps) + 1 <= AUC_BINS:  # a bin per distinct score (and none without scores)
        starts = steps
        n_bins = len(steps) + min(size, 1)
    else:
        # A row's bin is how many edges are at or below its score: the edges at or below the
        # sorted row i are those whose first row at or above them comes at or before i.
        edges = np.unique(np.quantile(sorted_scores, np.linspace(0, 1, AUC_BINS + 1)[1:-1]))
        starts = np.searchsorted(sorted_scores, edges, side="left")
        n_bins = len(edges) + 1
    bins = np.cumsum(np.bincount(starts, minlength=size + 1)[:size])
    return np.bincount(
        (by_score.cell_of_row * 2 + by_score.labels) * n_bins + bins,
        minlength=n_cells * 2 * n_bins,
    ).reshape(n_cells, 2, n_bins)


def _auc_replicates(
    histogram: np.ndarray,
    indicators: list[np.ndarray],
    auc_points: list[np.ndarray],
    n_boot: int,
    rng: np.random.Generator,
    threads: int,
    report: Callable[[int], None] | None,
) -> list[np.ndarray]:
    """Bootstrap ROC AUC per slice group from Poisson-resampled score histograms, each slice
    given by its ``[cells, groups]`` indicator.

    Returns, per slice, ``[n_boot, groups]`` centred on the reported AUC: each replicate's
    binned AUC is shifted by (reported - binned) of the original data, so binning moves the
    interval's width, not its centre.
    """
    replicates = replicates_in_blocks(
        lambda size: poisson_resampled(rng, histogram, size),
        partial(auc_by_group_from_cells, indicators=indicators),
        [indicator.shape[1] for indicator in indicators],
        n_boot,
        MAX_CHUNK_ELEMENTS // max(1, histogram.size),
        threads,
        report,
    )
    binned_points = auc_by_group_from_cells(histogram, indicators)
    return [
        slice_replicates + (point - binned)
        for slice_replicates, point, binned in zip(
            replicates, auc_points, binned_points, strict=True
        )
    ]


def _why_no_calibration(calibration: CalibrationTable | None) -> str | None:
    """Why no group has a calibration error, or None when they can."""
    if calibration is None:
        return NO_SCORES
    if calibration.outside_unit_interval:
        return (
            f"the scores are not probabilities: {calibration.outside_unit_interval} score(s) "
            "outside [0, 1]"
        )
    return None


def insufficient_reason(rows: int, what: str, min_group_size: int) -> str:
    """Why a metric over too few relevant rows has no value; its count is part of it."""
    counted = f"{rows} {what.removesuffix('s') if rows == 1 else what}"
    return f"{INSUFFICIENT_DATA}: {counted}, fewer than min_group_size ({min_group_size})"


def _group_results(
    stats: SliceStats, has_scores: bool, calibration_reason: str | None, policy: Policy
) -> list[GroupResult]:
    undefined_masks = undefined_rates(stats.counts)
    rows = denominators(stats.counts)
    intervals = {
        name: percentile_interval(values, policy.confidence_level)
        for name, values in stats.replicates.items()
    }
    results = []
    for index, label in enumerate(stats.slice.labels):
        n = int(stats.counts[index].sum())
        positives = int(stats.counts[index, [0, 2]].sum())
        if not stats.ok[index]:
            results.append(
                GroupResult(
                    feature=stats.slice.features,
                    group=label,
                    n=n,
                    positives=positives,
                    status=GroupStatus.INSUFFICIENT_DATA,
                    metrics={},
                    undefined={},
                    ci={},
                )
            )
            continue
        metrics: dict[str, float | None] = {}
        undefined: dict[str, str] = {}
        ci: dict[str, tuple[float, float] | None] = {}
        for rate in RATE_METRICS:
            value = stats.point[rate.name][index]
            if undefined_masks[rate.name][index] or not np.isfinite(value):
                metrics[rate.name] = None
                undefined[rate.name] = rate.undefined_reason
                ci[rate.name] = None
            elif not stats.enough[rate.name][index]:
                metrics[rate.name] = None
                undefined[rate.name] = insufficient_reason(
                    int(rows[rate.name][index]), rate.denominator_rows, policy.min_group_size
                )
                ci[rate.name] = None
            else:
                metrics[rate.name] = float(value)
                low, high = intervals[rate.name]
                ci[rate.name] = finite_interval(low[index], high[index])
        auc_reason = None if has_scores else NO_SCORES
        if auc_reason is None and not np.isfinite(stats.point[ROC_AUC][index]):
            auc_reason = "the group has only one label class"
        for name, reason in ((ROC_AUC, auc_reason), (CALIBRATION_ERROR, calibration_reason)):
            if reason is not None:
                metrics[name] = None
                undefined[name] = reason
                ci[name] = None
            else:
                metrics[name] = float(stats.point[name][index])
                low, high = intervals[name]
                ci[name] = finite_interval(low[index], high[index])
        results.append(
            GroupResult(
                feature=stats.slice.features,
                group=label,
                n=n,
                positives=positives,
                status=GroupStatus.OK,
                metrics=metrics,
                undefined=undefined,
                ci=ci,
            )
        )
    return results


def _disparities(stats: SliceStats, policy: Policy, missing_reason: str) -> list[Disparity]:
    ok_point = {name: stats.usable(name) for name in stats.point}
    ok_replicates = {name: stats.usable_replicates(name) for name in stats.replicates}
    reference_label = stats.slice.labels[stats.reference]
    results: list[Disparity] = []
    for spec in DISPARITIES:
        absent = [name for name in spec.components if name not in stats.point]
        if absent:
            # Calibration error without probability scores: the disparity is listed, undefined.
            results.extend(
                Disparity(
                    feature=stats.slice.features,
                    metric=spec.name,
                    comparison=comparison,
                    value=None,
                    ci=None,
                    reference_group=reference_label if comparison == "reference" else None,
                    groups=(),
                    undefined=missing_reason,
                    judged_by=spec.check,
                )
                for comparison in ("between_groups", "reference")
            )
            continue
        for comparison in ("between_groups", "reference"):
            value = disparity_values(spec, ok_point, comparison, stats.reference)
            reps = disparity_values(spec, ok_replicates, comparison, stats.reference)
            low, high = percentile_interval(reps[:, None], policy.confidence_level)
            defined = bool(np.isfinite(value))
            results.append(
                Disparity(
                    feature=stats.slice.features,
                    metric=spec.name,
                    comparison=comparison,
                    value=float(value) if defined else None,
                    ci=finite_interval(low[0], high[0]) if defined else None,
                    reference_group=reference_label if comparison == "reference" else None,
                    groups=_worst_pair(spec, stats, comparison) if defined else (),
                    undefined=None
                    if defined
                    else _why_undefined(spec, stats, comparison, policy.min_group_size),
                    judged_by=spec.check,
                )
            )
    return results


def _why_undefined(
    spec: DisparitySpec, stats: SliceStats, comparison: str, min_group_size: int
) -> str:
    if comparison == "reference":
        label = "/".join(stats.slice.labels[stats.reference])
        if not stats.ok[stats.reference]:
            return f"the reference group {label} has fewer than {min_group_size} rows"
        short = [
            metric
            for metric in RATE_METRICS
            if metric.name in spec.components
            and np.isfinite(stats.point[metric.name][stats.reference])
            and not stats.enough[metric.name][stats.reference]
        ]
        if short:
            rows = denominators(stats.counts[stats.reference])
            listed = " and ".join(
                f"{int(rows[metric.name])} {metric.denominator_rows}" for metric in short
            )
            return (
                f"{INSUFFICIENT_DATA}: the reference group {label} has {listed}, fewer than "
                f"min_group_size ({min_group_size})"
            )
        missing = [
            name for name in spec.components if not np.isfinite(stats.point[name][stats.reference])
        ]
        if missing:
            return f"{' and '.join(missing)} is undefined for the reference group {label}"
    if int(stats.ok.sum()) < 2:
        return "fewer than two groups have enough rows to compare"
    too_few = [name for name in spec.components if int(stats.enough[name].sum()) < 2]
    counted = {
        metric.name: metric.denominator_rows for metric in RATE_METRICS if metric.name in too_few
    }
    if counted and all(
        int((stats.ok & ~np.isnan(stats.point[name])).sum()) >= 2 for name in counted
    ):
        what = " and ".join(f"{name} ({rows})" for name, rows in counted.items())
        return (
            f"{INSUFFICIENT_DATA}: fewer than two groups have {min_group_size} or more of the "
            f"rows {what} divides by"
        )
    names = " or ".join(spec.components)
    return f"{names} is defined in fewer than two groups (groups with one label class)"
