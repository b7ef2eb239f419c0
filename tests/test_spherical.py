"""Real spherical harmonics: SciPy reference, orthonormality, gradients, regeneration."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import sph_harm_y

from ace_ref.rotations import random_o3, wigner_d_real
from ace_ref.spherical import complex_to_real_matrix, real_spherical_harmonics

ROOT = Path(__file__).resolve().parents[1]


def _angles(v):
    r = np.linalg.norm(v, axis=1)
    return np.arccos(v[:, 2] / r), np.arctan2(v[:, 1], v[:, 0])


def test_matches_scipy_sph_harm_y_through_real_convention():
    v = np.random.default_rng(0).normal(size=(200, 3))
    Y = real_spherical_harmonics(v, 12)
    theta, phi = _angles(v)
    for l in range(13):
        Yc = np.array([sph_harm_y(l, m, theta, phi) for m in range(-l, l + 1)])
        Yr = complex_to_real_matrix(l) @ Yc
        assert np.abs(Yr.imag).max() < 1e-12
        np.testing.assert_allclose(Y[:, l * l : (l + 1) ** 2], Yr.real.T, atol=1e-12)
        # explicit convention check independent of U: m>0 ↔ √2 (−1)^m Re, m<0 ↔ √2 (−1)^m Im
        for m in range(1, l + 1):
            ref = sph_harm_y(l, m, theta, phi)
            np.testing.assert_allclose(
                Y[:, l * l + l + m], np.sqrt(2) * (-1) ** m * ref.real, atol=1e-12
            )
            np.testing.assert_allclose(
                Y[:, l * l + l - m], np.sqrt(2) * (-1) ** m * ref.imag, atol=1e-12
            )


def test_l1_is_y_z_x():
    v = np.array([[0.3, -1.2, 0.7]])
    Y = real_spherical_harmonics(v, 1)
    u = v[0] / np.linalg.norm(v[0])
    np.testing.assert_allclose(Y[0, 1:], np.sqrt(3 / (4 * np.pi)) * u[[1, 2, 0]], atol=1e-15)


def test_orthonormal_on_sphere():
    # Gauss–Legendre in cos θ times a uniform φ grid integrates degree ≤ 2·lmax exactly
    lmax = 8
    x, w = np.polynomial.legendre.leggauss(lmax + 2)
    phi = np.arange(2 * lmax + 3) * 2 * np.pi / (2 * lmax + 3)
    ct, ph = np.meshgrid(x, phi, indexing="ij")
    st_ = np.sqrt(1 - ct**2)
    v = np.stack([st_ * np.cos(ph), st_ * np.sin(ph), ct], axis=-1).reshape(-1, 3)
    weights = (w[:, None] * np.full(len(phi), 2 * np.pi / len(phi))[None, :]).reshape(-1)
    Y = real_spherical_harmonics(v, lmax)
    gram = (Y * weights[:, None]).T @ Y
    np.testing.assert_allclose(gram, np.eye((lmax + 1) ** 2), atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_gradient_matches_finite_differences_and_is_tangential(seed):
    v = np.random.default_rng(seed).normal(size=(4, 3)) * 2.0
    Y, dY = real_spherical_harmonics(v, 8, gradients=True)
    h = 1e-6
    for a in range(3):
        e = np.zeros(3)
        e[a] = h
        fd = (real_spherical_harmonics(v + e, 8) - real_spherical_harmonics(v - e, 8)) / (2 * h)
        np.testing.assert_allclose(dY[:, :, a], fd, atol=2e-7 * max(1, np.abs(dY).max()))
    # Y depends on the direction only: the gradient is orthogonal to r
    np.testing.assert_allclose(np.einsum("nka,na->nk", dY, v), 0, atol=1e-11)


def test_rotation_by_wigner_d():
    rng = np.random.default_rng(3)
    v = rng.normal(size=(20, 3))
    Y = real_spherical_harmonics(v, 6)
    for improper in (False, True):
        Q = random_o3(rng, improper=improper)
        Yq = real_spherical_harmonics(v @ Q.T, 6)
        for l in range(7):
            s = slice(l * l, (l + 1) ** 2)
            np.testing.assert_allclose(Yq[:, s], Y[:, s] @ wigner_d_real(l, Q).T, atol=1e-12)


def test_bad_input():
    with pytest.raises(ValueError, match="shape"):
        real_spherical_harmonics(np.zeros((3, 2)), 2)
    with pytest.raises(ValueError, match="zero-length"):
        real_spherical_harmonics(np.zeros((1, 3)), 2)
    with pytest.raises(ValueError, match="NaN"):
        real_spherical_harmonics(np.array([[np.nan, 0, 1.0]]), 2)
    with pytest.raises(ValueError, match="lmax"):
        real_spherical_harmonics(np.ones((1, 3)), 99)


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
    committed = ROOT / "ace_ref" / "_generated" / "real_ylm_table.py"
    assert out.read_bytes() == committed.read_bytes()
