"""Fewer runs of Python's cyclic garbage collector while rai-audit works.

CPython starts a young-generation pass every 700 net container allocations and a full pass,
over every tracked object, after ten of the next-older ones. Importing torch, pandas,
scikit-learn and scipy leaves about 330,000 tracked objects, so each full pass takes 0.1-0.2 s
on a 2-core machine: in a one-shot ``rai-audit run`` of the bundled example the collector took
0.7 s of 4.3 s, nearly all of it full passes while those libraries were imported, and a full
pass in the middle of a 1M-row audit took 0.16 s. The audit's own data (arrays, frames) is
freed by reference counting, not by the collector, so collecting less often holds no more
memory worth measuring (benchmarks/README.md). mypy tunes its collector the same way.

At exit the interpreter's teardown passes over every tracked object again: 0.45 s with torch,
pandas and scikit-learn only imported, 0.8-0.9 s after the demo command's audit. A command
about to exit freezes them instead (``gc.freeze``): the process's memory goes back to the
system whole.
"""

from __future__ import annotations

import gc
import platform
from collections.abc import Iterator
from contextlib import contextmanager

# A young pass every 200,000 net allocations, older passes after 30 younger ones (mypy's).
THRESHOLDS = (200_000, 30, 30)


@contextmanager
def fewer_collections() -> Iterator[None]:
    """The collector at ``THRESHOLDS`` while inside, as it was afterwards (CPython only: the
    thresholds are its collector's)."""
    if platform.python_implementation() != "CPython":
        yield
        return
    before = gc.get_threshold()
    gc.set_threshold(*THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def freeze_for_exit() -> None:
    """Leave every object alive now out of the collector's passes, the teardown's included:
    for a process about to exit, whose files are written and closed."""
    gc.freeze()
