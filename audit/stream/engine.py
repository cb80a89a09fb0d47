"""Engines run a task on every partition and fold the results in partition order.

This is the whole seam between the audit and where it runs: a task maps a ``Part`` to
statistics with a ``merge`` method, and an engine returns the merge of all of them. The
in-process engine is a loop; ``audit.stream.dask_engine`` runs the same tasks on a
dask.distributed cluster (``audit.stream.run.open_engine`` picks one). Another engine
(Spark, Ray) implements ``map_reduce`` and ``close`` and touches nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, Self, TypeVar

from audit.stream.dataset import Part

# A task reports rows done after each chunk; an engine that cannot report from inside a
# task passes None and reports each partition's rows as it finishes.
Report = Callable[[int], None] | None


class Mergeable(Protocol):
    @property
    def rows(self) -> int:
        """Rows these statistics describe."""
        ...

    def merge(self, later: Self) -> Self: ...


Stats = TypeVar("Stats", bound=Mergeable)


class Engine(Protocol):
    name: str

    def map_reduce(
        self, task: Callable[[Part, Report], Stats], parts: Sequence[Part], report: Report
    ) -> Stats:
        """``task`` on every part, merged in part order; ``report(rows)`` as work is done."""
        ...

    def close(self) -> None: ...


class LocalEngine:
    """Every partition in this process, one after the other."""

    name = "local"

    def map_reduce(
        self, task: Callable[[Part, Report], Stats], parts: Sequence[Part], report: Report
    ) -> Stats:
        result: Stats | None = None
        for part in parts:
            stats = task(part, report)
            result = stats if result is None else result.merge(stats)
        if result is None:
            raise ValueError("map_reduce needs at least one part")  # a caller's bug
        return result

    def close(self) -> None:
        return None
