r"""Real spherical harmonics ``Y_lm`` and their Cartesian gradients (generated from SymPy).

Convention (public API)
-----------------------
The complex harmonics ``Y_l^m(θ, φ)`` carry the Condon–Shortley phase, exactly as
``scipy.special.sph_harm_y(l, m, theta, phi)`` and ``sympy.Ynm(l, m, theta, phi)`` define them
(``θ`` polar angle from ``+z``, ``φ`` azimuth from ``+x`` towards ``+y``). The real harmonics,
orthonormal on the unit sphere (``∫ Y_lm Y_l'm' dΩ = δ_ll' δ_mm'``), are

* ``m < 0``: ``Y_lm = √2 (−1)^m Im Y_l^{|m|}``,
* ``m = 0``: ``Y_l0 = Y_l^0``,
* ``m > 0``: ``Y_lm = √2 (−1)^m Re Y_l^m``,

stored at the flat index ``lm = l² + l + m`` of arrays of length ``(lmax + 1)²``. The
``(−1)^m`` cancels the Condon–Shortley phase, so these are the "standard" real harmonics of
the usual tables (all leading coefficients positive), e.g.
``Y_1 = √(3/4π) (y, z, x)/r`` for ``m = −1, 0, 1`` and
``Y_{2,−2} = √(15/4π) xy/r²``, ``Y_{2,2} = √(15/16π) (x² − y²)/r²``.

Where the numbers come from
---------------------------
Each ``r^l Y_lm`` is a homogeneous polynomial ``P_lm(x, y, z)`` of degree ``l``. The script
``derivations/real_spherical_harmonics.py`` derives them exactly with SymPy (from
``sympy.assoc_legendre``, checked against ``sympy.Ynm``) and generates
:mod:`ace_ref._generated.real_ylm_table` with two exact descriptions: the monomials of every
``P_lm`` (``TERM_*``) and the factorized form (``ZPOLY_*``)

.. math:: Y_{l,\pm k}(u) = \{\mathrm{Re}, \mathrm{Im}\}[(u_x + i u_y)^k]\; Z_{lk}(u_z),
          \qquad |u| = 1,

which the Numba kernels evaluate (``O(l_max)`` recurrences for ``(u_x + i u_y)^k`` and
``u_z^j`` plus one short polynomial per ``(l, |m|)``, about four times faster than summing
monomials). ``l ≤ LMAX_TABLE = 12``.

Gradients
---------
``Y_lm(r̂)`` depends on the direction only. For any smooth ``F`` equal to ``Y_lm`` on the unit
sphere (the homogeneous ``P_lm``, or the factorized form above) and ``u = r/|r|``,

.. math:: \nabla_{\mathbf r} Y_{lm}(\mathbf r/|\mathbf r|)
          = \frac{\nabla F(u) - u\,(u\cdot\nabla F(u))}{|\mathbf r|},

the gradient with respect to the Cartesian vector ``r`` (not the unit vector); it is orthogonal
to ``r``. (For ``F = P_lm``, Euler's relation gives ``u·∇P_lm(u) = l P_lm(u)``.)

Converters to other libraries
-----------------------------
See :func:`complex_to_real_matrix`, :func:`to_e3nn` / :func:`from_e3nn` and
:func:`to_sphericart` / :func:`from_sphericart`.

Numba cache note: the generated tables are compiled into the cached machine code of the
kernels as constants; after regenerating the table with different content, delete the
``__pycache__`` of this package so that Numba recompiles.
"""

from __future__ import annotations

import operator

import numpy as np
from numba import njit

from ace_ref._generated.real_ylm_table import (
    LMAX_TABLE,
    ZPOLY_COEFF,
    ZPOLY_OFFSETS,
    ZPOLY_POWERS,
)

__all__ = [
    "LMAX_TABLE",
    "real_ylm_with_gradient",
    "real_ylm_only",
    "real_spherical_harmonics",
    "complex_to_real_matrix",
    "to_e3nn",
    "from_e3nn",
    "to_sphericart",
    "from_sphericart",
    "E3NN_INPUT_PERMUTATION",
]

# Derivative of Z_lk term by term: d/ds (c s^j) = (c j) s^(j-1); the j = 0 terms get a zero
# coefficient (and a harmless power index 0), so the kernel needs no branch.
_ZPOLY_DCOEFF = ZPOLY_COEFF * ZPOLY_POWERS
_ZPOLY_DPOWERS = np.maximum(ZPOLY_POWERS - 1, 0)

#: ``e3nn.o3.spherical_harmonics(l, v[..., E3NN_INPUT_PERMUTATION], normalize=True,
#: normalization="integral")`` equals our ``Y_l(v)`` (same ``m`` order, no signs).
E3NN_INPUT_PERMUTATION = (1, 2, 0)


@njit(cache=True)
def _fill_powers(ux: float, uy: float, uz: float, lmax: int, scratch: np.ndarray) -> None:
    """``scratch[0, k] + i scratch[1, k] = (ux + i uy)^k`` and ``scratch[2, k] = uz^k``."""
    scratch[0, 0] = 1.0
    scratch[1, 0] = 0.0
    scratch[2, 0] = 1.0
    for k in range(1, lmax + 1):
        c = scratch[0, k - 1]
        s = scratch[1, k - 1]
        scratch[0, k] = c * ux - s * uy
        scratch[1, k] = c * uy + s * ux
        scratch[2, k] = scratch[2, k - 1] * uz


@njit(cache=True)
def real_ylm_with_gradient(
    x: float,
    y: float,
    z: float,
    lmax: int,
    ylm_out: np.ndarray,
    grad_out: np.ndarray,
    scratch: np.ndarray,
) -> None:
    r"""Real ``Y_lm(r̂)`` and ``∇_r Y_lm`` of one vector, for all ``l ≤ lmax`` (Numba kernel).

    Allocation-free and callable from other ``@njit`` functions. Conventions: see the module
    docstring (orthonormal real harmonics built from Condon–Shortley complex ones,
    ``lm = l² + l + m``).

    Parameters
    ----------
    x, y, z : float
        Cartesian components of ``r``. The caller guarantees ``|r| > 0`` (not checked).
    lmax : int
        Largest degree, ``0 ≤ lmax ≤ LMAX_TABLE`` (not checked).
    ylm_out : ndarray of float64, shape ``((lmax + 1)**2,)`` or longer
        Receives ``Y_lm(r/|r|)`` at index ``l² + l + m``.
    grad_out : ndarray of float64, shape ``((lmax + 1)**2, 3)`` or longer
        Receives ``∇_r Y_lm = (∇F(u) − u (u·∇F(u)))/|r|``, the gradient with respect to the
        Cartesian vector ``r`` (not the unit vector ``u = r/|r|``); orthogonal to ``r``.
    scratch : ndarray of float64, shape ``(3, lmax + 1)`` or wider
        Caller-owned work space (overwritten), so that this kernel allocates nothing:
        rows hold ``Re (u_x + i u_y)^k``, ``Im (u_x + i u_y)^k`` and ``u_z^k``.

    Notes
    -----
    With ``C_k + i S_k = (u_x + i u_y)^k`` and ``Z_lk`` the generated polynomial,
    ``Y_{l,k} = C_k Z_lk(u_z)``, ``Y_{l,−k} = S_k Z_lk(u_z)``, and the unprojected gradients
    of these extensions are ``(k C_{k−1} Z, −k S_{k−1} Z, C_k Z')`` and
    ``(k S_{k−1} Z, k C_{k−1} Z, S_k Z')``.
    """
    r = np.sqrt(x * x + y * y + z * z)
    inv_r = 1.0 / r
    ux = x * inv_r
    uy = y * inv_r
    uz = z * inv_r
    _fill_powers(ux, uy, uz, lmax, scratch)
    t = 0  # index of (l, k): l (l + 1) / 2 + k
    for l in range(lmax + 1):
        centre = l * l + l
        for k in range(l + 1):
            zv = 0.0
            dz = 0.0
            for q in range(ZPOLY_OFFSETS[t], ZPOLY_OFFSETS[t + 1]):
                zv += ZPOLY_COEFF[q] * scratch[2, ZPOLY_POWERS[q]]
                dz += _ZPOLY_DCOEFF[q] * scratch[2, _ZPOLY_DPOWERS[q]]
            t += 1
            if k == 0:
                ylm_out[centre] = zv
                proj = uz * dz
                grad_out[centre, 0] = -proj * ux * inv_r
                grad_out[centre, 1] = -proj * uy * inv_r
                grad_out[centre, 2] = (dz - proj * uz) * inv_r
            else:
                ck = scratch[0, k]
                sk = scratch[1, k]
                kc = k * scratch[0, k - 1] * zv
                ks = k * scratch[1, k - 1] * zv
                # m = +k: F = C_k Z
                gx = kc
                gy = -ks
                gz = ck * dz
                proj = ux * gx + uy * gy + uz * gz
                ylm_out[centre + k] = ck * zv
                grad_out[centre + k, 0] = (gx - proj * ux) * inv_r
                grad_out[centre + k, 1] = (gy - proj * uy) * inv_r
                grad_out[centre + k, 2] = (gz - proj * uz) * inv_r
                # m = -k: F = S_k Z
                gx = ks
                gy = kc
                gz = sk * dz
                proj = ux * gx + uy * gy + uz * gz
                ylm_out[centre - k] = sk * zv
                grad_out[centre - k, 0] = (gx - proj * ux) * inv_r
                grad_out[centre - k, 1] = (gy - proj * uy) * inv_r
                grad_out[centre - k, 2] = (gz - proj * uz) * inv_r


@njit(cache=True)
def real_ylm_only(
    x: float, y: float, z: float, lmax: int, ylm_out: np.ndarray, scratch: np.ndarray
) -> None:
    """Real ``Y_lm(r̂)`` of one vector for all ``l ≤ lmax``, without gradients (Numba kernel).

    Same conventions and arguments as :func:`real_ylm_with_gradient` (``scratch`` of shape
    ``(3, lmax + 1)``, caller guarantees ``|r| > 0`` and ``0 ≤ lmax ≤ LMAX_TABLE``);
    allocation-free and callable from other ``@njit`` functions.
    """
    inv_r = 1.0 / np.sqrt(x * x + y * y + z * z)
    _fill_powers(x * inv_r, y * inv_r, z * inv_r, lmax, scratch)
    t = 0
    for l in range(lmax + 1):
        centre = l * l + l
        for k in range(l + 1):
            zv = 0.0
            for q in range(ZPOLY_OFFSETS[t], ZPOLY_OFFSETS[t + 1]):
                zv += ZPOLY_COEFF[q] * scratch[2, ZPOLY_POWERS[q]]
            t += 1
            if k == 0:
                ylm_out[centre] = zv
            else:
                ylm_out[centre + k] = scratch[0, k] * zv
                ylm_out[centre - k] = scratch[1, k] * zv


@njit(cache=True)
def _many_with_gradients(vectors, lmax, Y, dY):
    scratch = np.empty((3, lmax + 1))
    for p in range(vectors.shape[0]):
        real_ylm_with_gradient(
            vectors[p, 0], vectors[p, 1], vectors[p, 2], lmax, Y[p], dY[p], scratch
        )


@njit(cache=True)
def _many(vectors, lmax, Y):
    scratch = np.empty((3, lmax + 1))
    for p in range(vectors.shape[0]):
        real_ylm_only(vectors[p, 0], vectors[p, 1], vectors[p, 2], lmax, Y[p], scratch)


def _check_lmax(lmax: int) -> int:
    try:
        value = operator.index(lmax)
    except TypeError:
        raise ValueError(f"lmax must be an integer, got {lmax!r}") from None
    if not 0 <= value <= LMAX_TABLE:
        raise ValueError(f"lmax must be between 0 and LMAX_TABLE = {LMAX_TABLE}, got {value}")
    return value


def real_spherical_harmonics(
    vectors: np.ndarray, lmax: int, gradients: bool = False
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    r"""Real spherical harmonics of many vectors (vectorized wrapper of the Numba kernels).

    Parameters
    ----------
    vectors : array_like, shape ``(n, 3)``
        Cartesian vectors ``r``; finite and of non-zero length (only the direction matters).
    lmax : int
        Largest degree, ``0 ≤ lmax ≤ LMAX_TABLE`` (12).
    gradients : bool, default False
        Also return ``∇_r Y_lm``.

    Returns
    -------
    Y : ndarray, shape ``(n, (lmax + 1)**2)``
        ``Y[i, l² + l + m] = Y_lm(r_i/|r_i|)`` in the convention of the module docstring:
        ``√2 (−1)^m Im Y_l^{|m|}`` (``m < 0``), ``Y_l^0``, ``√2 (−1)^m Re Y_l^m`` (``m > 0``)
        with Condon–Shortley complex ``Y_l^m`` (``scipy.special.sph_harm_y``).
    dY : ndarray, shape ``(n, (lmax + 1)**2, 3)``
        Only with ``gradients=True``: ``dY[i, lm, a] = ∂Y_lm(r_i/|r_i|)/∂r_{i,a}``, the
        gradient with respect to the Cartesian vector (orthogonal to ``r_i``).

    Raises
    ------
    ValueError
        If ``vectors`` is not of shape ``(n, 3)``, contains NaN/inf or a zero vector, or
        ``lmax`` is not an integer in ``[0, LMAX_TABLE]``.
    """
    lmax = _check_lmax(lmax)
    v = np.asarray(vectors, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] != 3:
        raise ValueError(f"vectors must have shape (n, 3), got {v.shape}")
    if not np.all(np.isfinite(v)):
        raise ValueError("vectors contain NaN or inf")
    biggest = np.abs(v).max(axis=1) if len(v) else np.ones(0)
    if np.any(biggest == 0.0):
        bad = int(np.flatnonzero(biggest == 0.0)[0])
        raise ValueError(f"vectors[{bad}] has zero length (a zero-length vector has no direction)")
    # Rescale each row by a power of two (exact) so that |r|² neither overflows nor underflows
    # in the kernel; values are unchanged and gradients scale back by the same power of two.
    scale = np.ldexp(1.0, np.frexp(biggest)[1])
    v = np.ascontiguousarray(v / scale[:, None])
    n_lm = (lmax + 1) ** 2
    Y = np.empty((len(v), n_lm))
    if not gradients:
        _many(v, lmax, Y)
        return Y
    dY = np.empty((len(v), n_lm, 3))
    _many_with_gradients(v, lmax, Y, dY)
    dY /= scale[:, None, None]
    return Y, dY


def complex_to_real_matrix(l: int) -> np.ndarray:
    r"""Unitary ``U`` with ``Y^real_l = U @ Y^complex_l`` (rows and columns ``m = −l..l``).

    ``Y^complex_l`` is the vector ``(Y_l^{−l}, …, Y_l^{l})`` of Condon–Shortley harmonics
    (``scipy.special.sph_harm_y``) and ``Y^real_l`` the vector of our real harmonics in the
    same ``m`` order (the slice ``l²:(l+1)²`` of :func:`real_spherical_harmonics`). From
    ``Y_l^{−m} = (−1)^m conj(Y_l^m)``, for ``m > 0``

    * ``Y_{l,m} = ((−1)^m Y_l^m + Y_l^{−m}) / √2``,
    * ``Y_{l,−m} = i (Y_l^{−m} − (−1)^m Y_l^m) / √2``,

    and ``Y_{l,0} = Y_l^0``.

    Uses: a complex-basis operator ``A`` (e.g. a Wigner matrix ``D^l`` or a Clebsch–Gordan
    tensor leg) becomes ``U A U^†`` in the real basis; real coefficients ``c`` of a function
    ``Σ c_m Y_lm`` are complex coefficients ``Uᵀ c``.

    Parameters
    ----------
    l : int
        Degree, ``l ≥ 0``.

    Returns
    -------
    ndarray of complex128, shape ``(2l + 1, 2l + 1)``
        ``U[l + m_real, l + m_complex]``; unitary (``U U^† = I``).
    """
    l = operator.index(l)
    if l < 0:
        raise ValueError(f"l must be non-negative, got {l}")
    U = np.zeros((2 * l + 1, 2 * l + 1), dtype=complex)
    s = 1 / np.sqrt(2)
    U[l, l] = 1.0
    for m in range(1, l + 1):
        U[l + m, l + m] = (-1) ** m * s
        U[l + m, l - m] = s
        U[l - m, l - m] = 1j * s
        U[l - m, l + m] = -1j * (-1) ** m * s
    return U


# ----------------------------------------------------------------------------------------
# Other conventions
# ----------------------------------------------------------------------------------------

# e3nn(v) = ours(v_z, v_x, v_y) = ours(P v) with this P (a proper rotation: 120° about (1,1,1)).
_E3NN_P = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def _sphere_quadrature(lmax: int) -> tuple[np.ndarray, np.ndarray]:
    """Points and weights exact for polynomials of degree ``≤ 2 lmax`` on the unit sphere."""
    t, w = np.polynomial.legendre.leggauss(lmax + 1)
    n_phi = 2 * lmax + 1
    phi = 2 * np.pi * np.arange(n_phi) / n_phi
    ct, ph = np.meshgrid(t, phi, indexing="ij")
    st = np.sqrt(1.0 - ct**2)
    points = np.stack([st * np.cos(ph), st * np.sin(ph), ct], axis=-1).reshape(-1, 3)
    weights = np.repeat(w * (2 * np.pi / n_phi), n_phi)
    return points, weights


def _e3nn_matrix(lmax: int) -> np.ndarray:
    """Block-diagonal orthogonal ``M`` with ``Y^{e3nn}(v) = M @ Y(v)`` (same Cartesian ``v``)."""
    points, weights = _sphere_quadrature(lmax)
    Y = real_spherical_harmonics(points, lmax)
    Yp = real_spherical_harmonics(points @ _E3NN_P.T, lmax)
    M = np.zeros(((lmax + 1) ** 2, (lmax + 1) ** 2))
    for l in range(lmax + 1):
        s = slice(l * l, (l + 1) ** 2)
        M[s, s] = (Yp[:, s] * weights[:, None]).T @ Y[:, s]  # ∫ Y_l(Pv) Y_l(v)ᵀ dΩ
    M[np.abs(M) < 1e-13] = 0.0
    return M


def _check_last_axis(ylm: np.ndarray, lmax: int) -> tuple[np.ndarray, int]:
    lmax = _check_lmax(lmax)
    ylm = np.asarray(ylm, dtype=np.float64)
    if ylm.ndim == 0 or ylm.shape[-1] != (lmax + 1) ** 2:
        raise ValueError(
            f"the last axis must have length (lmax + 1)**2 = {(lmax + 1) ** 2}, got {ylm.shape}"
        )
    return ylm, lmax


def to_e3nn(ylm: np.ndarray, lmax: int) -> np.ndarray:
    r"""Our real harmonics at vectors ``v`` → e3nn's harmonics at the *same* vectors ``v``.

    e3nn's ``o3.spherical_harmonics(range(lmax + 1), v, normalize=True,
    normalization="integral")`` uses the same real orthonormal functions as we do, but with
    the axes relabelled: its polar (``m = 0``) axis is its input's ``y`` and its ``l = 1``
    components are ``√(3/4π) (v_x, v_y, v_z)``. Exactly (no signs, same ``m`` order):

    .. math:: Y^{e3nn}_{lm}(v_x, v_y, v_z) = Y_{lm}(v_z, v_x, v_y) = Y_{lm}(P v),
              \qquad P = \begin{pmatrix} 0&0&1\\ 1&0&0\\ 0&1&0 \end{pmatrix},

    equivalently ``Y(v) = Y^{e3nn}(v[..., [1, 2, 0]])`` (see :data:`E3NN_INPUT_PERMUTATION`;
    e3nn's own docstring states that it matches the standard real table when called with
    ``(y, z, x)``). Since ``P`` is a rotation, ``Y_l(P v) = D^l(P) Y_l(v)`` with our real
    Wigner matrix; this function applies that block-diagonal orthogonal matrix (computed by an
    exact quadrature ``∫ Y_l(P v) Y_l(v)ᵀ dΩ``) to the last axis. For ``l = 1`` it is a
    permutation, for ``l ≥ 2`` a dense orthogonal matrix per block.

    Parameters
    ----------
    ylm : ndarray, shape ``(..., (lmax + 1)**2)``
        Our real harmonics (e.g. from :func:`real_spherical_harmonics`).
    lmax : int
        Largest degree.

    Returns
    -------
    ndarray, shape like ``ylm``
        e3nn's ``normalization="integral"`` harmonics of the same vectors. For
        ``"component"`` multiply by ``√(4π)``, for ``"norm"`` by ``√(4π/(2l+1))``.

    Notes
    -----
    Verification status: e3nn (which needs PyTorch) is not a dependency and is not exercised
    in the test suite. The mapping was checked during development against e3nn's published
    polynomial code for ``l ≤ 4`` and is tested here for ``l ≤ 2`` against e3nn's documented
    closed forms; for higher ``l`` it rests on the argument above (both bases are the
    standard real harmonics, so the relabelling is exact for every ``l``).
    """
    ylm, lmax = _check_last_axis(ylm, lmax)
    return ylm @ _e3nn_matrix(lmax).T


def from_e3nn(ylm: np.ndarray, lmax: int) -> np.ndarray:
    """Inverse of :func:`to_e3nn`: e3nn's harmonics at ``v`` → ours at the same ``v``.

    Applies the transpose of the orthogonal matrix of :func:`to_e3nn` to the last axis (same
    verification status as :func:`to_e3nn`).
    """
    ylm, lmax = _check_last_axis(ylm, lmax)
    return ylm @ _e3nn_matrix(lmax)


def to_sphericart(ylm: np.ndarray, lmax: int) -> np.ndarray:
    r"""Our real harmonics → sphericart's ``SphericalHarmonics`` (values are identical).

    sphericart's real harmonics (``sphericart.SphericalHarmonics(l_max).compute(xyz)``,
    sphericart ≥ 2.0) use the same functions, the same ``m = −l..l`` order and the same flat
    index ``l² + l + m`` as ours, with no extra ``(−1)^m``; this function therefore returns a
    copy. Differences to keep in mind:

    * gradients: sphericart's ``compute_with_gradients`` returns ``dsph`` of shape
      ``(n, 3, (lmax + 1)²)``, ours ``(n, (lmax + 1)², 3)``: use
      ``np.swapaxes(dY, -1, -2)``;
    * ``sphericart.SolidHarmonics`` returns ``r^l Y_lm`` (no division by ``|r|^l``).

    Verified numerically against sphericart 2.0.4 (values and gradients, ``l ≤ 12``, agreement
    to ``~1e-13``) during development; the test suite repeats the check when sphericart is
    importable and skips it otherwise. Older sphericart 1.x exposed ``normalized=False``
    (non-normalized) harmonics by default; this converter targets the normalized ones.
    """
    ylm, lmax = _check_last_axis(ylm, lmax)
    return ylm.copy()


def from_sphericart(ylm: np.ndarray, lmax: int) -> np.ndarray:
    """Inverse of :func:`to_sphericart` (the identity on values; returns a copy)."""
    ylm, lmax = _check_last_axis(ylm, lmax)
    return ylm.copy()
