"""Degree-bounded sorted tuples: enumeration, exact count and uniform sampling agree with the
brute-force filter of ``itertools.combinations_with_replacement``; the basis size guard uses
them, so a reasonable order-4 basis is built and an absurd one is refused with an estimate."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ace_ref import ACEBasis
from ace_ref.coupling.multisets import (
    bounded_multisets,
    count_bounded_multisets,
    sample_bounded_multisets,
)


def brute_force(weights, size, budget):
    return [
        c
        for c in itertools.combinations_with_replacement(range(len(weights)), size)
        if sum(weights[i] for i in c) <= budget
    ]


@settings(max_examples=200, deadline=None)
@given(
    weights=st.lists(st.integers(0, 9), min_size=0, max_size=9),
    size=st.integers(0, 4),
    budget=st.integers(0, 25),
)
def test_enumeration_and_count_equal_brute_force(weights, size, budget):
    expected = brute_force(weights, size, budget)
    assert list(bounded_multisets(weights, size, budget)) == expected  # same order too
    assert count_bounded_multisets(weights, size, budget) == len(expected)


def test_sampling_is_uniform_over_the_bounded_set():
    weights, size, budget = [1, 2, 2, 3, 5], 3, 8
    allowed = brute_force(weights, size, budget)
    draws = sample_bounded_multisets(weights, size, budget, 6000, np.random.default_rng(3))
    counts = Counter(draws)
    assert set(counts) == set(allowed)
    expected = len(draws) / len(allowed)
    chi2 = sum((counts[c] - expected) ** 2 / expected for c in allowed)
    # df = 22 tuples − 1; the 99.9 % quantile of χ²(21) is 46.8
    assert len(allowed) == 22 and chi2 < 46.8
    assert sample_bounded_multisets([5, 6], 2, 3, 10, np.random.default_rng(0)) == []
    # an unbounded degree (no max_degree: budget 10⁹) costs no memory beyond the reachable sum
    assert count_bounded_multisets([1, 2, 3], 3, 10**9) == 10
    assert len(sample_bounded_multisets([1, 2, 3], 3, 10**9, 5, np.random.default_rng(0))) == 5


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="non-negative"):
        list(bounded_multisets([1, -1], 2, 3))


def test_order4_basis_within_degree_is_built_and_absurd_one_refused(coupling_cache):
    # 5.99e6 sorted 4-tuples of the one-particle types, but only ~1e4 within degree 8:
    # this was refused by an estimate that ignored the degree bound
    b = ACEBasis(
        ["H", "C", "O"], 4, max_degree=[11, 11, 9, 8], w_L=1, r_cut=4.5, cache_dir=coupling_cache
    )
    assert b.counts_by_order() == {1: 33, 2: 585, 3: 1327, 4: 930}
    with pytest.raises(ValueError, match=r"about [0-9.e+]+ basis functions .* within the degree"):
        ACEBasis(["H", "C", "O"], 4, max_degree=[22, 22, 22, 22], w_L=1, cache_dir=coupling_cache)
