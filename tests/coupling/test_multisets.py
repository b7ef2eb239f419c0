"""Degree-bounded sorted tuples: enumeration, exact count and uniform sampling agree with the
brute-force filter of ``itertools.combinations_with_replacement``; the basis size guard uses
them, so a reasonable order-4 basis is built and an absurd one is refused with an estimate."""

from __future__ import annotations

import itertools
from collections import Counter
from fractions import Fraction

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
    with pytest.raises(ValueError, match=r"about [0-9.e+]+ basis functions, more than max_func"):
        ACEBasis(["H", "C", "O"], 4, max_degree=[22, 22, 22, 22], w_L=1, cache_dir=coupling_cache)


def _never(*args, **kwargs):
    raise AssertionError("a size check built a table or enumerated tuples")


@pytest.mark.parametrize(
    ("order", "caps", "expected"),
    [
        # 3 species × 1000 n × 13 l; order 2 alone: 3 · 13 · C(3001, 2) invariants
        (2, ([1000, 1000], [12, 12]), r"gives 1\.76e\+08 basis functions.*order 2: exactly"),
        # order 3 too large for the sampling tables: the l = 0 products bound it below
        (3, ([1, 1, 400], [0, 0, 12]), r"gives at least [0-9.e+]+ basis functions"),
    ],
)
def test_huge_basis_is_refused_before_any_table(order, caps, expected, monkeypatch):
    # issue 21: --max-n 1000 took > 9 GB and hung (a sampling table rebuilt per draw)
    import ace_ref.basis.ace as ace_module

    monkeypatch.setattr(ace_module, "bounded_multisets", _never)
    monkeypatch.setattr(ace_module, "sample_bounded_multisets", _never)
    monkeypatch.setattr(ace_module.ACEBasis, "tables", _never)
    with pytest.raises(ValueError, match=expected):
        ACEBasis(["H", "C", "O"], order, max_n=caps[0], max_l=caps[1])


@pytest.mark.parametrize("species", [["Si"], ["H", "O"]])
@pytest.mark.parametrize("w_L", [1, Fraction(3, 5)])
def test_order2_closed_form_count_matches_enumeration(species, w_L, coupling_cache):
    b = ACEBasis(species, 2, max_degree=[9, 9], w_L=w_L, cache_dir=coupling_cache)
    types = b._types(2)
    scaled, bound_q = b._scaled_degrees(types, 2)
    pools = b._pools(types)
    weights = [[scaled[t] for t in pool] for pool in pools]
    value, kind = b._size_estimate(2, pools, weights, None, bound_q)
    assert kind == "exactly"
    assert value == b.counts_by_order()[2]
