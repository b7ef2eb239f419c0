"""Real spherical harmonics ``Y_lm`` and their gradients (generated from SymPy).

Convention
----------
Complex ``Y_l^m`` carry the Condon–Shortley phase (as ``scipy.special.sph_harm_y`` and
``sympy.Ynm``). The real harmonics, orthonormal on the unit sphere, are

* ``m < 0``: ``Y_lm = √2 (−1)^m Im Y_l^{|m|}``,
* ``m = 0``: ``Y_l0 = Y_l^0``,
* ``m > 0``: ``Y_lm = √2 (−1)^m Re Y_l^m``,

stored at flat index ``lm = l² + l + m``. For ``l = 1``: ``Y_1 = √(3/4π) (y, z, x)/r``.
Each ``r^l Y_lm`` is a homogeneous polynomial of degree ``l`` whose exact monomial
coefficients are derived in ``derivations/real_spherical_harmonics.py`` and generated into
:mod:`ace_ref._generated.real_ylm_table`. On the unit vector ``u = r/|r|``,
``Y_lm(r̂) = P_lm(u)`` and, by Euler's relation ``u·∇P = l P``,

.. math:: \\nabla_{\\mathbf r} Y_{lm} = (\\nabla P_{lm}(u) - l\\,P_{lm}(u)\\,u) / |r|.

Converters to other libraries
-----------------------------
* **e3nn** (``o3.spherical_harmonics(l, v, normalize=True, normalization="integral")``): e3nn
  orders the ``l = 1`` components as ``(x, y, z)``-like ``(m = −1, 0, 1) ↔ (x, y, z)`` of its
  input, i.e. its polar axis is its input's y. The same real functions are obtained by feeding
  e3nn the permuted vector ``(y, z, x)``: ``Y^{ours}_1(x, y, z) = Y^{e3nn}_1(y, z, x)``.
  For ``l ≥ 2`` both are real orthonormal bases of the same space, related by an orthogonal
  matrix per ``l`` that may include signs; it is not tabulated here because e3nn is not a
  dependency and the claim is untested beyond ``l = 1``.
* **sphericart** (real, ``normalized=True``): sphericart's ``m`` ordering matches ours; its
  functions equal ours without the ``(−1)^m`` factor, so ``Y^{sphericart}_lm = (−1)^m Y_lm``
  for ``m ≠ 0``. Not tested against sphericart here; see :func:`to_sphericart`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ace_ref._generated.real_ylm_table import LM_OFFSETS, LMAX_TABLE, TERM_COEFF, TERM_POWERS

__all__ = [
    "LMAX_TABLE",
    "real_ylm_with_gradient",
    "real_spherical_harmonics",
    "complex_to_real_matrix",
    "to_sphericart",
    "from_sphericart",
]


@njit(cache=True)
def real_ylm_with_gradient(x, y, z, lmax, Y, dY, powers):
    """Fill ``Y[lm]`` with ``Y_lm(r̂)`` and ``dY[lm, :]`` with ``∇_r Y_lm`` for ``l ≤ lmax``.

    ``powers`` is caller-owned scratch of shape ``(3, lmax + 1)`` (no allocation here).
    The caller guarantees ``|r| > 0``.
    """
    r = np.sqrt(x * x + y * y + z * z)
    u0, u1, u2 = x / r, y / r, z / r
    powers[0, 0] = 1.0
    powers[1, 0] = 1.0
    powers[2, 0] = 1.0
    for k in range(1, lmax + 1):
        powers[0, k] = powers[0, k - 1] * u0
        powers[1, k] = powers[1, k - 1] * u1
        powers[2, k] = powers[2, k - 1] * u2
    inv_r = 1.0 / r
    for l in range(lmax + 1):
        for lm in range(l * l, (l + 1) * (l + 1)):
            value = 0.0
            gx = 0.0
            gy = 0.0
            gz = 0.0
            for q in range(LM_OFFSETS[lm], LM_OFFSETS[lm + 1]):
                a = TERM_POWERS[q, 0]
                b = TERM_POWERS[q, 1]
                c = TERM_POWERS[q, 2]
                coeff = TERM_COEFF[q]
                pa = powers[0, a]
                pb = powers[1, b]
                pc = powers[2, c]
                value += coeff * pa * pb * pc
                if a > 0:
                    gx += coeff * a * powers[0, a - 1] * pb * pc
                if b > 0:
                    gy += coeff * b * pa * powers[1, b - 1] * pc
                if c > 0:
                    gz += coeff * c * pa * pb * powers[2, c - 1]
            Y[lm] = value
            lv = l * value
            dY[lm, 0] = (gx - lv * u0) * inv_r
            dY[lm, 1] = (gy - lv * u1) * inv_r
            dY[lm, 2] = (gz - lv * u2) * inv_r


@njit(cache=True)
def _many(vectors, lmax, Y, dY):
    powers = np.empty((3, lmax + 1))
    for p in range(vectors.shape[0]):
        real_ylm_with_gradient(
            vectors[p, 0], vectors[p, 1], vectors[p, 2], lmax, Y[p], dY[p], powers
        )


def real_spherical_harmonics(vectors, lmax: int, gradients: bool = False):
    """Real ``Y_lm(r̂)`` of every row of ``vectors`` (n, 3), shape ``(n, (lmax+1)²)``.

    With ``gradients=True`` also returns ``∇_r Y_lm`` of shape ``(n, (lmax+1)², 3)``.
    """
    v = np.ascontiguousarray(vectors, dtype=float)
    if v.ndim != 2 or v.shape[1] != 3:
        raise ValueError(f"vectors must have shape (n, 3), got {v.shape}")
    if not np.all(np.isfinite(v)):
        raise ValueError("vectors contain NaN or inf")
    if np.any(np.linalg.norm(v, axis=1) == 0):
        raise ValueError("a zero-length vector has no direction")
    if not (0 <= lmax <= LMAX_TABLE):
        raise ValueError(f"lmax must be between 0 and {LMAX_TABLE}, got {lmax}")
    n_lm = (lmax + 1) ** 2
    Y = np.empty((len(v), n_lm))
    dY = np.empty((len(v), n_lm, 3))
    _many(v, lmax, Y, dY)
    return (Y, dY) if gradients else Y


def complex_to_real_matrix(l: int) -> np.ndarray:
    """Unitary ``U`` (rows/cols ``m = −l..l``) with ``Y^real_l = U Y^complex_l``.

    From ``Y_l^{−m} = (−1)^m conj(Y_l^m)``: for ``m > 0``
    ``Y_lm = ((−1)^m Y_l^m + Y_l^{−m})/√2`` and ``Y_{l,−m} = i (Y_l^{−m} − (−1)^m Y_l^m)/√2``.
    """
    U = np.zeros((2 * l + 1, 2 * l + 1), dtype=complex)
    s = 1 / np.sqrt(2)
    U[l, l] = 1.0
    for m in range(1, l + 1):
        U[l + m, l + m] = (-1) ** m * s
        U[l + m, l - m] = s
        U[l - m, l - m] = 1j * s
        U[l - m, l + m] = -1j * (-1) ** m * s
    return U


def _sphericart_signs(lmax: int) -> np.ndarray:
    return np.array([(-1.0) ** abs(m) for l in range(lmax + 1) for m in range(-l, l + 1)])


def to_sphericart(Y: np.ndarray, lmax: int) -> np.ndarray:
    """Our real ``Y_lm`` (last axis) → sphericart's normalized real harmonics.

    Assumes sphericart omits the ``(−1)^m`` factor (see module docstring; untested here).
    """
    return Y * _sphericart_signs(lmax)


def from_sphericart(Y: np.ndarray, lmax: int) -> np.ndarray:
    """Inverse of :func:`to_sphericart`."""
    return Y * _sphericart_signs(lmax)
