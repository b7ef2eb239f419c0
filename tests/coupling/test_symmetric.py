"""Exact CG, generalized coupling, character-formula counts, equivariance, cache integrity."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st
from sympy.physics.quantum.cg import CG

from ace_ref.coupling.cache import CouplingCache, coupled_block
from ace_ref.coupling.clebsch_gordan import cg_tensor, clebsch_gordan
from ace_ref.coupling.rotations import random_o3, wigner_d_real
from ace_ref.coupling.symmetric import o3_multiplicity


# ---------------------------------------------------------------- Clebsch–Gordan
@pytest.mark.parametrize("l1,l2", [(0, 0), (1, 1), (2, 1), (2, 2), (3, 2), (4, 3)])
def test_cg_tensor_matches_sympy_quantum_cg(l1, l2):
    # independent SymPy implementation (sympy.physics.quantum) evaluated exactly
    for L in range(abs(l1 - l2), l1 + l2 + 1):
        T = cg_tensor(l1, l2, L)
        for m1, m2 in itertools.product(range(-l1, l1 + 1), range(-l2, l2 + 1)):
            M = m1 + m2
            if abs(M) > L:
                continue
            exact = CG(l1, m1, l2, m2, L, M).doit()
            assert T[m1 + l1, m2 + l2, M + L] == pytest.approx(float(exact), abs=1e-15)


def test_cg_exact_values():
    assert clebsch_gordan(1, 1, 1, -1, 0, 0) == sympy.sqrt(3) / 3
    assert clebsch_gordan(1, 0, 1, 0, 0, 0) == -sympy.sqrt(3) / 3
    assert clebsch_gordan(1, 1, 1, 1, 2, 2) == 1


@pytest.mark.parametrize("l1,l2", [(1, 1), (2, 3), (4, 4)])
def test_cg_orthogonality(l1, l2):
    # columns (L, M) of the CG matrix are orthonormal: it is a unitary change of basis
    cols = [cg_tensor(l1, l2, L).reshape(-1, 2 * L + 1) for L in range(abs(l1 - l2), l1 + l2 + 1)]
    U = np.concatenate(cols, axis=1)
    assert U.shape[0] == U.shape[1]
    np.testing.assert_allclose(U.T @ U, np.eye(U.shape[0]), atol=1e-13)


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


def test_wigner_d_matches_rotation_for_l1_and_is_orthogonal():
    rng = np.random.default_rng(0)
    Q = random_o3(rng, improper=True)
    D1 = wigner_d_real(1, Q)
    v = rng.normal(size=3)
    # Y_1 ∝ (y, z, x): rotating the vector rotates its (y, z, x) components by D^1
    perm = [1, 2, 0]
    np.testing.assert_allclose(D1 @ v[perm], (Q @ v)[perm], atol=1e-13)
    for l in range(5):
        D = wigner_d_real(l, Q)
        np.testing.assert_allclose(D @ D.T, np.eye(2 * l + 1), atol=1e-12)
        R1, R2 = random_o3(rng), random_o3(rng)
        np.testing.assert_allclose(
            wigner_d_real(l, R1 @ R2), wigner_d_real(l, R1) @ wigner_d_real(l, R2), atol=1e-12
        )


# ---------------------------------------------------------------- cache
def test_cache_roundtrip_and_corruption(tmp_path):
    cache = CouplingCache(tmp_path)
    block = cache.get((2, 2, 2), (3,), 0, 1)
    files = list((tmp_path / "coupling").glob("*.npz"))
    assert len(files) == 1
    again = CouplingCache(tmp_path).get((2, 2, 2), (3,), 0, 1)
    np.testing.assert_array_equal(again.coeffs, block.coeffs)
    # flip bytes in the middle of the file: must warn, rebuild, and give the same numbers
    data = bytearray(files[0].read_bytes())
    data[len(data) // 2] ^= 0xFF
    files[0].write_bytes(bytes(data))
    with pytest.warns(RuntimeWarning, match="corrupt"):
        rebuilt = CouplingCache(tmp_path).get((2, 2, 2), (3,), 0, 1)
    np.testing.assert_array_equal(rebuilt.coeffs, block.coeffs)
    # truncated file
    files[0].write_bytes(files[0].read_bytes()[:100])
    with pytest.warns(RuntimeWarning, match="corrupt"):
        CouplingCache(tmp_path).get((2, 2, 2), (3,), 0, 1)
    # the rewritten file is valid again: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        CouplingCache(tmp_path).get((2, 2, 2), (3,), 0, 1)


def test_cache_detects_tampered_coefficients(tmp_path):
    cache = CouplingCache(tmp_path)
    cache.get((1, 1), (2,), 0, 1)
    path = next((tmp_path / "coupling").glob("*.npz"))
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    arrays["coeffs"] = arrays["coeffs"] * 1.0001  # valid npz, wrong numbers
    np.savez(path, **arrays)
    with pytest.warns(RuntimeWarning, match="checksum"):
        block = CouplingCache(tmp_path).get((1, 1), (2,), 0, 1)
    assert block.n_functions == 1


# ---------------------------------------------------------------- derivation outputs
def test_cg_tensor_matches_ladder_derivation_table():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent / "data" / "cg_table.py"
    spec = importlib.util.spec_from_file_location("cg_table", path)
    table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(table)
    CG_TABLE, LMAX = table.CG_TABLE, table.LMAX

    seen = {}
    for l1, m1, l2, m2, L, M, exact, value in CG_TABLE:
        seen[(l1, m1, l2, m2, L, M)] = value
        assert float(sympy.sympify(exact)) == pytest.approx(value, abs=1e-15)
    for l1, l2 in itertools.product(range(LMAX + 1), repeat=2):
        for L in range(abs(l1 - l2), l1 + l2 + 1):
            T = cg_tensor(l1, l2, L)
            for m1, m2 in itertools.product(range(-l1, l1 + 1), range(-l2, l2 + 1)):
                M = m1 + m2
                expected = seen.get((l1, m1, l2, m2, L, M), 0.0)
                got = T[m1 + l1, m2 + l2, M + L] if abs(M) <= L else 0.0
                assert got == pytest.approx(expected, abs=1e-15)


def test_cg_table_is_reproduced_by_its_derivation(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "cg_table.py"
    subprocess.run(
        [sys.executable, str(root / "derivations" / "clebsch_gordan.py"), "--output", str(out)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    assert (
        out.read_bytes() == (Path(__file__).resolve().parent / "data" / "cg_table.py").read_bytes()
    )
