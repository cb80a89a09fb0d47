"""A streamed audit of 10,000,000 rows in 20 Parquet partitions: Dask workers against one
process.

Writes (once; later runs reuse it) the rows of ``bench_stream.py``'s dataset (the bundled UCI
Adult test split resampled with a seed) as ``--parts`` Parquet files in a directory, and
audits that directory with the bundled model (target income, sensitive sex and race with their
intersection, ``--n-boot`` replicates, the fairness and data checks, ``--chunk-rows`` at a
time), each configuration in a fresh Python process:

  * the local engine: every partition in the one process, one after the other;
  * ``engine="dask"`` with ``workers=N`` for each N of ``--workers``: rai-audit starts a
    LocalCluster of N one-thread worker processes, runs the partitions on it and closes it;
  * the start-up alone: rai-audit's Dask engine started (LocalCluster of N workers, client
    connected, torch's threads set on every worker, which imports rai-audit and torch there)
    and closed, with no audit, so that the audit's time less its start-up can be set beside
    the local one;

It checks that both engines give the same groups and disparities. Peak memory: the audit
process's high-water mark, and for Dask also the largest worker's and the largest sum over
the process and its workers, both sampled every 0.1 s.

    python benchmarks/bench_dask.py                   # 10,000,000 rows: about 2 minutes
    python benchmarks/bench_dask.py --rows 1000000    # a quicker run
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from bench_stream import (
    DEFAULT_DATA_DIR,
    MEASURES,
    Job,
    Runs,
    dataset_bytes,
    ensure_dataset,
    machine_summary,
    parse_counts,
    run_job,
)
from benchkit import SENSITIVE, format_bytes, format_seconds, print_table


def _startup(job: Job) -> dict[str, Any]:
    """rai-audit's Dask engine started and closed, nothing run on it."""
    from audit.stream.dask_engine import DaskEngine

    start = time.perf_counter()
    engine = DaskEngine(None, job.workers)
    started = time.perf_counter()
    engine.close()
    return {"seconds": time.perf_counter() - start, "start": started - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows of the dataset")
    parser.add_argument("--parts", type=int, default=20, help="Parquet files it is split into")
    parser.add_argument(
        "--workers", default="4", help="comma-separated worker counts of the Dask runs"
    )
    parser.add_argument("--chunk-rows", type=int, default=200_000, help="rows per chunk")
    parser.add_argument("--n-boot", type=int, default=1000, help="bootstrap replicates")
    parser.add_argument("--seed", type=int, default=0, help="seed of the row resampling")
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=1,
        help="torch threads of the local engine's process (each Dask worker uses one)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help="where the generated Parquet files are kept between runs",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        measures = {**MEASURES, "startup": _startup}
        print(json.dumps(run_job(Job(**json.loads(args.child)), measures)))
        return

    cores = os.cpu_count() or 1
    worker_counts = parse_counts(args.workers)
    print(machine_summary())
    data = ensure_dataset(args.data_dir, args.rows, args.seed, args.parts)
    print(
        f"data: {args.rows:,} rows in {args.parts} Parquet files, "
        f"{format_bytes(dataset_bytes(data))}; sensitive {', '.join(SENSITIVE)} and their "
        f"intersection; n_boot {args.n_boot}; {args.chunk_rows:,} rows a chunk"
    )
    oversubscribed = [count for count in worker_counts if count > cores]
    if oversubscribed:
        print(
            f"note: this machine has {cores} cores; {', '.join(map(str, oversubscribed))} "
            "worker processes oversubscribe it, so Dask cannot run faster than about "
            f"{cores} workers would"
        )

    def job(kind: str, engine: str, workers: int | None = None) -> Job:
        return Job(
            kind,
            str(data),
            0 if kind == "startup" else args.rows,
            chunk_rows=args.chunk_rows,
            n_boot=args.n_boot,
            engine=engine,
            workers=workers,
            torch_threads=args.torch_threads,
        )

    runs = Runs(__file__)
    local = job("audit", "local")
    startups = {count: job("startup", "dask", count) for count in worker_counts}
    audits = {count: job("audit", "dask", count) for count in worker_counts}
    for count in worker_counts:
        for each in [local, startups[count], audits[count]]:
            runs(each)

    local_seconds = float(runs(local)["seconds"])
    rows = [
        [
            "local engine, 1 process",
            format_seconds(local_seconds),
            f"{args.rows / local_seconds:,.0f}",
            "1.00x",
            format_bytes(float(runs(local)["peak_rss"])),
            "",
            "",
        ]
    ]
    verdicts = []
    for count in worker_counts:
        start = runs(startups[count])
        overhead = float(start["seconds"])
        rows += [
            [
                f"dask, {count} workers: start + close only",
                format_seconds(overhead),
                "",
                "",
                format_bytes(float(start["peak_rss"])),
                format_bytes(float(start["child_peak_rss"])),
                format_bytes(float(start["tree_peak_rss"])),
            ],
            ["      of which start", format_seconds(float(start["start"])), "", "", "", "", ""],
        ]
        audited = runs(audits[count])
        seconds = float(audited["seconds"])
        beyond = seconds - overhead
        label = f"dask, {count} workers"
        rows += [
            [
                f"{label}: audit",
                format_seconds(seconds),
                f"{args.rows / seconds:,.0f}",
                f"{seconds / local_seconds:.2f}x",
                format_bytes(float(audited["peak_rss"])),
                format_bytes(float(audited["child_peak_rss"])),
                format_bytes(float(audited["tree_peak_rss"])),
            ],
            [
                f"{label}: audit less start + close",
                format_seconds(beyond),
                f"{args.rows / beyond:,.0f}",
                f"{beyond / local_seconds:.2f}x",
                "",
                "",
                "",
            ],
        ]
        verdicts.append(
            f"target: {label}, not slower than one process beyond start-up -> "
            f"{format_seconds(beyond)} vs {format_seconds(local_seconds)}, "
            + ("met" if beyond <= local_seconds else "NOT met")
            + "; same groups and disparities as the local engine: "
            + str(audited["digest"] == runs(local)["digest"])
        )
    print_table(
        f"Streamed audit of {args.rows:,} rows in {args.parts} partitions, {cores} cores",
        ["configuration", "wall", "rows/s", "vs local", "peak RSS", "one worker", "all"],
        rows,
    )
    print("\n".join(verdicts))
    print(f"load average at the end: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
