"""What both benchmarks share: the bundled Adult example, seeded resampling, timing, tables.

The scripts run as ``python benchmarks/<name>.py``, so this module is imported from the
script's own folder.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "adult"
MODEL = EXAMPLE / "model.pt"
TEST_CSV = EXAMPLE / "test.csv.gz"
TARGET = "income"
SENSITIVE = ("sex", "race")


def adult_test() -> pd.DataFrame:
    """The bundled UCI Adult test split (16,281 rows, all 15 columns)."""
    return pd.read_csv(TEST_CSV)


def resample_rows(n_source: int, rows: int, seed: int) -> np.ndarray:
    """Row indices drawn with replacement: the benchmark's data is the test split, scaled up."""
    return np.random.default_rng(seed).integers(0, n_source, size=rows)


@dataclass(frozen=True)
class Timing:
    best: float
    median: float
    runs: int
    value: Any  # what the fastest run returned
    # The process's CPU time (every thread), median over the runs: steadier than wall time on
    # a shared machine, and over wall time, how many cores a run kept busy.
    cpu_median: float = 0.0


@dataclass(frozen=True)
class _Run:
    seconds: float
    cpu: float
    value: Any


def _timed(function: Callable[[], Any]) -> _Run:
    gc.collect()  # so that one run's garbage is not collected during the next
    start, cpu = time.perf_counter(), time.process_time()
    value = function()
    return _Run(time.perf_counter() - start, time.process_time() - cpu, value)


def _summary(runs: list[_Run]) -> Timing:
    fastest = min(runs, key=lambda run: run.seconds)
    return Timing(
        fastest.seconds,
        float(np.median([run.seconds for run in runs])),
        len(runs),
        fastest.value,
        float(np.median([run.cpu for run in runs])),
    )


def time_call(function: Callable[[], Any], repeat: int) -> Timing:
    """Best and median wall time of ``repeat`` calls."""
    return _summary([_timed(function) for _ in range(max(1, repeat))])


def time_interleaved(functions: dict[str, Callable[[], Any]], repeat: int) -> dict[str, Timing]:
    """Like ``time_call`` for several functions, run in turn, so that a burst of load from
    other processes on a shared machine slows one round of all of them, not one of them."""
    runs: dict[str, list[_Run]] = {name: [] for name in functions}
    for _ in range(max(1, repeat)):
        for name, function in functions.items():
            runs[name].append(_timed(function))
    return {name: _summary(timings) for name, timings in runs.items()}


def format_seconds(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 100:
        return f"{seconds:.0f} s"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    return f"{seconds * 1000:.0f} ms"


def format_bytes(count: float) -> str:
    return f"{count / 2**20:.0f} MiB"


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A plain aligned table: first column left-aligned, the rest right-aligned."""
    widths = [max(len(str(row[index])) for row in [header, *rows]) for index in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        parts = [
            str(cell).ljust(width) if index == 0 else str(cell).rjust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    rule = "-" * len(line(header))
    print(f"\n{title}\n{rule}\n{line(header)}\n{rule}")
    for row in rows:
        print(line(row))
    print(rule)


def machine_line() -> str:
    import fairlearn
    import torch

    return (
        f"{platform.platform()} | {os.cpu_count()} CPUs | Python {platform.python_version()} | "
        f"numpy {np.__version__} | pandas {pd.__version__} | fairlearn {fairlearn.__version__} "
        f"| torch {torch.__version__} (threads {torch.get_num_threads()})"
    )


def _probe_work(start: Any, seconds: Any) -> None:
    """A fixed mix of sorting, gathering and counting (what the audit's NumPy work is made
    of), timed from when every worker is ready."""
    rng = np.random.default_rng(0)
    values = rng.random(2_000_000)
    codes = rng.integers(0, 1000, size=2_000_000)
    start.wait()
    began = time.perf_counter()
    for _ in range(8):
        order = np.argsort(values)
        np.bincount(codes[order], weights=values[order], minlength=1000)
    seconds.put(time.perf_counter() - began)


def parallel_throughput(workers: int = 2) -> float:
    """How many times one process's work ``workers`` processes get done in the same wall time
    on this machine: ``workers`` on as many free cores, less where cores share a physical core
    or memory bandwidth. Separate processes, so the GIL plays no part: it bounds what any
    threading of the audit's lanes can gain here."""
    context = multiprocessing.get_context("spawn")

    def run(count: int) -> float:
        start, seconds = context.Barrier(count), context.Queue()
        processes = [
            context.Process(target=_probe_work, args=(start, seconds)) for _ in range(count)
        ]
        for process in processes:
            process.start()
        elapsed = max(seconds.get() for _ in processes)
        for process in processes:
            process.join()
        return elapsed

    # The best of three each: a shared host's neighbours only ever slow a run down.
    one = min(run(1) for _ in range(3))
    together = min(run(workers) for _ in range(3))
    return workers * one / together
