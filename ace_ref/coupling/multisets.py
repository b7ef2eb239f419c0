"""Sorted tuples (multisets) of items under a total-degree budget: enumerate, count, sample.

A product basis function of correlation order ``ν`` is a sorted ν-tuple of one-particle
types ``t_1 ≤ … ≤ t_ν`` (indices into a list of types) whose degrees add up to at most the
budget, ``Σ_k w_{t_k} ≤ D``. Filtering :func:`itertools.combinations_with_replacement` by the
budget visits ``C(T + ν − 1, ν)`` candidates — 10⁷ and more for order 4 with a few hundred
types, of which only a small fraction fit. The functions here work from the budget instead:

* :func:`bounded_multisets` yields exactly the tuples that fit, in the same (lexicographic)
  order as the filtered ``combinations_with_replacement``, pruning a branch as soon as the
  cheapest completion exceeds the budget;
* :func:`count_bounded_multisets` counts them exactly by dynamic programming over
  ``(type, items left, degree left)`` without enumerating;
* :func:`sample_bounded_multisets` draws them uniformly from the same table (to estimate
  the size of a basis before building it).

Weights and the budget are non-negative integers (exact degrees scaled by a common
denominator by the caller).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator, Sequence

import numpy as np

__all__ = ["bounded_multisets", "count_bounded_multisets", "sample_bounded_multisets"]


def _check(weights: Sequence[int], size: int, budget: int) -> list[int]:
    w = [int(x) for x in weights]
    if any(x < 0 for x in w) or size < 0 or budget < 0:
        raise ValueError("weights, size and budget must be non-negative integers")
    return w


def bounded_multisets(weights: Sequence[int], size: int, budget: int) -> Iterator[tuple]:
    """Non-decreasing index tuples ``(i_1 ≤ … ≤ i_size)`` with ``Σ weights[i_k] ≤ budget``.

    Lexicographic order, as ``combinations_with_replacement(range(len(weights)), size)``
    filtered by the budget. Cost proportional to the number of tuples yielded (times
    ``size``), not to the number of candidates.
    """
    w = _check(weights, size, budget)
    T = len(w)
    if size == 0:
        yield ()
        return
    # suffix_min[i] = cheapest weight among items i.., the cost of any item still to come
    suffix_min = [0] * (T + 1)
    suffix_min[T] = budget + 1
    for i in range(T - 1, -1, -1):
        suffix_min[i] = min(w[i], suffix_min[i + 1])
    prefix: list[int] = []

    def extend(start: int, left: int, remaining: int):
        for i in range(start, T):
            if suffix_min[i] * remaining > left:  # no completion from i on fits
                return
            cost = w[i]
            if cost + suffix_min[i] * (remaining - 1) > left:
                continue
            prefix.append(i)
            if remaining == 1:
                yield tuple(prefix)
            else:
                yield from extend(i, left - cost, remaining - 1)
            prefix.pop()

    yield from extend(0, budget, size)


def _exact_sum_table(w: list[int], size: int, budget: int) -> np.ndarray:
    """``N[i, k, d]`` = number of multisets of ``k`` items from ``i..T−1`` with weight sum
    exactly ``d`` (as float64: counts beyond 2⁵³ only need to be approximate)."""
    T = len(w)
    N = np.zeros((T + 1, size + 1, budget + 1))
    N[T, 0, 0] = 1.0
    for i in range(T - 1, -1, -1):
        for c in range(size + 1):  # c copies of item i
            shift = c * w[i]
            if shift > budget:
                break
            N[i, c:, shift:] += N[i + 1, : size + 1 - c, : budget + 1 - shift]
    return N


def _reachable(w: list[int], size: int, budget: int) -> int:
    """The budget capped at the largest reachable sum (the table's last axis needs no more)."""
    return min(budget, size * max(w, default=0))


def count_bounded_multisets(weights: Sequence[int], size: int, budget: int) -> int:
    """Number of tuples :func:`bounded_multisets` yields, without enumerating them.

    If ``size`` copies of the heaviest item fit the budget, every multiset fits and the count is
    ``C(T + size − 1, size)``. Otherwise a dynamic programme over the distinct weights: with
    ``m`` items of weight ``w``, ``c`` copies can be chosen in ``C(m + c − 1, c)`` ways, so

        ways'[k, d] = Σ_c C(m + c − 1, c) · ways[k − c, d − c w].

    Memory ``(size + 1)(budget + 1)`` numbers (not the ``T`` times larger table the sampler
    needs), time proportional to the number of distinct weights. Counts beyond 2⁵³ are
    rounded (float64).
    """
    w = _check(weights, size, budget)
    if size == 0:
        return 1
    if not w:
        return 0
    if size * max(w) <= budget:
        return math.comb(len(w) + size - 1, size)
    budget = _reachable(w, size, budget)
    ways = np.zeros((size + 1, budget + 1))
    ways[0, 0] = 1.0
    for weight, m in sorted(Counter(w).items()):
        new = ways.copy()  # c = 0 copies
        for c in range(1, size + 1):
            shift = c * weight
            if shift > budget:
                break
            new[c:, shift:] += (
                float(math.comb(m + c - 1, c)) * ways[: size + 1 - c, : budget + 1 - shift]
            )
        ways = new
    return int(round(ways[size].sum()))


def sample_bounded_multisets(
    weights: Sequence[int], size: int, budget: int, n: int, rng: np.random.Generator
) -> list[tuple]:
    """``n`` tuples drawn uniformly (with replacement) from those :func:`bounded_multisets`
    yields; an empty list if there are none."""
    w = _check(weights, size, budget)
    budget = _reachable(w, size, budget)
    N = _exact_sum_table(w, size, budget)
    totals = N[0, size]
    if totals.sum() == 0:
        return []
    out = []
    for _ in range(n):
        d = int(rng.choice(budget + 1, p=totals / totals.sum()))
        k, combo = size, []
        for i in range(len(w)):
            if k == 0:
                break
            # ways with c copies of item i: N[i+1, k−c, d − c w_i]
            cs = [c for c in range(k + 1) if c * w[i] <= d]
            ways = np.array([N[i + 1, k - c, d - c * w[i]] for c in cs])
            c = cs[int(rng.choice(len(cs), p=ways / ways.sum()))]
            combo.extend([i] * c)
            k, d = k - c, d - c * w[i]
        out.append(tuple(combo))
    return out
