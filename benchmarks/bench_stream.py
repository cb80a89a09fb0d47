"""Streamed audits of 10,000,000 rows in bounded memory: wall time and peak memory.

Writes (once; later runs reuse it) a ``--rows``-row Parquet file, the bundled UCI Adult test
split resampled with a seed, into ``--data-dir``, and audits it with the bundled model (target
income, sensitive sex and race with their intersection, ``--n-boot`` replicates, the fairness
and data checks). Every configuration runs in a fresh Python process, so that its peak
resident memory (the process's high-water mark, ``VmHWM``) is its own:

  * streamed, ``--chunk-rows`` at a time (ROC AUC from the score sketch: the dataset has more
    than the policy's ``exact_auc_rows`` rows), and once more with every check (``--all-checks``);
  * the floor: the same rows read in the same chunks, encoded with NumPy and run through the
    model, nothing else (``plain.PlainModel``);
  * in memory, as an audit without ``--chunk-rows``, on ``--in-memory-rows`` rows (the whole
    ``--rows`` may not fit), beside the streamed audit and the floor of those rows;
  * streamed at a fifth, half and all of ``--rows`` (peak memory should not grow with rows),
    with the default policy and with the sketch forced (``exact_auc_rows = 0``);
  * streamed with each of ``--chunk-sweep`` chunk sizes.

It checks that the streamed audit's groups and disparities equal the in-memory audit's (exact
AUC), how far the sketch's ROC AUC lies from the exact one, and that the floor's selection
rates equal the audit's.

    python benchmarks/bench_stream.py                 # 10,000,000 rows: about 2 minutes
    python benchmarks/bench_stream.py --rows 500000   # a quick run of every configuration
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from benchkit import (
    MODEL,
    SENSITIVE,
    TARGET,
    TEST_CSV,
    adult_test,
    format_bytes,
    format_seconds,
    print_table,
    resample_rows,
)

# Parquet row groups of the written files: what pandas and pyarrow write by default.
ROW_GROUP_ROWS = 1_000_000
DEFAULT_DATA_DIR = Path(tempfile.gettempdir()) / "rai-audit-bench"


# --- data ------------------------------------------------------------------------------------


def dataset_path(folder: Path, rows: int, seed: int, parts: int = 1) -> Path:
    name = f"adult-{rows}-seed{seed}"
    return folder / (f"{name}.parquet" if parts == 1 else f"{name}-{parts}-parts")


def _write_parquet(path: Path, source: pa.Table, rows: np.ndarray) -> None:
    with pq.ParquetWriter(path, source.schema) as writer:
        for first in range(0, len(rows), ROW_GROUP_ROWS):
            writer.write_table(source.take(rows[first : first + ROW_GROUP_ROWS]))


def ensure_dataset(folder: Path, rows: int, seed: int, parts: int = 1) -> Path:
    """The resampled rows as one Parquet file, or ``parts`` files in a directory (the same
    rows in the same order); written once, then reused."""
    path = dataset_path(folder, rows, seed, parts)
    if path.exists():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    source = pa.Table.from_pandas(adult_test(), preserve_index=False)
    picked = resample_rows(source.num_rows, rows, seed)
    # Written under a temporary name and renamed: an interrupted run leaves no half dataset.
    partial = path.with_name(path.name + ".partial")
    if parts == 1:
        _write_parquet(partial, source, picked)
    else:
        partial.mkdir(exist_ok=True)
        for index, block in enumerate(np.array_split(picked, parts)):
            _write_parquet(partial / f"part-{index:03d}.parquet", source, block)
    partial.rename(path)
    print(
        f"wrote {rows:,} rows resampled (seed {seed}) from {TEST_CSV.name} to {path.name}: "
        f"{format_bytes(dataset_bytes(path))} of Parquet in "
        f"{format_seconds(time.perf_counter() - start)}"
    )
    return path


def dataset_bytes(path: Path) -> int:
    files = sorted(path.iterdir()) if path.is_dir() else [path]
    return sum(file.stat().st_size for file in files)


# --- one configuration, in a fresh process -----------------------------------------------------


@dataclass(frozen=True)
class Job:
    """One measured configuration; runs in a child process (see ``run_job``)."""

    kind: str  # "audit", "floor" (read + encode + infer), "rest" (imports and model only)
    data: str = ""
    rows: int = 0
    chunk_rows: int | None = None  # None: the whole file at once
    n_boot: int = 1000
    all_checks: bool = False
    exact_auc_rows: int | None = None  # None: the policy's default
    engine: str = "local"
    workers: int | None = None
    torch_threads: int = 1


def peak_rss() -> int:
    """This process's peak resident memory in bytes: Linux's ``VmHWM``, which starts afresh
    at ``exec`` (``ru_maxrss`` keeps the parent's peak across ``fork`` + ``exec``)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    scale = 1 if platform.system() == "Darwin" else 1024  # bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


class TreeMemory:
    """The largest sum of resident memory of this process and its descendants, and the
    largest of one descendant, sampled every 0.1 s in a thread: a Dask audit's workers are
    other processes. Pages shared between processes (libraries) count once per process in
    the sum, so it overstates the memory used."""

    def __init__(self) -> None:
        import threading

        self.peak = 0
        self.largest_child = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        import psutil

        me = psutil.Process()
        while not self._stop.wait(0.1):
            total = 0
            for process in [me, *me.children(recursive=True)]:
                try:
                    resident = process.memory_info().rss
                except psutil.Error:  # a process that ended between listing and reading
                    continue
                total += resident
                if process is not me:
                    self.largest_child = max(self.largest_child, resident)
            self.peak = max(self.peak, total)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def summarize_result(result: Any) -> dict[str, Any]:
    """What the parent compares: point values of every group metric and disparity, and a
    digest of the whole group and disparity tables (intervals included)."""
    return {
        "groups": {
            "/".join(group.feature) + "=" + "/".join(group.group): group.metrics
            for group in result.groups
        },
        "disparities": {
            "/".join(item.feature) + f"|{item.metric}|{item.comparison}": item.value
            for item in result.disparities
        },
        "digest": repr((result.groups, result.disparities)),
        "notes": list(result.run.model.notes),
        "checks": {run.id: run.status.value for run in result.checks},
        "findings": len(result.findings),
    }


def _audit(job: Job) -> dict[str, Any]:
    from bench_run import fairness_checks

    from audit import AuditRequest, run_audit

    overrides: dict[str, Any] = {"n_boot": job.n_boot}
    if job.exact_auc_rows is not None:
        overrides["exact_auc_rows"] = job.exact_auc_rows
    request = AuditRequest(
        data=Path(job.data),
        target=TARGET,
        sensitive=SENSITIVE,
        model=MODEL,
        chunk_rows=job.chunk_rows,
        engine="dask" if job.engine == "dask" else "local",
        workers=job.workers,
        threads=job.torch_threads,
        search_config=False,  # the repository's own config must not change the figures
        policy_overrides=overrides,
    )
    start = time.perf_counter()
    result = run_audit(request, None if job.all_checks else fairness_checks())
    return {"seconds": time.perf_counter() - start, **summarize_result(result)}


def _chunks(path: Path, chunk_rows: int | None) -> Iterator[Any]:
    if chunk_rows is None:
        yield pd.read_parquet(path)  # as the in-memory audit reads it
        return
    for file in sorted(path.iterdir()) if path.is_dir() else [path]:
        for batch in pq.ParquetFile(file).iter_batches(batch_size=chunk_rows):
            yield batch.to_pandas()


def _floor(job: Job) -> dict[str, Any]:
    """Read in chunks, encode, infer: what any audit of these rows has to do."""
    from plain import PlainModel

    start = time.perf_counter()
    model = PlainModel.load()
    rows, positives = {}, {}
    for chunk in _chunks(Path(job.data), job.chunk_rows):
        decisions = model.decide(chunk).decisions
        for group, count in chunk.groupby("sex", observed=True).size().items():
            rows[group] = rows.get(group, 0) + int(count)
        for group, count in chunk[decisions == 1].groupby("sex", observed=True).size().items():
            positives[group] = positives.get(group, 0) + int(count)
    selection = {f"sex={group}": positives.get(group, 0) / rows[group] for group in rows}
    return {"seconds": time.perf_counter() - start, "selection_rate": selection}


def _rest(job: Job) -> dict[str, Any]:
    """Imports and the loaded model, no data: the floor under every peak in the table."""
    import audit.api  # noqa: F401  # everything an audit imports
    from audit.models import load_model

    start = time.perf_counter()
    load_model(MODEL, "cpu", False, ())
    return {"seconds": time.perf_counter() - start}


MEASURES: dict[str, Callable[[Job], dict[str, Any]]] = {
    "audit": _audit,
    "floor": _floor,
    "rest": _rest,
}


def run_job(
    job: Job, measures: dict[str, Callable[[Job], dict[str, Any]]] = MEASURES
) -> dict[str, Any]:
    """``job`` measured in this process: what ``measures[job.kind]`` returns, and peak memory."""
    import torch

    torch.set_num_threads(job.torch_threads)
    measure = measures[job.kind]
    if job.engine == "dask":
        with TreeMemory() as tree:
            measured = measure(job)
        measured["tree_peak_rss"] = tree.peak
        measured["child_peak_rss"] = tree.largest_child
    else:
        measured = measure(job)
    return {**measured, "peak_rss": peak_rss()}


def in_child(job: Job, script: str = __file__) -> dict[str, Any]:
    """``job`` run in a fresh Python process by ``script --child``; its measurements."""
    command = [sys.executable, script, "--child", json.dumps(asdict(job))]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{job} failed:\n{done.stderr[-4000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# --- comparisons -----------------------------------------------------------------------------


def max_gap(
    first: dict[str, Any], second: dict[str, Any], metrics: set[str] | None, exclude: set[str]
) -> float:
    """Largest |difference| of group metrics present in both (``metrics``: only those)."""
    gaps = [0.0]
    for key, values in first["groups"].items():
        for metric, value in values.items():
            other = second["groups"][key].get(metric)
            chosen = metrics is None or metric in metrics
            if chosen and metric not in exclude and value is not None and other is not None:
                gaps.append(abs(value - other))
    return max(gaps)


def selection_gap(floor: dict[str, Any], audit: dict[str, Any]) -> float:
    return max(
        abs(rate - audit["groups"][key]["selection_rate"])
        for key, rate in floor["selection_rate"].items()
    )


def sketch_note(measured: dict[str, Any]) -> str:
    notes = [note for note in measured["notes"] if note.startswith("ROC AUC from a score sketch")]
    return notes[0].split(": ", 1)[1] if notes else "exact ROC AUC (every score kept)"


# --- the benchmark ---------------------------------------------------------------------------


class Runs:
    """Each configuration measured once, in its own process, however many tables show it."""

    def __init__(self, script: str = __file__) -> None:
        self.script = script  # the benchmark whose ``--child`` measures a job
        self.measured: dict[Job, dict[str, Any]] = {}

    def __call__(self, job: Job) -> dict[str, Any]:
        if job not in self.measured:
            started = time.perf_counter()
            self.measured[job] = in_child(job, self.script)
            print(
                f"  measured {job.kind} {job.rows:,} rows, chunk {job.chunk_rows}, exact_auc_rows "
                f"{job.exact_auc_rows}, engine {job.engine}, workers {job.workers}: "
                f"{format_seconds(time.perf_counter() - started)} with start-up (load average "
                f"{os.getloadavg()[0]:.2f})",
                flush=True,
            )
        return self.measured[job]


HEADER = ["configuration", "rows", "chunk", "wall", "rows/s", "peak RSS", "vs floor"]


def table_row(label: str, job: Job, measured: dict[str, Any], floor: float | None) -> list[str]:
    """One line of a table; ``floor`` is the wall time the last column divides by."""
    seconds = float(measured["seconds"])
    return [
        label,
        f"{job.rows:,}" if job.rows else "",
        "" if not job.rows else f"{job.chunk_rows:,}" if job.chunk_rows else "whole",
        format_seconds(seconds),
        f"{job.rows / seconds:,.0f}" if job.rows else "",
        format_bytes(float(measured["peak_rss"])),
        f"{seconds / floor:.2f}x" if floor else "",
    ]


def machine_summary() -> str:
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return f"{platform.platform()} | {os.cpu_count()} CPUs | load average {load}"


def parse_counts(text: str) -> list[int]:
    return [int(value.replace("_", "")) for value in text.split(",") if value]


def default_exact_auc_rows() -> int:
    from audit.core.policy import load_policy

    return load_policy(None, {}).exact_auc_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows of the big dataset")
    parser.add_argument(
        "--in-memory-rows", type=int, help="rows of the in-memory audit (default: rows / 5)"
    )
    parser.add_argument(
        "--scale-rows", help="comma-separated streamed sizes (default: rows / 5, rows / 2)"
    )
    parser.add_argument("--chunk-rows", type=int, default=200_000, help="rows per chunk")
    parser.add_argument(
        "--chunk-sweep", default="50000,1000000", help="other chunk sizes, on --rows rows"
    )
    parser.add_argument("--n-boot", type=int, default=1000, help="bootstrap replicates")
    parser.add_argument(
        "--all-checks",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also audit --rows rows streamed with every check (explanations and privacy "
        "probes on the row sample)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the row resampling")
    parser.add_argument("--torch-threads", type=int, default=1, help="torch threads per process")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help="where the generated Parquet files are kept between runs",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_job(Job(**json.loads(args.child)))))
        return

    in_memory_rows = args.in_memory_rows or args.rows // 5
    scale_rows = (
        parse_counts(args.scale_rows) if args.scale_rows else [args.rows // 5, args.rows // 2]
    )
    exact_limit = default_exact_auc_rows()
    print(machine_summary())
    paths = {
        rows: ensure_dataset(args.data_dir, rows, args.seed)
        for rows in sorted({args.rows, in_memory_rows, *scale_rows})
    }
    print(
        f"data: {args.rows:,} rows, {format_bytes(dataset_bytes(paths[args.rows]))} of Parquet "
        f"in row groups of {ROW_GROUP_ROWS:,}; sensitive {', '.join(SENSITIVE)} and their "
        f"intersection; n_boot {args.n_boot}; torch threads {args.torch_threads}; policy "
        f"exact_auc_rows {exact_limit:,}"
    )

    def job(rows: int, kind: str = "audit", **options: Any) -> Job:
        settings: dict[str, Any] = {"chunk_rows": args.chunk_rows, **options}
        limit = settings.get("exact_auc_rows")
        if limit is not None and (rows > limit) == (rows > exact_limit):
            settings["exact_auc_rows"] = None  # the default takes the same path: one run
        return Job(
            kind,
            str(paths[rows]),
            rows,
            n_boot=args.n_boot,
            torch_threads=args.torch_threads,
            **settings,
        )

    runs = Runs()
    rest = Job("rest", torch_threads=args.torch_threads)
    floor, streamed = job(args.rows, "floor"), job(args.rows)
    big = [("imports + model, no data", rest), ("floor: read chunks + encode + infer", floor)]
    big.append(("streamed audit, fairness + data", streamed))
    if args.all_checks:
        big.append(("streamed audit, all checks", job(args.rows, all_checks=True)))
    memory_floor = job(in_memory_rows, "floor", chunk_rows=None)
    memory = job(in_memory_rows, chunk_rows=None)
    streamed_exact = job(in_memory_rows, exact_auc_rows=in_memory_rows)
    streamed_sketch = job(in_memory_rows, exact_auc_rows=0)
    small = [
        ("floor: read whole + encode + infer", memory_floor),
        ("in-memory audit", memory),
        ("streamed audit, exact AUC", streamed_exact),
        ("streamed audit, sketch", streamed_sketch),
    ]
    sizes = sorted({in_memory_rows, *scale_rows, args.rows})
    by_rows = [
        (f"streamed, {policy}", job(rows, exact_auc_rows=value))
        for policy, value in (("default policy", None), ("sketch", 0))
        for rows in sizes
    ]
    chunk_sizes = sorted({args.chunk_rows, *parse_counts(args.chunk_sweep)})
    by_chunk = [("streamed", job(args.rows, chunk_rows=size)) for size in chunk_sizes]
    for _, each in [*big, *small, *by_rows, *by_chunk]:
        runs(each)

    floor_seconds = float(runs(floor)["seconds"])
    print_table(
        f"{args.rows:,} rows streamed, {args.chunk_rows:,} a chunk (a fresh process each)",
        HEADER,
        [
            table_row(label, each, runs(each), floor_seconds if each.rows else None)
            for label, each in big
        ],
    )
    print(
        "target: peak RSS under 2 GB (2e9 bytes) -> "
        + "; ".join(
            f"{label}: {format_bytes(float(runs(each)['peak_rss']))}, "
            + ("met" if float(runs(each)["peak_rss"]) < 2e9 else "NOT met")
            for label, each in big
            if each.kind == "audit"
        )
    )
    print(f"ROC AUC of the streamed audit: {sketch_note(runs(streamed))}")
    print(
        "check: selection rate by sex, floor vs streamed audit: max |difference| "
        f"{selection_gap(runs(floor), runs(streamed)):.1e}"
    )
    if args.all_checks:
        checks = runs(big[-1][1])["checks"]
        print("all checks: " + ", ".join(f"{name} {status}" for name, status in checks.items()))

    memory_seconds = float(runs(memory_floor)["seconds"])
    print_table(
        f"In memory vs streamed, {in_memory_rows:,} rows (all {args.rows:,} in memory may not fit)",
        HEADER,
        [
            table_row(label, each, runs(each), memory_seconds if each.kind == "audit" else None)
            for label, each in small
        ],
    )
    same = runs(memory)["digest"] == runs(streamed_exact)["digest"]
    print(f"check: streamed (exact AUC) groups and disparities equal the in-memory ones: {same}")
    sketched, whole = runs(streamed_sketch), runs(memory)
    print(
        "check: streamed with the sketch vs in memory: max |difference| ROC AUC "
        f"{max_gap(sketched, whole, {'roc_auc'}, set()):.1e} (bound reported: "
        f"{sketch_note(sketched)}); every other group metric "
        f"{max_gap(sketched, whole, None, {'roc_auc'}):.1e}"
    )

    print_table(
        f"Peak memory against rows, {args.chunk_rows:,} a chunk (default policy: every score "
        f"kept up to {exact_limit:,} rows, then the sketch)",
        HEADER,
        [table_row(label, each, runs(each), None) for label, each in by_rows],
    )
    print_table(
        f"Peak memory against chunk size, {args.rows:,} rows streamed",
        HEADER,
        [table_row(label, each, runs(each), floor_seconds) for label, each in by_chunk],
    )
    print(f"load average at the end: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
