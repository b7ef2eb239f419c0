"""Real spherical harmonics: convention, tables, gradients, rotations, kernels, regeneration."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit
from scipy.special import sph_harm_y

from ace_ref._generated import real_ylm_table as table
from ace_ref.coupling.rotations import random_o3, random_rotation, wigner_d_real
from ace_ref.one_particle.spherical import (
    E3NN_INPUT_PERMUTATION,
    LMAX_TABLE,
    complex_to_real_matrix,
    from_e3nn,
    from_sphericart,
    real_spherical_harmonics,
    real_ylm_only,
    real_ylm_with_gradient,
    to_e3nn,
    to_sphericart,
)
from tests.paths import ROOT

GENERATED = ROOT / "ace_ref" / "_generated" / "real_ylm_table.py"


def _angles(v):
    r = np.linalg.norm(v, axis=1)
    return np.arccos(np.clip(v[:, 2] / r, -1, 1)), np.arctan2(v[:, 1], v[:, 0])


def _directions(rng, n):
    v = rng.normal(size=(n, 3))
    # include the poles and the axes, where sin θ = 0 or φ is degenerate
    special = np.array(
        [[0, 0, 1.0], [0, 0, -1.0], [1.0, 0, 0], [0, 1.0, 0], [-1.0, 0, 0], [0, -1.0, 0]]
    )
    return np.concatenate([v, special])


def _monomial_solid_harmonics(v, lmax):
    """``r^l Y_lm`` from the generated monomial table, in plain NumPy (independent path)."""
    n_lm = (lmax + 1) ** 2
    out = np.zeros((len(v), n_lm))
    for q in range(table.LM_OFFSETS[n_lm]):
        a, b, c = table.TERM_POWERS[q]
        out[:, table.TERM_LM[q]] += table.TERM_COEFF[q] * v[:, 0] ** a * v[:, 1] ** b * v[:, 2] ** c
    return out


# ---------------------------------------------------------------------------- convention


def test_matches_scipy_sph_harm_y_through_real_convention():
    v = _directions(np.random.default_rng(0), 300)
    Y = real_spherical_harmonics(v, LMAX_TABLE)
    theta, phi = _angles(v)
    for l in range(LMAX_TABLE + 1):
        Yc = np.array([sph_harm_y(l, m, theta, phi) for m in range(-l, l + 1)])
        Yr = complex_to_real_matrix(l) @ Yc
        assert np.abs(Yr.imag).max() < 1e-12
        np.testing.assert_allclose(Y[:, l * l : (l + 1) ** 2], Yr.real.T, rtol=0, atol=1e-12)
        # the convention written out, independent of U
        np.testing.assert_allclose(
            Y[:, l * l + l], sph_harm_y(l, 0, theta, phi).real, rtol=0, atol=1e-12
        )
        for m in range(1, l + 1):
            ref = sph_harm_y(l, m, theta, phi)
            np.testing.assert_allclose(
                Y[:, l * l + l + m], np.sqrt(2) * (-1) ** m * ref.real, rtol=0, atol=1e-12
            )
            np.testing.assert_allclose(
                Y[:, l * l + l - m], np.sqrt(2) * (-1) ** m * ref.imag, rtol=0, atol=1e-12
            )


def test_low_degree_closed_forms():
    v = np.random.default_rng(1).normal(size=(10, 3))
    Y = real_spherical_harmonics(v, 2)
    x, y, z = (v / np.linalg.norm(v, axis=1, keepdims=True)).T
    c1 = np.sqrt(3 / (4 * np.pi))
    c2 = np.sqrt(15 / (4 * np.pi))
    expected = np.stack(
        [
            np.full_like(x, 0.5 / np.sqrt(np.pi)),
            c1 * y,
            c1 * z,
            c1 * x,
            c2 * x * y,
            c2 * y * z,
            np.sqrt(5 / (16 * np.pi)) * (3 * z**2 - 1),
            c2 * x * z,
            c2 / 2 * (x**2 - y**2),
        ],
        axis=1,
    )
    np.testing.assert_allclose(Y, expected, rtol=0, atol=1e-15)


def test_complex_to_real_matrix_is_unitary():
    for l in range(LMAX_TABLE + 1):
        U = complex_to_real_matrix(l)
        np.testing.assert_allclose(U @ U.conj().T, np.eye(2 * l + 1), atol=1e-15)
    with pytest.raises(ValueError, match="non-negative"):
        complex_to_real_matrix(-1)


def test_orthonormal_on_sphere():
    # Gauss–Legendre in cos θ (n nodes: exact to degree 2n − 1) times a uniform φ grid of
    # 2·lmax + 1 points integrates every product Y_lm Y_l'm' (degree ≤ 2·lmax) exactly.
    lmax = LMAX_TABLE
    t, w = np.polynomial.legendre.leggauss(lmax + 1)
    phi = np.arange(2 * lmax + 1) * 2 * np.pi / (2 * lmax + 1)
    ct, ph = np.meshgrid(t, phi, indexing="ij")
    st_ = np.sqrt(1 - ct**2)
    v = np.stack([st_ * np.cos(ph), st_ * np.sin(ph), ct], axis=-1).reshape(-1, 3)
    weights = np.repeat(w * 2 * np.pi / len(phi), len(phi))
    Y = real_spherical_harmonics(v, lmax)
    gram = (Y * weights[:, None]).T @ Y
    np.testing.assert_allclose(gram, np.eye((lmax + 1) ** 2), rtol=0, atol=1e-12)


def test_parity():
    v = np.random.default_rng(2).normal(size=(20, 3))
    Y = real_spherical_harmonics(v, LMAX_TABLE)
    Ym = real_spherical_harmonics(-v, LMAX_TABLE)
    signs = np.concatenate([np.full(2 * l + 1, (-1.0) ** l) for l in range(LMAX_TABLE + 1)])
    np.testing.assert_allclose(Ym, Y * signs, rtol=0, atol=1e-13)


# ---------------------------------------------------------------------- generated table


def test_monomial_table_is_consistent_and_matches_kernel():
    assert table.LMAX_TABLE == LMAX_TABLE == 12
    n_lm = (LMAX_TABLE + 1) ** 2
    assert len(table.LM_OFFSETS) == n_lm + 1
    assert len(table.TERM_LM) == len(table.TERM_COEFF) == len(table.TERM_POWERS)
    assert len(table.TERM_COEFF_EXACT) == len(table.TERM_COEFF)
    for lm in range(n_lm):
        l = int(np.sqrt(lm))
        s = slice(table.LM_OFFSETS[lm], table.LM_OFFSETS[lm + 1])
        assert np.all(table.TERM_LM[s] == lm)
        assert np.all(table.TERM_POWERS[s].sum(axis=1) == l)  # homogeneous of degree l
    # the factorized form (kernel) and the monomial form agree, on and off the unit sphere
    v = _directions(np.random.default_rng(3), 100) * 1.7
    r = np.linalg.norm(v, axis=1)
    rl = np.concatenate([r[:, None] ** l * np.ones(2 * l + 1) for l in range(LMAX_TABLE + 1)], 1)
    P = _monomial_solid_harmonics(v, LMAX_TABLE)
    np.testing.assert_allclose(P / rl, real_spherical_harmonics(v, LMAX_TABLE), atol=1e-12)


def test_float_coefficients_are_the_exact_values():
    for exact, value in [
        *zip(table.TERM_COEFF_EXACT, table.TERM_COEFF, strict=True),
        *zip(table.ZPOLY_COEFF_EXACT, table.ZPOLY_COEFF, strict=True),
    ]:
        assert float(sp.sympify(exact).evalf(40)) == value, exact


def test_generated_file_header():
    head = GENERATED.read_text().splitlines()[:6]
    assert any("GENERATED by derivations/real_spherical_harmonics.py" in line for line in head)
    assert any("do not edit by hand" in line for line in head)


def test_generated_table_is_reproduced_by_its_derivation(tmp_path):
    out = tmp_path / "real_ylm_table.py"
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "derivations" / "real_spherical_harmonics.py"),
            "--output",
            str(out),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    assert out.read_bytes() == GENERATED.read_bytes()


# ------------------------------------------------------------------------------ gradients


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(0.05, 20.0))
def test_gradient_matches_finite_differences(seed, length):
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(4, 3))
    v *= length / np.linalg.norm(v, axis=1, keepdims=True)
    _, dY = real_spherical_harmonics(v, LMAX_TABLE, gradients=True)
    h = 1e-5 * length
    for a in range(3):
        e = np.zeros(3)
        e[a] = h
        fd = (
            real_spherical_harmonics(v + e, LMAX_TABLE)
            - real_spherical_harmonics(v - e, LMAX_TABLE)
        ) / (2 * h)
        # central differences: error O(h² Y''') with Y''' ~ l³/length³
        np.testing.assert_allclose(dY[:, :, a], fd, rtol=0, atol=2e-6 / length)


def test_gradient_at_poles_and_axes():
    v = _directions(np.random.default_rng(4), 0) * 2.0
    _, dY = real_spherical_harmonics(v, 6, gradients=True)
    h = 1e-6
    for a in range(3):
        e = np.zeros(3)
        e[a] = h
        fd = (real_spherical_harmonics(v + e, 6) - real_spherical_harmonics(v - e, 6)) / (2 * h)
        np.testing.assert_allclose(dY[:, :, a], fd, rtol=0, atol=1e-8)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_gradient_is_orthogonal_to_r_and_scales_as_one_over_r(seed):
    v = np.random.default_rng(seed).normal(size=(5, 3)) * 3.0
    _, dY = real_spherical_harmonics(v, LMAX_TABLE, gradients=True)
    np.testing.assert_allclose(np.einsum("nka,na->nk", dY, v), 0, atol=1e-12)
    _, dY2 = real_spherical_harmonics(2.5 * v, LMAX_TABLE, gradients=True)
    np.testing.assert_allclose(dY2, dY / 2.5, rtol=1e-12, atol=1e-12)


def test_extreme_lengths():
    v = np.random.default_rng(5).normal(size=(6, 3))
    Y, dY = real_spherical_harmonics(v, 8, gradients=True)
    for s in (1e-200, 1e200):
        Ys, dYs = real_spherical_harmonics(v * s, 8, gradients=True)
        # v * s is rounded, so agreement is to rounding of the direction, not bitwise
        np.testing.assert_allclose(Ys, Y, rtol=0, atol=1e-13)
        np.testing.assert_allclose(dYs * s, dY, rtol=0, atol=1e-12)


# ------------------------------------------------------------------------------- rotations


def _fit_d(Y, Yq, l):
    s = slice(l * l, (l + 1) ** 2)
    Dt, *_ = np.linalg.lstsq(Y[:, s], Yq[:, s], rcond=None)
    return Dt.T


def test_rotation_gives_orthogonal_representation():
    """``Y_l(Q r) = D^l(Q) Y_l(r)`` with ``D^l`` orthogonal, a representation, = our Wigner D."""
    rng = np.random.default_rng(6)
    v = rng.normal(size=(400, 3))
    fresh = rng.normal(size=(50, 3))
    lmax = LMAX_TABLE
    Y = real_spherical_harmonics(v, lmax)
    for improper in (False, True):
        Q1, Q2 = random_o3(rng, improper=improper), random_rotation(rng)
        Y1 = real_spherical_harmonics(v @ Q1.T, lmax)
        Y2 = real_spherical_harmonics(v @ Q2.T, lmax)
        Y12 = real_spherical_harmonics(v @ (Q1 @ Q2).T, lmax)
        Yf, Yf1 = (
            real_spherical_harmonics(fresh, lmax),
            real_spherical_harmonics(fresh @ Q1.T, lmax),
        )
        for l in range(lmax + 1):
            s = slice(l * l, (l + 1) ** 2)
            D1, D2, D12 = _fit_d(Y, Y1, l), _fit_d(Y, Y2, l), _fit_d(Y, Y12, l)
            np.testing.assert_allclose(D1 @ D1.T, np.eye(2 * l + 1), atol=1e-11)
            np.testing.assert_allclose(Y[:, s] @ D1.T, Y1[:, s], atol=1e-11)
            np.testing.assert_allclose(Yf[:, s] @ D1.T, Yf1[:, s], atol=1e-11)  # consistent
            np.testing.assert_allclose(D12, D1 @ D2, atol=1e-11)  # a representation
            if l <= 6:
                np.testing.assert_allclose(D1, wigner_d_real(l, Q1), atol=1e-11)


# --------------------------------------------------------------------------- numba kernels


@njit
def _kernel_loop(v, lmax, Y, dY, Y_only, scratch):
    for p in range(v.shape[0]):
        real_ylm_with_gradient(v[p, 0], v[p, 1], v[p, 2], lmax, Y[p], dY[p], scratch)
        real_ylm_only(v[p, 0], v[p, 1], v[p, 2], lmax, Y_only[p], scratch)


@pytest.mark.parametrize("lmax", [0, 1, 5, LMAX_TABLE])
def test_numba_kernels_equal_the_vectorized_api(lmax):
    v = _directions(np.random.default_rng(7), 50) * 0.37
    n_lm = (lmax + 1) ** 2
    Y, dY, Y_only = np.empty((len(v), n_lm)), np.empty((len(v), n_lm, 3)), np.empty((len(v), n_lm))
    _kernel_loop(v, lmax, Y, dY, Y_only, np.empty((3, lmax + 1)))  # called from @njit
    Yr, dYr = real_spherical_harmonics(v, lmax, gradients=True)
    np.testing.assert_array_equal(Y, Yr)
    np.testing.assert_array_equal(dY, dYr)
    np.testing.assert_array_equal(Y_only, Yr)
    np.testing.assert_array_equal(real_spherical_harmonics(v, lmax), Yr)
    # direct call from Python, with oversized output and scratch buffers
    y1, g1 = np.full(n_lm + 3, np.nan), np.full((n_lm + 3, 3), np.nan)
    real_ylm_with_gradient(*v[0], lmax, y1, g1, np.empty((3, LMAX_TABLE + 1)))
    np.testing.assert_array_equal(y1[:n_lm], Yr[0])
    np.testing.assert_array_equal(g1[:n_lm], dYr[0])
    assert np.all(np.isnan(y1[n_lm:]))


def test_bad_input():
    with pytest.raises(ValueError, match="shape"):
        real_spherical_harmonics(np.zeros((3, 2)), 2)
    with pytest.raises(ValueError, match="shape"):
        real_spherical_harmonics(np.zeros(3), 2)
    with pytest.raises(ValueError, match="zero length"):
        real_spherical_harmonics(np.array([[1.0, 0, 0], [0, 0, 0]]), 2)
    with pytest.raises(ValueError, match="NaN"):
        real_spherical_harmonics(np.array([[np.nan, 0, 1.0]]), 2)
    with pytest.raises(ValueError, match="NaN or inf"):
        real_spherical_harmonics(np.array([[np.inf, 0, 1.0]]), 2)
    with pytest.raises(ValueError, match="lmax"):
        real_spherical_harmonics(np.ones((1, 3)), LMAX_TABLE + 1)
    with pytest.raises(ValueError, match="lmax"):
        real_spherical_harmonics(np.ones((1, 3)), -1)
    with pytest.raises(ValueError, match="integer"):
        real_spherical_harmonics(np.ones((1, 3)), 2.0)
    Y, dY = real_spherical_harmonics(np.zeros((0, 3)), 3, gradients=True)
    assert Y.shape == (0, 16) and dY.shape == (0, 16, 3)


# ------------------------------------------------------------------------------ converters


def _e3nn_closed_form(w):
    """e3nn's ``o3.spherical_harmonics([0, 1, 2], w, True, normalization="integral")`` from its
    documented closed forms: ``l = 1`` is ``√(3/4π) (x, y, z)``, ``l = 2`` is
    ``√(15/4π) (xz, xy, (y² − (x² + z²)/2)/√3, yz, (z² − x²)/2)`` of the unit input."""
    x, y, z = (w / np.linalg.norm(w, axis=1, keepdims=True)).T
    c2 = np.sqrt(15 / (4 * np.pi))
    return np.stack(
        [
            np.full_like(x, 0.5 / np.sqrt(np.pi)),
            *(np.sqrt(3 / (4 * np.pi)) * np.stack([x, y, z])),
            c2 * x * z,
            c2 * x * y,
            c2 * (y**2 - (x**2 + z**2) / 2) / np.sqrt(3),
            c2 * y * z,
            c2 * (z**2 - x**2) / 2,
        ],
        axis=1,
    )


def test_e3nn_converter_against_e3nn_closed_forms():
    v = np.random.default_rng(8).normal(size=(30, 3))
    Y = real_spherical_harmonics(v, 2)
    e3nn = _e3nn_closed_form(v)
    np.testing.assert_allclose(to_e3nn(Y, 2), e3nn, rtol=0, atol=1e-14)
    np.testing.assert_allclose(from_e3nn(e3nn, 2), Y, rtol=0, atol=1e-14)
    # feeding e3nn the permuted vector reproduces ours exactly (no signs)
    perm = list(E3NN_INPUT_PERMUTATION)
    np.testing.assert_allclose(_e3nn_closed_form(v[:, perm]), Y, rtol=0, atol=1e-14)


def test_e3nn_converter_is_the_axis_relabelling_for_all_l():
    v = np.random.default_rng(9).normal(size=(40, 3))
    Y = real_spherical_harmonics(v, LMAX_TABLE)
    Ye = to_e3nn(Y, LMAX_TABLE)
    np.testing.assert_allclose(
        Ye, real_spherical_harmonics(v[:, [2, 0, 1]], LMAX_TABLE), atol=1e-12
    )
    np.testing.assert_allclose(from_e3nn(Ye, LMAX_TABLE), Y, atol=1e-12)
    with pytest.raises(ValueError, match="last axis"):
        to_e3nn(Y, 3)


def test_sphericart_converter_is_identity_on_values():
    Y = real_spherical_harmonics(np.random.default_rng(10).normal(size=(5, 3)), 4)
    np.testing.assert_array_equal(to_sphericart(Y, 4), Y)
    np.testing.assert_array_equal(from_sphericart(Y, 4), Y)


def test_against_sphericart_if_installed():
    sphericart = pytest.importorskip("sphericart")
    v = np.random.default_rng(11).normal(size=(50, 3))
    sph, dsph = sphericart.SphericalHarmonics(LMAX_TABLE).compute_with_gradients(v)
    Y, dY = real_spherical_harmonics(v, LMAX_TABLE, gradients=True)
    np.testing.assert_allclose(to_sphericart(Y, LMAX_TABLE), sph, atol=1e-12)
    np.testing.assert_allclose(np.swapaxes(dY, -1, -2), dsph, atol=1e-11)
