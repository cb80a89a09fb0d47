"""The Dask engine: partitions scored on a dask.distributed cluster, statistics merged there.

Each partition file is one task; results are merged pairwise in a tree on the cluster (in
partition order, so the numbers are those of the in-process engine), and only the final
statistics come back. Workers read the partition files and the model from their own paths:
on a remote cluster those paths must be visible to every worker (a shared file system).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

from audit.core.errors import UsageError
from audit.stream.dataset import Part
from audit.stream.engine import Report, Stats

# How long to wait for a remote scheduler before telling the user it is unreachable.
CONNECT_TIMEOUT_SECONDS = 20


def _merge(earlier: Stats, later: Stats) -> Stats:
    return earlier.merge(later)


def _rows_of(stats: Stats) -> int:
    return stats.rows


def _one_torch_thread() -> None:
    # Each worker is one process with one thread: torch's own pool would oversubscribe cores.
    import torch

    torch.set_num_threads(1)


class DaskEngine:
    name = "dask"

    def __init__(self, scheduler: str | None, workers: int | None) -> None:
        try:
            import dask
            from dask.distributed import Client, LocalCluster
        except ImportError as exc:
            raise UsageError(
                "--engine dask needs dask.distributed: pip install 'rai-audit[dask]'"
            ) from exc
        if workers is not None and workers < 1:
            raise UsageError(f"--workers must be at least 1, got {workers}")
        if scheduler is not None and workers is not None:
            raise UsageError(
                "--workers sizes the local cluster; a --scheduler's cluster has its own workers"
            )
        self._cluster: Any = None
        if scheduler is None:
            # Dask starts workers with MALLOC_TRIM_THRESHOLD_ set, which turns off glibc's
            # dynamic mmap threshold: every chunk's arrays are then mapped and faulted in
            # afresh, and a worker scores chunks about half as fast (benchmarks/README.md).
            environment = dask.config.get("distributed.nanny.pre-spawn-environ")
            untrimmed = {k: v for k, v in environment.items() if k != "MALLOC_TRIM_THRESHOLD_"}
            with dask.config.set({"distributed.nanny.pre-spawn-environ": untrimmed}):
                self._cluster = LocalCluster(
                    n_workers=workers or os.cpu_count() or 1,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    # The scheduler's HTTP server would otherwise take port 8787, and warn
                    # when another cluster (or another audit) holds it.
                    scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                    # A task's input error reaches the user as one line; workers stay quiet.
                    silence_logs=logging.CRITICAL,
                )
            self.client: Any = Client(self._cluster)
        else:
            try:
                self.client = Client(scheduler, timeout=CONNECT_TIMEOUT_SECONDS)
            except (OSError, TimeoutError, ValueError) as exc:
                raise UsageError(
                    f"--scheduler {scheduler}: cannot connect ({exc}); check the address "
                    "(such as tcp://host:8786) and that the scheduler is running"
                ) from exc
        self.client.run(_one_torch_thread)

    def map_reduce(
        self, task: Callable[[Part, Report], Stats], parts: Sequence[Part], report: Report
    ) -> Stats:
        from dask.distributed import as_completed

        futures = self.client.map(task, parts, pure=False)
        # Rows of each finished part, fetched as a number (not its statistics) for progress.
        rows = [self.client.submit(_rows_of, future, pure=False) for future in futures]
        level = list(futures)
        while len(level) > 1:
            pairs = [
                self.client.submit(_merge, level[i], level[i + 1], pure=False)
                for i in range(0, len(level) - 1, 2)
            ]
            level = pairs + ([level[-1]] if len(level) % 2 else [])
        for done in as_completed(rows):
            if report is not None and done.status == "finished":
                report(done.result())
        result: Stats = level[0].result()
        return result

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()
