"""Bootstrap replicates drawn in blocks from one generator, reduced on worker threads.

The Poisson draws come from the audit's one generator, in order, on the calling thread, so
the values never depend on the thread count or the block size (a generator's stream is the
same however its draws are split). Reducing a block (grouping cells into slice groups and
computing the metric) takes about as long as drawing it; numpy releases the GIL in both, so
the next block is drawn while worker threads reduce the previous ones.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np


def replicates_in_blocks(
    draw: Callable[[int], np.ndarray],
    reduce: Callable[[np.ndarray], list[np.ndarray]],
    widths: list[int],
    n_boot: int,
    block: int,
    threads: int,
    report: Callable[[int], None] | None = None,
) -> list[np.ndarray]:
    """``reduce(draw(size))`` over blocks of at most ``block`` replicates, ``n_boot`` in all.

    ``reduce`` returns one ``[size, widths[k]]`` array per output k; each output's blocks are
    joined in draw order. At most ``threads`` drawn blocks wait to be reduced, so memory stays
    bounded by the block size. ``report`` hears the replicates of each block reduced.
    """
    if threads > 1:
        block = min(block, -(-n_boot // (2 * threads)))  # enough blocks to overlap
    block = max(1, block)
    sizes = [min(block, n_boot - start) for start in range(0, n_boot, block)]
    reduced: list[list[np.ndarray]] = []

    def done(parts: list[np.ndarray], size: int) -> None:
        reduced.append(parts)
        if report is not None:
            report(size)

    if threads <= 1:
        for size in sizes:
            done(reduce(draw(size)), size)
    else:
        pending: deque[tuple[Future[list[np.ndarray]], int]] = deque()
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="rai-bootstrap") as pool:
            for size in sizes:
                if len(pending) >= threads:
                    future, drawn = pending.popleft()
                    done(future.result(), drawn)
                pending.append((pool.submit(reduce, draw(size)), size))
            for future, drawn in pending:
                done(future.result(), drawn)
    return [
        np.concatenate([parts[output] for parts in reduced]) if reduced else np.empty((0, width))
        for output, width in enumerate(widths)
    ]


def poisson_resampled(rng: np.random.Generator, counts: np.ndarray, size: int) -> np.ndarray:
    """``size`` Poisson(counts) replicates, ``[size, *counts.shape]``: exactly what
    ``rng.poisson(counts, size=(size, *counts.shape))`` returns, from the same stream.

    NumPy's Poisson sampler returns 0 for a rate of 0 without drawing from the stream, so
    drawing only the nonzero counts, in the same order, and leaving the rest 0 gives the same
    replicates. Worth it only for mostly empty tables (score histograms: 63% of their bins are
    empty on Adult, and the draw takes 15% less); scattering into a denser table costs more
    than the empty draws it saves.
    """
    flat = counts.reshape(-1)
    nonzero = np.flatnonzero(flat)
    if 2 * nonzero.size > flat.size:
        return rng.poisson(counts, size=(size, *counts.shape))
    drawn = np.zeros((size, flat.size), dtype=np.int64)
    drawn[:, nonzero] = rng.poisson(flat[nonzero], size=(size, nonzero.size))
    return drawn.reshape(size, *counts.shape)
