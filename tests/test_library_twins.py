"""Where ace_ref now leans on a library instead of code of its own, the result is unchanged.

* ``C`` of a basis is a SciPy sparse matrix, and ``c̃ = Cᵀc`` of a model is one sparse product:
  bitwise the accumulation the prediction kernels were built on;
* every coupled block is also an N-dimensional pydata-``sparse`` tensor whose full contraction
  gives the same functions and which is O(3)-equivariant on its own;
* random rotations come from SciPy, Voigt conversions from ASE, the NumPy reference radials from
  NumPy's Legendre module.
"""

from __future__ import annotations

import numpy as np
import pytest
import sparse
from ase.stress import full_3x3_to_voigt_6_stress

from ace_ref import ACEBasis, LinearACEModel
from ace_ref.coupling import coupled_block, random_o3, random_rotation, wigner_d_real
from ace_ref.fit.data import _voigt_to_matrix
from ace_ref.one_particle.radial import ACE1Radial, PolynomialRadial, radial_with_derivative

BLOCKS = [
    ((1, 1, 2), (2, 1), 0, 1),
    ((1, 1, 1), (3,), 1, -1),
    ((2, 2, 2, 2), (4,), 0, 1),
    ((0, 1, 1), (1, 2), 0, 1),
    ((1, 2, 3), (1, 1, 1), 2, 1),
    ((2, 2, 1), (2, 1), 1, -1),
]


def _group_values(ls, group_sizes, rng):
    """Real A_l vectors, identical within a group of identical factors."""
    A, k = [], 0
    for g in group_sizes:
        a = rng.normal(size=2 * ls[k] + 1)
        A += [a] * g
        k += g
    return A


def _contract(T: sparse.COO, A) -> np.ndarray:
    X = T.todense()
    for a in A:
        X = np.tensordot(X, a, axes=([1], [0]))
    return X


@pytest.mark.parametrize("ls, group_sizes, L, parity", BLOCKS)
def test_coupling_tensor_reproduces_the_canonical_sum(ls, group_sizes, L, parity):
    block = coupled_block(ls, group_sizes, L, parity)
    T = block.tensor()
    assert isinstance(T, sparse.COO)
    assert T.shape == (block.n_functions, *(2 * l + 1 for l in ls), 2 * L + 1)
    rng = np.random.default_rng(7)
    A = _group_values(ls, group_sizes, rng)
    canonical = np.zeros((block.n_functions, 2 * L + 1))
    for t, mt in enumerate(block.m_tuples):
        canonical += block.coeffs[:, t, :] * np.prod([A[i][m + ls[i]] for i, m in enumerate(mt)])
    np.testing.assert_allclose(_contract(T, A), canonical, rtol=0, atol=1e-14)


@pytest.mark.parametrize("ls, group_sizes, L, parity", BLOCKS)
def test_coupling_tensor_is_symmetric_within_groups_and_o3_equivariant(ls, group_sizes, L, parity):
    T = coupled_block(ls, group_sizes, L, parity).tensor()
    dense = T.todense()
    k = 0
    for g in group_sizes:
        for j in range(1, g):  # swap two factors of one group: T unchanged
            axes = list(range(dense.ndim))
            axes[1 + k], axes[1 + k + j] = axes[1 + k + j], axes[1 + k]
            np.testing.assert_array_equal(dense, dense.transpose(axes))
        k += g
    rng = np.random.default_rng(11)
    for improper in (False, True):
        Q = random_o3(rng, improper=improper)
        A = _group_values(ls, group_sizes, rng)
        rotated = _contract(T, [wigner_d_real(l, Q) @ a for l, a in zip(ls, A, strict=True)])
        sign = parity * (-1) ** L if improper else 1
        expected = sign * _contract(T, A) @ wigner_d_real(L, Q).T
        np.testing.assert_allclose(rotated, expected, rtol=0, atol=1e-12)


def test_ctilde_is_the_sparse_product_and_bitwise_the_accumulation():
    basis = ACEBasis(["H", "O"], order=3, max_degree=[6, 6, 5], w_L=1, r_cut=4.0, cache_dir=None)
    c = np.random.default_rng(3).normal(size=len(basis))
    model = LinearACEModel(basis, c, {"H": 0.0, "O": 0.0})
    t = basis.tables(0)
    K = t.n_functions
    C = t.coupling_matrix
    assert C.shape == (K, t.n_products) and C.nnz == len(t.c_data)
    rows = np.repeat(np.arange(K), np.diff(t.c_indptr))
    for z in range(len(basis.elements)):
        accumulated = np.zeros(t.n_products)
        for k, v, value in zip(rows, t.c_indices, t.c_data, strict=True):
            accumulated[v] += c[z * K + k] * value  # row by row, as the kernels were built on
        np.testing.assert_array_equal(model._ctilde[z], accumulated)
        np.testing.assert_allclose(C.toarray().T @ c[z * K : (z + 1) * K], accumulated, atol=1e-13)


def test_random_rotation_is_a_haar_rotation():
    rng = np.random.default_rng(0)
    Qs = np.array([random_rotation(rng) for _ in range(4000)])
    np.testing.assert_allclose(
        Qs @ Qs.transpose(0, 2, 1), np.broadcast_to(np.eye(3), Qs.shape), atol=1e-12
    )
    np.testing.assert_allclose(np.linalg.det(Qs), 1.0, atol=1e-12)
    # Haar measure: every matrix entry has mean 0 and variance 1/3
    assert np.abs(Qs.mean(axis=0)).max() < 0.05
    np.testing.assert_allclose((Qs**2).mean(axis=0), 1 / 3, atol=0.03)
    assert np.linalg.det(random_o3(rng, improper=True)) == pytest.approx(-1.0)


def test_voigt_conversions_round_trip_through_ase():
    s = np.array([[1.0, 0.4, -0.3], [0.4, 2.0, 0.7], [-0.3, 0.7, 3.0]])
    voigt = full_3x3_to_voigt_6_stress(s)
    np.testing.assert_array_equal(voigt, [1.0, 2.0, 3.0, 0.7, -0.3, 0.4])
    np.testing.assert_array_equal(_voigt_to_matrix(voigt), s)
    np.testing.assert_array_equal(_voigt_to_matrix(s.ravel()), s)
    with pytest.raises(ValueError, match="6 or 9 components"):
        _voigt_to_matrix(np.ones(5))


@pytest.mark.parametrize(
    "radial",
    [
        PolynomialRadial(9, 5.0, r_0=1.2, q=2),
        ACE1Radial(9, 5.0, r_0=1.2, q=3, r_in=0.6),
    ],
    ids=["polynomial", "ace1"],
)
def test_numpy_legendre_reference_matches_the_numba_recurrence(radial):
    r = np.linspace(0.7, 5.2, 301)
    R, dR = radial(r)
    R_k, dR_k = np.zeros_like(R), np.zeros_like(R)
    for i, x in enumerate(r):
        radial_with_derivative(radial.params(), radial.n_max, x, R_k[i], dR_k[i])
    np.testing.assert_allclose(R_k, R, rtol=0, atol=1e-12 * np.abs(R).max())
    np.testing.assert_allclose(dR_k, dR, rtol=0, atol=1e-12 * np.abs(dR).max())
