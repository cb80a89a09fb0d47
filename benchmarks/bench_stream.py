"""Streamed (``--chunk-rows``) against in-memory fairness audits: wall time and peak memory.

Writes a ``--rows``-row CSV (the bundled UCI Adult test split resampled with a seed) to a
temporary folder, then audits it (fairness and data checks, ``--n-boot`` replicates, sex and
race with their intersection) twice, each in a fresh Python process so that one's memory
does not hide the other's:
  (a) in memory, as ``rai-audit run`` without ``--chunk-rows``;
  (b) streamed with ``--chunk-rows`` (default 200,000).
Each mode runs once under ``tracemalloc`` (peak of Python and NumPy allocations) and once
without it (wall time, and the process's peak resident memory, which also counts PyTorch).
It checks that both give the same groups and disparities.

    python benchmarks/bench_stream.py [--rows 2000000] [--chunk-rows 200000] [--n-boot 200]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from benchkit import (
    MODEL,
    SENSITIVE,
    TARGET,
    adult_test,
    format_bytes,
    format_seconds,
    machine_line,
    print_table,
    resample_rows,
)


def audit_once(data: Path, chunk_rows: int | None, n_boot: int, trace: bool) -> dict[str, object]:
    from audit import AuditRequest, run_audit
    from audit.checks import CHECKS

    checks = tuple(check for check in CHECKS if check.id.startswith(("fairness.", "data.")))
    request = AuditRequest(
        data=data,
        target=TARGET,
        sensitive=SENSITIVE,
        model=MODEL,
        chunk_rows=chunk_rows,
        search_config=False,
        policy_overrides={"n_boot": n_boot, "seed": 0},
    )
    if trace:
        tracemalloc.start()
    start = time.perf_counter()
    result = run_audit(request, checks)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] if trace else None
    numbers = repr((result.groups, result.disparities))
    return {
        "seconds": seconds,
        "traced_peak": peak,
        "max_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "numbers": numbers,
    }


def in_child(data: Path, chunk_rows: int | None, n_boot: int, trace: bool) -> dict[str, object]:
    command = [sys.executable, __file__, "--child", str(data), "--n-boot", str(n_boot)]
    if chunk_rows:
        command += ["--chunk-rows", str(chunk_rows)]
    if trace:
        command.append("--trace")
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--chunk-rows", type=int, default=200_000)
    parser.add_argument("--n-boot", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        chunk = args.chunk_rows if "--chunk-rows" in sys.argv else None
        print(json.dumps(audit_once(args.child, chunk, args.n_boot, args.trace)))
        return
    print(machine_line())
    with tempfile.TemporaryDirectory() as folder:
        test = adult_test()
        data = Path(folder) / "adult-resampled.csv"
        test.iloc[resample_rows(len(test), args.rows, args.seed)].to_csv(data, index=False)
        print(f"{args.rows:,} rows, {data.stat().st_size / 2**20:.0f} MiB of CSV")
        runs = {}
        for label, chunk in (
            ("in memory", None),
            (f"streamed, {args.chunk_rows:,}", args.chunk_rows),
        ):
            timed = in_child(data, chunk, args.n_boot, trace=False)
            traced = in_child(data, chunk, args.n_boot, trace=True)
            runs[label] = (timed, traced)
    whole, streamed = runs.values()
    rows = [
        [
            label,
            format_seconds(float(timed["seconds"])),  # type: ignore[arg-type]
            f"{args.rows / float(timed['seconds']):,.0f}",  # type: ignore[arg-type]
            format_bytes(float(traced["traced_peak"])),  # type: ignore[arg-type]
            format_bytes(float(timed["max_rss"])),  # type: ignore[arg-type]
        ]
        for label, (timed, traced) in runs.items()
    ]
    print_table(
        f"Fairness audit of {args.rows:,} rows, n_boot={args.n_boot}",
        ["mode", "wall", "rows/s", "tracemalloc peak", "peak RSS"],
        rows,
    )
    same = whole[0]["numbers"] == streamed[0]["numbers"]
    ratio = float(whole[1]["traced_peak"]) / float(streamed[1]["traced_peak"])  # type: ignore[arg-type]
    print(f"same groups and disparities: {same}; streamed peak is 1/{ratio:.1f} of in-memory")


if __name__ == "__main__":
    main()
