"""Symmetric coupling: character-formula counts (against a Molien–Weyl integral), block sizes,
O(3) equivariance and linear independence of the coupled functions."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ace_ref.coupling.cache import coupled_block
from ace_ref.coupling.rotations import random_o3, wigner_d_real
from ace_ref.coupling.symmetric import o3_multiplicity


# ---------------------------------------------------------------- counting
def _molien_weyl(groups, L, parity, n_quad=400):
    """Independent count: ∫ over SO(3) classes of χ_prod χ_L with Newton's identities."""
    if (-1) ** sum(l * k for l, k in groups) != parity:
        return 0
    theta = (np.arange(n_quad) + 0.5) * np.pi / n_quad

    def chi(l, th):
        return sum(np.cos(m * th) for m in range(-l, l + 1))

    total = np.ones_like(theta)
    for l, k in groups:
        h = [np.ones_like(theta)]
        for kk in range(1, k + 1):
            h.append(sum(chi(l, j * theta) * h[kk - j] for j in range(1, kk + 1)) / kk)
        total = total * h[k]
    weight = (2 / np.pi) * np.sin(theta / 2) ** 2
    return int(round(np.sum(total * chi(L, theta) * weight) * np.pi / n_quad))


def test_sym3_of_0e_1o_2e_has_five_invariants():
    total = 0
    for a, b, c in itertools.product(range(4), repeat=3):
        if a + b + c != 3:
            continue
        groups = [(l, k) for l, k in ((0, a), (1, b), (2, c)) if k]
        total += o3_multiplicity(groups, 0, 1)
        ls = tuple(l for l, k in groups for _ in range(k))
        block = coupled_block(ls, tuple(k for _, k in groups), L=0)
        assert block.n_functions == o3_multiplicity(groups, 0, 1)
    assert total == 5


block_strategy = st.lists(
    st.tuples(st.integers(0, 3), st.integers(1, 3)), min_size=1, max_size=3
).filter(lambda g: sum(k for _, k in g) <= 5)


@settings(max_examples=60, deadline=None)
@given(groups=block_strategy, L=st.integers(0, 4), parity=st.sampled_from([1, -1]))
def test_character_formula_agrees_with_molien_weyl_integral(groups, L, parity):
    assert o3_multiplicity(groups, L, parity) == _molien_weyl(groups, L, parity)


def _ls_and_sizes(groups):
    ls = tuple(l for l, k in groups for _ in range(k))
    return ls, tuple(k for _, k in groups)


@settings(max_examples=40, deadline=None)
@given(groups=block_strategy, L=st.integers(0, 4))
def test_block_size_equals_character_formula(groups, L):
    # distinct groups must have distinct identities; equal l in separate groups is allowed
    ls, sizes = _ls_and_sizes(groups)
    block = coupled_block(ls, sizes, L=L)
    assert block.n_functions == o3_multiplicity(groups, L, (-1) ** L)


def _evaluate_block(block, A_by_group):
    """B_M = Σ_t C[f, t, M] Π A_{l_t}[m_t] with one vector per group (identical factors)."""
    factors = []
    for g, size in enumerate(block.group_sizes):
        factors.extend([A_by_group[g]] * size)
    prod = np.ones(len(block.m_tuples))
    for t, (l, A) in enumerate(zip(block.ls, factors, strict=True)):
        prod = prod * A[block.m_tuples[:, t] + l]
    return np.einsum("ftM,t->fM", block.coeffs, prod)


@settings(max_examples=30, deadline=None)
@given(groups=block_strategy, L=st.integers(0, 4), seed=st.integers(0, 2**31))
def test_coupled_functions_are_o3_equivariant(groups, L, seed):
    ls, sizes = _ls_and_sizes(groups)
    block = coupled_block(ls, sizes, L=L)
    if block.n_functions == 0:
        return
    rng = np.random.default_rng(seed)
    A = [rng.normal(size=2 * l + 1) for l, _ in groups]
    B = _evaluate_block(block, A)
    assert np.abs(B).max() > 1e-8  # not trivially zero
    for improper in (False, True):
        Q = random_o3(rng, improper=improper)
        A_rot = [wigner_d_real(l, Q) @ a for (l, _), a in zip(groups, A, strict=True)]
        B_rot = _evaluate_block(block, A_rot)
        expected = B @ wigner_d_real(L, Q).T
        np.testing.assert_allclose(B_rot, expected, atol=1e-10 * np.abs(B).max())


@pytest.mark.parametrize(
    "ls,sizes,L",
    [
        ((1, 1, 2, 2, 4), (2, 2, 1), 0),
        ((2, 2, 2, 2, 2), (5,), 0),
        ((1, 2, 3, 4, 4), (1,) * 5, 0),
        ((2, 2, 3), (2, 1), 3),
        ((2, 2, 4), (2, 1), 4),
        ((1, 1, 1, 1, 1), (5,), 1),
    ],
)
def test_high_order_blocks(ls, sizes, L):
    groups, pos = [], 0
    for s in sizes:
        groups.append((ls[pos], s))
        pos += s
    block = coupled_block(ls, sizes, L=L)
    assert block.n_functions == o3_multiplicity(groups, L, (-1) ** L)
    # linear independence as polynomials: the coefficient matrix has full row rank
    assert block.n_functions > 0
    flat = block.coeffs.reshape(block.n_functions, -1)
    s = np.linalg.svd(flat, compute_uv=False)
    assert s[-1] > 1e-6 * s[0]
