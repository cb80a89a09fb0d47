"""Sliced fairness metrics on 1,000,000 rows: rai-audit against Fairlearn's own MetricFrame.

The data is the bundled UCI Adult test split resampled (seeded) to ``--rows`` rows, with the
bundled model's decisions and scores; sensitive features sex and race, and sex x race.

Timed, side by side:
  * rai-audit: ``audit.data.slices.partition`` + ``build_slices`` +
    ``audit.fairness.tables.compute_fairness``
    with ``--n-boot`` bootstrap replicates (every group metric, ROC AUC, every disparity and
    every interval);
  * Fairlearn ``MetricFrame`` on the raw rows, one per slice, with the same group metrics
    (selection rate, TPR, FPR, FNR, precision, accuracy, count) and no bootstrap;
  * Fairlearn ``MetricFrame`` with its own ``n_boot``: measured with ``--fairlearn-n-boot``
    (small) and extrapolated linearly to ``--n-boot``.
It then checks that rai-audit's group metrics equal Fairlearn's on the raw rows.

    python benchmarks/bench_fairness.py [--rows 1000000] [--n-boot 1000]
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from benchkit import (
    MODEL,
    SENSITIVE,
    TARGET,
    TEST_CSV,
    adult_test,
    format_bytes,
    format_seconds,
    machine_line,
    print_table,
    resample_rows,
    time_call,
)
from fairlearn.metrics import (
    MetricFrame,
    count,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn.metrics import accuracy_score, precision_score

from audit.core.policy import Policy, load_policy
from audit.core.result import GroupStatus
from audit.data.slices import build_slices, partition
from audit.data.table import SensitiveColumn, prepare_sensitive, prepare_target
from audit.fairness.tables import FairnessTables, compute_fairness
from audit.models import load_model
from audit.models.features import from_metadata, parse_metadata
from audit.models.scoring import model_predictions, raw_output

# rai-audit's report name -> the Fairlearn / scikit-learn function computing it per group.
# precision uses zero_division=0.0 as rai-audit does (no group here has zero positives).
FAIRLEARN_METRICS: dict[str, Callable[..., Any]] = {
    "selection_rate": selection_rate,
    "true_positive_rate": true_positive_rate,
    "false_positive_rate": false_positive_rate,
    "false_negative_rate": false_negative_rate,
    "precision": partial(precision_score, zero_division=0.0),
    "accuracy": accuracy_score,
    "count": count,
}
SLICES: tuple[tuple[str, ...], ...] = (("sex",), ("race",), ("sex", "race"))
# The budget for 1M rows, 2 features + intersection, 1,000 replicates.
BUDGET_SECONDS = 60.0


@dataclass(frozen=True)
class BenchData:
    frame: pd.DataFrame  # the sensitive columns as they are in the CSV, one row per person
    labels: np.ndarray  # int8, 1 = >50K
    decisions: np.ndarray  # int8, the model's decision at threshold 0.5
    scores: np.ndarray  # float64, the model's >50K probability


def build_data(rows: int, seed: int) -> BenchData:
    """The model's decisions on the 16,281 test rows, then those rows resampled to ``rows``."""
    test = adult_test()
    model = load_model(MODEL)
    assert model.metadata_text is not None, "the bundled model embeds its feature metadata"
    metadata = parse_metadata(model.metadata_text, MODEL)
    features = from_metadata(test, metadata, TEST_CSV)
    target = prepare_target(test, TARGET, metadata.positive_label, TEST_CSV)
    output = raw_output(model, features.values, 8192, MODEL)
    predictions = model_predictions(
        output, "auto", 0.5, tuple(metadata.class_labels or ()), target.positive_label, MODEL
    )
    assert predictions.scores is not None
    index = resample_rows(len(test), rows, seed)
    return BenchData(
        frame=test[list(SENSITIVE)].iloc[index].reset_index(drop=True),
        labels=target.y[index],
        decisions=predictions.decisions[index],
        scores=predictions.scores[index],
    )


def rai_audit_fairness(
    sensitive: list[SensitiveColumn], data: BenchData, policy: Policy
) -> FairnessTables:
    fine = partition(sensitive)
    slices = build_slices(sensitive, fine, policy.max_intersection)
    return compute_fairness(fine, slices, data.labels, data.decisions, data.scores, policy)


def fairlearn_frame(data: BenchData, features: tuple[str, ...], **bootstrap: Any) -> MetricFrame:
    return MetricFrame(
        metrics=FAIRLEARN_METRICS,
        y_true=data.labels,
        y_pred=data.decisions,
        sensitive_features=data.frame[list(features)],
        **bootstrap,
    )


def timed(function: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = function()
    return time.perf_counter() - start, value


def peak_traced_bytes(function: Callable[[], Any]) -> int:
    """Peak bytes allocated (Python and NumPy) during ``function``, above what was live before."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        baseline, _ = tracemalloc.get_traced_memory()
        function()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - baseline


def group_differences(
    tables: FairnessTables, frames: dict[tuple[str, ...], MetricFrame]
) -> list[list[str]]:
    """Per slice: groups compared, max |rai-audit - Fairlearn| over every group metric."""
    rows = []
    for features, frame in frames.items():
        ours = {group.group: group for group in tables.groups if group.feature == features}
        worst = 0.0
        compared = 0
        counts_equal = True
        for key, theirs in frame.by_group.iterrows():
            label = tuple(map(str, key)) if isinstance(key, tuple) else (str(key),)
            group = ours[label]
            if group.status is not GroupStatus.OK:
                continue
            compared += 1
            counts_equal &= group.n == int(theirs["count"])
            for name in FAIRLEARN_METRICS:
                if name == "count":
                    continue
                value = group.metrics[name]
                if value is None:
                    raise AssertionError(f"{features}={label}: rai-audit has no {name}")
                worst = max(worst, abs(value - float(theirs[name])))
        skipped = len(ours) - compared
        rows.append(
            [
                " x ".join(features),
                f"{compared}" + (f" (+{skipped} insufficient)" if skipped else ""),
                "yes" if counts_equal else "NO",
                f"{worst:.1e}",
            ]
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows after resampling")
    parser.add_argument("--n-boot", type=int, default=1000, help="bootstrap replicates")
    parser.add_argument(
        "--fairlearn-n-boot",
        type=int,
        default=2,
        help="replicates actually run through Fairlearn's MetricFrame (extrapolated)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of rai-audit's part")
    parser.add_argument("--seed", type=int, default=0, help="seed of the row resampling")
    args = parser.parse_args()

    print(machine_line())
    start = time.perf_counter()
    data = build_data(args.rows, args.seed)
    groups_line = ", ".join(f"{name} {data.frame[name].nunique()}" for name in SENSITIVE)
    print(
        f"data: {args.rows:,} rows resampled (seed {args.seed}) from {TEST_CSV.name}, "
        f"groups: {groups_line}; prepared in {format_seconds(time.perf_counter() - start)}"
    )

    policy = load_policy(overrides={"n_boot": args.n_boot})
    prepare_seconds, sensitive = timed(
        lambda: prepare_sensitive(
            data.frame,
            list(SENSITIVE),
            {},
            policy.max_categories,
            policy.quantile_bands,
            Path("resampled"),
        )
    )
    ours = time_call(lambda: rai_audit_fairness(sensitive, data, policy), args.repeat)
    tables: FairnessTables = ours.value
    peak = peak_traced_bytes(lambda: rai_audit_fairness(sensitive, data, policy))

    raw: dict[tuple[str, ...], tuple[float, MetricFrame]] = {}
    for features in SLICES:
        raw[features] = timed(lambda features=features: fairlearn_frame(data, features))
    raw_total = sum(seconds for seconds, _ in raw.values())

    k = args.fairlearn_n_boot
    boot_measured = 0.0
    boot_extrapolated = 0.0
    for features in SLICES:
        seconds, _ = timed(
            lambda features=features: fairlearn_frame(
                data, features, n_boot=k, ci_quantiles=[0.025, 0.975], random_state=args.seed
            )
        )
        boot_measured += seconds
        # Each replicate re-runs the whole MetricFrame on resampled rows: cost is linear in
        # n_boot, so the measured per-replicate cost scales to any n_boot.
        per_replicate = max(0.0, seconds - raw[features][0]) / k
        boot_extrapolated += raw[features][0] + args.n_boot * per_replicate

    ours_label = f"rai-audit, n_boot={args.n_boot}"
    print_table(
        f"Fairness metrics, {args.rows:,} rows, 3 slices (sex, race, sex x race)",
        ["computation", "seconds", "rai-audit speedup"],
        [
            [
                f"{ours_label} (partition + slices + compute_fairness, best of {ours.runs})",
                format_seconds(ours.best),
                "1x",
            ],
            [
                f"{ours_label} (median of {ours.runs})",
                format_seconds(ours.median),
                "",
            ],
            [
                "Fairlearn MetricFrame, raw rows, no bootstrap (7 metrics)",
                format_seconds(raw_total),
                f"{raw_total / ours.best:,.0f}x",
            ],
            [
                f"Fairlearn MetricFrame, n_boot={k} (measured)",
                format_seconds(boot_measured),
                f"{boot_measured / ours.best:,.0f}x",
            ],
            [
                f"Fairlearn MetricFrame, n_boot={args.n_boot} (extrapolated linearly from {k})",
                format_seconds(boot_extrapolated),
                f"{boot_extrapolated / ours.best:,.0f}x",
            ],
        ],
    )
    verdict = "within" if ours.best < BUDGET_SECONDS else "OVER"
    scope = "" if (args.rows, args.n_boot) == (1_000_000, 1000) else " (at other sizes)"
    print(
        f"budget: well under {BUDGET_SECONDS:.0f} s for 1M rows and 1,000 replicates -> "
        f"rai-audit took {ours.best / BUDGET_SECONDS:.1%} of it{scope}: {verdict} budget"
    )
    print(
        f"rai-audit also computes base rate, ROC AUC, 5 disparities x 2 comparisons and a "
        f"{policy.confidence_level:.0%} interval on each; preparing the sensitive columns "
        f"(not timed above) took {format_seconds(prepare_seconds)}"
    )
    print(f"peak memory of rai-audit's part (tracemalloc, above baseline): {format_bytes(peak)}")

    print_table(
        "rai-audit vs Fairlearn MetricFrame on the raw rows: every group metric",
        ["slice", "groups", "counts equal", "max |difference|"],
        group_differences(tables, {features: frame for features, (_, frame) in raw.items()}),
    )
    print("metrics compared: " + ", ".join(name for name in FAIRLEARN_METRICS if name != "count"))
    print(f"total benchmark time: {format_seconds(time.perf_counter() - start)}")


if __name__ == "__main__":
    main()
