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
) -> list[np.ndarray]:
    """``reduce(draw(size))`` over blocks of at most ``block`` replicates, ``n_boot`` in all.

    ``reduce`` returns one ``[size, widths[k]]`` array per output k; each output's blocks are
    joined in draw order. At most ``threads`` drawn blocks wait to be reduced, so memory stays
    bounded by the block size.
    """
    if threads > 1:
        block = min(block, -(-n_boot // (2 * threads)))  # enough blocks to overlap
    block = max(1, block)
    sizes = [min(block, n_boot - start) for start in range(0, n_boot, block)]
    reduced: list[list[np.ndarray]] = []
    if threads <= 1:
        reduced = [reduce(draw(size)) for size in sizes]
    else:
        pending: deque[Future[list[np.ndarray]]] = deque()
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="rai-bootstrap") as pool:
            for size in sizes:
                if len(pending) >= threads:
                    reduced.append(pending.popleft().result())
                pending.append(pool.submit(reduce, draw(size)))
            reduced.extend(future.result() for future in pending)
    return [
        np.concatenate([parts[output] for parts in reduced]) if reduced else np.empty((0, width))
        for output, width in enumerate(widths)
    ]
