"""The fixed reduction plan of design-matrix assembly: partitions, and the tree that merges them.

Assembly folds the rows of each partition of the configurations into an ``O(K²)`` summary (in
the partition's own order) and merges the partition summaries pairwise in a tree of fixed
shape. Both the partitions and the tree are functions of the data and the basis size only
(:func:`plan_partitions`, :func:`partition_bounds`) — never of how many threads or Dask
workers compute them — so the serial, threaded and distributed assemblies return bitwise the
same summary, and hence bitwise the same fitted coefficients, whichever route ran.

Tree shape: level 0 holds the ``P`` partition summaries; level ``d + 1`` holds
``merge(x[2i], x[2i + 1])`` for each pair, and a last unpaired node moves up unchanged.
:func:`merge_tree` builds it statically (Dask), :func:`reduce_tree` on a thread pool,
scheduling merges as soon as both children exist.

Cost: a Householder QR of ``m ≥ K`` rows is ``2mK² − (2/3)K³`` flops, and merging two
triangles ``(2/3)K³``, so splitting into partitions of at least ``K`` rows each costs no extra
flops (TSQR); partitions are therefore as many as give parallel work, bounded below by
``K + 1`` rows (a summary of fewer rows is larger than the rows).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TypeVar

import numpy as np

from ace_ref import defaults

__all__ = [
    "merge_tree",
    "partition_bounds",
    "plan_partitions",
    "reduce_tree",
    "row_counts",
]

T = TypeVar("T")


def row_counts(configs, weights) -> np.ndarray:
    """Rows each configuration contributes (energy 1, forces ``3N``, virial 6), uncomputed.

    ``configs`` are :class:`ace_ref.fit.data.Config`; ``weights`` an
    :class:`ace_ref.fit.assembly.Weights`
    (an observable with weight 0 contributes no rows)."""
    counts = np.zeros(len(configs), dtype=np.int64)
    for k, c in enumerate(configs):
        n = len(c.atoms)
        counts[k] = (
            (c.energy is not None and weights.energy > 0)
            + 3 * n * (c.forces is not None and weights.forces > 0)
            + 6 * (c.stress is not None and weights.virial > 0)
        )
    return counts


def plan_partitions(total_rows: int, K: int) -> int:
    """Number of partitions for ``total_rows`` rows and ``K`` columns.

    A power of two ``P``: about one partition per
    :data:`ace_ref.defaults.ASSEMBLY_ROWS_PER_COLUMN` ``× (K+1)`` rows, raised to
    :data:`ace_ref.defaults.ASSEMBLY_MIN_PARTITIONS` for parallel work on small data sets,
    then halved until every partition keeps at least ``max(K + 1, 2048)`` rows.
    """
    if total_rows < 0 or K < 1:
        raise ValueError(f"need total_rows ≥ 0 and K ≥ 1, got {total_rows}, {K}")
    floor_rows = max(K + 1, 2048)
    target = total_rows / (defaults.ASSEMBLY_ROWS_PER_COLUMN * (K + 1))
    p = 2 ** max(0, math.ceil(math.log2(target))) if target > 1 else 1
    p = max(p, defaults.ASSEMBLY_MIN_PARTITIONS)
    while p > 1 and total_rows / p < floor_rows:
        p //= 2
    return p


def partition_bounds(rows: np.ndarray, n_partitions: int) -> list[tuple[int, int]]:
    """Contiguous ``(start, stop)`` ranges of configurations with about equal row sums.

    Every range is non-empty; there are ``min(n_partitions, len(rows))`` of them.
    """
    n = len(rows)
    if isinstance(n_partitions, bool) or int(n_partitions) != n_partitions or n_partitions < 1:
        raise ValueError(f"the number of partitions must be at least 1, got {n_partitions}")
    p = min(int(n_partitions), n)
    if p == 0:
        return []
    cum = np.cumsum(rows, dtype=float)
    targets = cum[-1] * np.arange(1, p) / p
    cuts = np.searchsorted(cum, targets, side="left") + 1
    # keep the cuts strictly increasing inside (0, n) so no partition is empty
    cuts = np.maximum(cuts, np.arange(1, p))
    cuts = np.minimum(cuts, n - p + np.arange(1, p))
    for i in range(1, len(cuts)):
        cuts[i] = max(cuts[i], cuts[i - 1] + 1)
    edges = [0, *cuts.tolist(), n]
    return [(edges[i], edges[i + 1]) for i in range(p)]


def merge_tree(items: list[T], combine: Callable[[T, T, int, int], T]) -> T:
    """Reduce ``items`` pairwise, level by level: ``combine(left, right, depth, index)``.

    An unpaired last item moves up a level unchanged. The shape depends only on
    ``len(items)`` (and equals that of :func:`reduce_tree`)."""
    level = list(items)
    if not level:
        raise ValueError("nothing to merge")
    depth = 0
    while len(level) > 1:
        depth += 1
        nxt = [combine(level[j], level[j + 1], depth, j // 2) for j in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def reduce_tree(
    n_leaves: int,
    leaf: Callable[[int], T],
    combine: Callable[[T, T], T],
    threads: int = 1,
) -> T:
    """``merge_tree([leaf(0), …, leaf(n−1)], combine)`` computed on ``threads`` threads.

    Merges are started as soon as both children exist, before further leaves, so at most
    about ``threads × log₂(n_leaves)`` results are held at once. With ``threads = 1`` it
    runs in this thread, leaf by leaf. ``leaf`` and ``combine`` must be safe to run
    concurrently (they release the GIL for the heavy work, e.g. in LAPACK).
    """
    if n_leaves < 1:
        raise ValueError("nothing to merge")
    widths = [n_leaves]  # nodes per level
    while widths[-1] > 1:
        widths.append((widths[-1] + 1) // 2)
    done: dict[tuple[int, int], T] = {}
    ready: list[tuple[int, int]] = []  # parents whose two children are done

    def finished(depth: int, index: int, value: T) -> None:
        # move an unpaired last node up unchanged, then look for its sibling
        while index == widths[depth] - 1 and widths[depth] % 2 == 1 and depth + 1 < len(widths):
            depth, index = depth + 1, index // 2
        done[(depth, index)] = value
        sibling = (depth, index ^ 1)
        if depth + 1 < len(widths) and sibling in done:
            ready.append((depth + 1, index // 2))

    top = len(widths) - 1
    if threads <= 1:
        for k in range(n_leaves):
            finished(0, k, leaf(k))
            while ready:
                depth, index = ready.pop()
                left = done.pop((depth - 1, 2 * index))
                right = done.pop((depth - 1, 2 * index + 1))
                finished(depth, index, combine(left, right))
        return done.pop((top, 0))

    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="ace-ref-fold") as pool:
        running: dict[Future, tuple[int, int]] = {}
        next_leaf = 0
        try:
            while (top, 0) not in done:
                while len(running) < threads and (ready or next_leaf < n_leaves):
                    if ready:
                        depth, index = ready.pop()
                        left = done.pop((depth - 1, 2 * index))
                        right = done.pop((depth - 1, 2 * index + 1))
                        running[pool.submit(combine, left, right)] = (depth, index)
                    else:
                        running[pool.submit(leaf, next_leaf)] = (0, next_leaf)
                        next_leaf += 1
                if not running:  # cannot happen for a consistent tree; never spin
                    raise RuntimeError("reduction tree stalled")
                complete, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in complete:
                    depth, index = running.pop(future)
                    finished(depth, index, future.result())
        finally:
            for future in running:
                future.cancel()
    return done.pop((top, 0))
