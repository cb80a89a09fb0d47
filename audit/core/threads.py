"""The cores an audit computes on: one ``--threads`` setting for torch, BLAS and explainers.

torch and the BLAS behind numpy and scikit-learn each start a pool of one thread per core by
default; on a machine whose cores are shared (CI runners, a notebook beside other work) two
pools at once, or one pool larger than the cores the process may use, make threads wait on
each other instead of working. The audit sets both to the same count for its duration and
restores them afterwards; the explainers split their blocks over the same count.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, e.g. a container's share)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS and Windows have no affinity call
        return max(1, os.cpu_count() or 1)


@contextmanager
def compute_threads(threads: int) -> Iterator[None]:
    """torch intra-op threads and BLAS/OpenMP pools limited to ``threads`` while inside."""
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads):
            yield
    finally:
        torch.set_num_threads(before)
