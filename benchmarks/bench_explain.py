"""Explaining 1,000 Adult rows: rai-audit's batched SHAP against shap's own explainer, Captum and
shap.KernelExplainer.

On the bundled Adult MLP (107 encoded inputs from 13 table columns) and the same 1,000 test
rows and 50-row background, times:
  - shap's own ``shap.explainers.Permutation`` on the column game (3 antithetic permutations,
    independent masker over the background), as rai-audit ran it before 0.2: once as the
    first call in the process (shap compiles its numba kernels, as every audit did) and once
    warm;
  - rai-audit's SHAP: the same algorithm, every row at once (``audit.explain.shap_attributions``),
    on one thread and on ``--threads``; its values against shap's own (max |difference|);
  - Captum Integrated Gradients (50 Gauss-Legendre steps, baseline: the background's mean);
  - Captum GradientShap (50 samples, baselines: the background rows);
  - ``shap.KernelExplainer`` as it is usually run: on the 107 encoded inputs with the same
    background (nsamples "auto"), its values summed to columns afterwards;
and prints rows per second side by side, each method's completeness error, and the Spearman
agreement of their global importance (mean |attribution| per column). Then the same shap-own
against batched comparison on the case the issue measured (a 5-input MLP on 8,000 rows, 500
rows explained), and the whole explanation stage as ``rai-audit run`` runs it.

    python benchmarks/bench_explain.py [--rows 1000] [--kernel-rows 1000] [--seed 0] [--threads 2]

KernelExplainer is slow on 107 inputs; ``--kernel-rows`` explains fewer rows with it (its
rows per second are then measured on those, and agreement on those rows only).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from benchkit import (
    MODEL,
    REPO,
    SENSITIVE,
    TARGET,
    TEST_CSV,
    adult_test,
    machine_line,
    print_table,
)
from scipy.stats import spearmanr
from torch import nn

from audit.core.threads import available_cores, compute_threads
from audit.explain.attributions import Attributions, completeness
from audit.explain.captum_attributions import gradient_shap, integrated_gradients, torch_forward
from audit.explain.columns import ColumnMap, column_map
from audit.explain.sampling import BACKGROUND_ROWS, DEFAULT_SAMPLES
from audit.explain.score import PositiveScore, model_function
from audit.explain.shap_attributions import PERMUTATIONS, shap_attributions
from audit.models import load_model
from audit.models.base import LoadedModel
from audit.models.features import from_metadata, parse_metadata
from audit.models.torch_models import TorchAdapter

sys.path.insert(0, str(REPO / "tests"))
from shap_reference import import_shap, shap_explainer_values


def kernel_explainer(
    function: Callable[[np.ndarray], np.ndarray],
    inputs: np.ndarray,
    background: np.ndarray,
    columns: ColumnMap,
    seed: int,
) -> Attributions:
    shap = import_shap()
    explainer = shap.KernelExplainer(function, background.astype(np.float64))
    state = np.random.get_state()
    np.random.seed(seed)  # KernelExplainer samples coalitions with numpy's global generator
    try:
        with compute_threads(1):
            values = explainer.shap_values(inputs.astype(np.float64), silent=True)
    finally:
        np.random.set_state(state)
    values = np.asarray(values, dtype=np.float64).reshape(len(inputs), -1)
    return Attributions(
        method="kernel_explainer",
        values=columns.to_columns(values),
        outputs=function(inputs),
        reference=np.full(len(inputs), float(explainer.expected_value)),
        reference_text="mean score over the background rows",
        library=f"shap {shap.__version__}",
    )


def importance(attributions: Attributions, rows: slice = slice(None)) -> np.ndarray:
    return np.abs(attributions.values[rows]).mean(axis=0)


@dataclass(frozen=True)
class OwnTimes:
    """shap's own explainer: the first call in this process (numba compiles) and a warm one."""

    values: np.ndarray
    cold: float
    warm: float


def shap_own_timed(
    function: Callable[[np.ndarray], np.ndarray],
    rows: np.ndarray,
    background: np.ndarray,
    columns: ColumnMap,
    seed: int,
) -> OwnTimes:
    times = []
    for _ in range(2):
        clock = time.perf_counter()
        # One thread, as rai-audit ran shap's explainer before.
        with compute_threads(1):
            values, _ = shap_explainer_values(
                function, rows, background, columns, seed, PERMUTATIONS
            )
        times.append(time.perf_counter() - clock)
    return OwnTimes(values, times[0], times[1])


def print_speedup(
    case: str, own: OwnTimes, results: dict[str, tuple[Attributions, float, int]], rows: int
) -> None:
    table = [
        [f"shap's own Permutation, first call in a process ({case})", f"{own.cold:.2f}", "", ""],
        [f"shap's own Permutation, warm ({case})", f"{own.warm:.2f}", "", ""],
    ]
    for name, (attributions, seconds, _) in results.items():
        if name.startswith("rai-audit SHAP"):
            difference = float(np.abs(attributions.values - own.values).max())
            table.append(
                [
                    name,
                    f"{seconds:.2f}",
                    f"{own.cold / seconds:.0f}x / {own.warm / seconds:.0f}x",
                    f"{difference:.1e}",
                ]
            )
    print_table(
        f"SHAP on {rows:,} rows: rai-audit's batched explainer against shap's own (the same "
        "column game, seed and permutations)",
        ["explainer", "seconds", "faster than first / warm", "max |value difference|"],
        table,
    )


def small_mlp_case(seed: int, threads: int) -> None:
    """The issue's case: a 5-input MLP, 8,000 rows, 500 explained, 50 background rows."""
    torch.manual_seed(seed)
    module = nn.Sequential(nn.Linear(5, 32), nn.ReLU(), nn.Linear(32, 2)).eval()
    model = LoadedModel(TorchAdapter(module, "cpu"), "torch-pickle", False, 5, None, None)
    data = np.random.default_rng(seed).normal(size=(8000, 5)).astype(np.float32)
    rng = np.random.default_rng(seed + 1)
    rows = data[rng.choice(len(data), 500, replace=False)]
    background = data[rng.choice(len(data), BACKGROUND_ROWS, replace=False)]
    columns = column_map([f"x{index}" for index in range(5)])
    function = model_function(model, PositiveScore("logits", 1), 8192)
    own = shap_own_timed(function, rows, background, columns, seed)
    results: dict[str, tuple[Attributions, float, int]] = {}
    for label, count in (("1 thread", 1), (f"{threads} threads", threads)):
        clock = time.perf_counter()
        found = shap_attributions(function, rows, background, columns, seed, count)
        results[f"rai-audit SHAP ({label})"] = (found, time.perf_counter() - clock, len(rows))
    print_speedup("5-input MLP", own, results, len(rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--kernel-rows", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=available_cores())
    args = parser.parse_args()

    print(machine_line())
    frame = adult_test()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        model = load_model(MODEL)
    assert model.metadata_text is not None
    features = from_metadata(frame, parse_metadata(model.metadata_text, MODEL), TEST_CSV)
    columns = column_map(features.input_columns)
    rng = np.random.default_rng(args.seed)
    rows = features.values[rng.choice(len(frame), size=args.rows, replace=False)]
    background = features.values[rng.choice(len(frame), size=BACKGROUND_ROWS, replace=False)]
    score = PositiveScore("logits", 1)  # [<=50K, >50K] logits: softmax, column 1
    function = model_function(model, score, 8192)
    forward = torch_forward(model, score, features.values.shape[1])
    assert not isinstance(forward, str)
    print(
        f"{args.rows} rows x {features.values.shape[1]} inputs ({len(columns.columns)} columns), "
        f"background {BACKGROUND_ROWS} rows"
    )

    results: dict[str, tuple[Attributions, float, int]] = {}

    def run(name: str, compute: Callable[[], Attributions], count: int) -> None:
        clock = time.perf_counter()
        results[name] = (compute(), time.perf_counter() - clock, count)

    own = shap_own_timed(function, rows, background, columns, args.seed)
    run(
        f"rai-audit SHAP (permutation x{PERMUTATIONS}, 1 thread)",
        lambda: shap_attributions(function, rows, background, columns, args.seed),
        args.rows,
    )
    run(
        f"rai-audit SHAP ({args.threads} threads)",
        lambda: shap_attributions(function, rows, background, columns, args.seed, args.threads),
        args.rows,
    )
    run(
        "captum IntegratedGradients",
        lambda: integrated_gradients(forward, rows, background, columns, 8192),
        args.rows,
    )
    run(
        "captum GradientShap",
        lambda: gradient_shap(forward, rows, background, columns, 8192, args.seed),
        args.rows,
    )
    kernel_rows = min(args.kernel_rows, args.rows)
    run(
        "shap.KernelExplainer",
        lambda: kernel_explainer(function, rows[:kernel_rows], background, columns, args.seed),
        kernel_rows,
    )
    print_speedup("Adult MLP", own, results, args.rows)

    names = list(results)
    reference_shap = results[names[0]][0]
    kernel = results[names[-1]][0]
    table = []
    for name, (attributions, seconds, count) in results.items():
        measured = completeness(attributions)
        same = slice(0, count)
        agree_shap = spearmanr(importance(attributions, same), importance(reference_shap, same))
        agree_kernel = spearmanr(
            importance(attributions, slice(0, kernel_rows)), importance(kernel)
        )
        table.append(
            [
                name,
                str(count),
                f"{seconds:.2f}",
                f"{count / seconds:,.0f}",
                f"{measured.relative_error:.2e}" if measured.relative_error is not None else "-",
                f"{agree_shap.statistic:.3f}",
                f"{agree_kernel.statistic:.3f}",
            ]
        )
    print_table(
        "Explaining Adult rows",
        [
            "method",
            "rows",
            "seconds",
            "rows/s",
            "completeness err",
            "rho vs SHAP",
            "rho vs Kernel",
        ],
        table,
    )
    print("rho: Spearman correlation of global importance (mean |attribution| per column).")

    ranking = np.argsort(-importance(reference_shap))
    shares = {
        name: importance(found) / importance(found).sum() for name, (found, _, _) in results.items()
    }
    print_table(
        "Global importance (share of mean |attribution|), top columns by rai-audit SHAP",
        ["column", *(name.split(" (")[0] for name in names)],
        [
            [columns.columns[index], *(f"{shares[name][index]:.3f}" for name in names)]
            for index in ranking
        ],
    )

    small_mlp_case(args.seed, args.threads)

    # The whole stage as `rai-audit run` runs it: sampling, three methods, intervals,
    # associations and the flip test.
    from audit import AuditRequest, run_audit
    from audit.core.registry import CHECKS

    clock = time.perf_counter()
    result = run_audit(
        AuditRequest(
            data=TEST_CSV,
            model=MODEL,
            target=TARGET,
            sensitive=SENSITIVE,
            search_config=False,
            policy_overrides={"n_boot": 1000},
            threads=args.threads,
        ),
        checks=tuple(check for check in CHECKS if check.id.startswith("explain.")),
    )
    total = time.perf_counter() - clock
    assert result.explanations is not None and result.explanations.sample is not None
    method_seconds = {name: method.seconds for name, method in result.explanations.methods.items()}
    print(
        f"\nWhole audit with the explanation checks only (--explain-samples {DEFAULT_SAMPLES}, "
        f"{result.explanations.sample.rows} rows explained, n_boot 1000): {total:.1f} s; "
        f"per method: {method_seconds}"
    )
    print(f"threads: {args.threads}; file {Path(MODEL).name}")


if __name__ == "__main__":
    main()
