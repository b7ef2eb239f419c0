r"""Radial functions without an ML-PACE family, written in ML-PACE's ``ChebPow`` basis.

ML-PACE builds every radial function of a ``.yace`` file as ``R_{nl}(r) = Σ_k c_{nlk} g_k(r)``
from one of a few analytic families ``g_k`` (``ace_radial.cpp``) and reads no tables. With the
parameter ``λ = 1`` its ``ChebPow`` family is

.. math::

    g_k(r) = \tfrac12\big(1 - T_{k+1}(x)\big), \qquad x = 2 r / r_c - 1, \qquad
    k = 0, \dots, N - 1,

(``T_j`` Chebyshev polynomials of the first kind), whose span is exactly the polynomials in
``r`` of degree ``≤ N`` that vanish at ``r_c``. Our Bessel radial functions
``√(2/r_c) sin(nπr/r_c)/r · f_p(r/r_c)`` are entire functions of ``r`` (``sin z / z`` is entire,
the envelope a polynomial) that vanish at ``r_c``, so their Chebyshev series on ``[0, r_c]``
converges faster than any geometric rate; the polynomial (Legendre of a transformed distance)
radial functions are analytic on ``[0, r_c]`` and converge geometrically.

:func:`chebpow_representation` expands each ``R_n`` as ``Σ_{j=0}^{N} a_{nj} T_j(x)`` by a
least-squares fit at ``4N`` Chebyshev points of the first kind (near-best in the maximum norm),
imposes ``R_n(r_c) = 0`` exactly through ``a_{n0} = −Σ_{j≥1} a_{nj}``, and rewrites it as
``R_n = Σ_k c_{nk} g_k`` with ``c_{nk} = −2 a_{n,k+1}``. It raises ``N`` from :data:`START_TERMS` in
steps of :data:`STEP_TERMS` until the error measured on a dense grid is below the tolerance,
and refuses (``ValueError``) if :data:`MAX_TERMS` is not enough. This is not an identity of
functions as for ``SBessel``: it is a representation whose error is measured and stated
(``value_error``, ``derivative_error``), by default ≤ 1e-12 of the largest value (measured
7.6e-15 for the default basis), orders of magnitude below the error of the cubic spline
ML-PACE then builds of every radial function (``deltaSplineBins``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.polynomial import chebyshev

__all__ = [
    "ChebPowRepresentation",
    "chebpow_basis",
    "chebpow_representation",
    "VALUE_RTOL",
    "DERIVATIVE_RTOL",
    "START_TERMS",
    "STEP_TERMS",
    "MAX_TERMS",
    "CHECK_POINTS",
    "DERIVATIVE_CHECK_FROM",
]

VALUE_RTOL = 1e-12
"""Largest accepted ``max_r |R_n − R̃_n| / max_{n,r} |R_n|`` of a representation."""

DERIVATIVE_RTOL = 1e-10
"""Largest accepted ``max_r |R_n' − R̃_n'| / max_{n,r} |R_n'|`` (for ``r ≥``
:data:`DERIVATIVE_CHECK_FROM` ``· r_c``)."""

START_TERMS = 16
"""First number of ``ChebPow`` functions tried."""

STEP_TERMS = 8
"""Functions added per try until the tolerances hold (the smallest such ``N`` up to this step
is used: every extra function is one more rank-1 function per species pair in the file)."""

MAX_TERMS = 256
"""Most ``ChebPow`` functions :func:`chebpow_representation` uses before it refuses."""

CHECK_POINTS = 20_001
"""Points of the uniform grid on ``(0, r_c)`` on which the error is measured."""

DERIVATIVE_CHECK_FROM = 0.02
"""Derivatives are compared for ``r ≥`` this fraction of ``r_c``: below, the reference
``(kr cos kr − sin kr)/r²`` of the Bessel functions itself loses digits to cancellation
(the values are compared on the whole grid)."""


@dataclass(frozen=True)
class ChebPowRepresentation:
    """``R_n(r) = Σ_k coefficients[n−1, k] g_k(r)`` in ML-PACE's ``ChebPow`` (``λ = 1``)."""

    r_cut: float
    coefficients: np.ndarray
    """Shape ``(n_max, n_terms)``."""
    value_error: float
    """Measured ``max |R − R̃| / max |R|`` on the check grid."""
    derivative_error: float
    """Measured ``max |R' − R̃'| / max |R'|`` on the check grid (``r ≥ 0.02 r_c``)."""

    @property
    def n_terms(self) -> int:
        return int(self.coefficients.shape[1])


def chebpow_basis(r, r_cut: float, n_terms: int) -> tuple[np.ndarray, np.ndarray]:
    """ML-PACE's ``ChebPow`` functions at ``λ = 1`` and their derivatives, shape ``(len(r), N)``.

    ``g_k(r) = (1 − T_{k+1}(2r/r_c − 1))/2`` for ``0 < r < r_c``, zero elsewhere (as
    ``ACERadialFunctions::radbase`` cuts them), ``k = 0..N−1``.
    """
    if n_terms < 1:
        raise ValueError(f"n_terms must be at least 1, got {n_terms}")
    r = np.atleast_1d(np.asarray(r, dtype=float))
    x = 2.0 * r / r_cut - 1.0
    # T_j by T_{j+1} = 2x T_j − T_{j−1}; T_j' = j U_{j−1} with U by the same recurrence
    T = np.empty((len(r), n_terms + 1))
    U = np.empty((len(r), n_terms + 1))
    T[:, 0], U[:, 0] = 1.0, 1.0
    T[:, 1], U[:, 1] = x, 2.0 * x
    for j in range(1, n_terms):
        T[:, j + 1] = 2.0 * x * T[:, j] - T[:, j - 1]
        U[:, j + 1] = 2.0 * x * U[:, j] - U[:, j - 1]
    dT = np.arange(1, n_terms + 1) * U[:, :n_terms]  # T_1' .. T_N'
    inside = ((r > 0.0) & (r < r_cut))[:, None]
    g = np.where(inside, 0.5 - 0.5 * T[:, 1:], 0.0)
    dg = np.where(inside, -0.5 * dT * (2.0 / r_cut), 0.0)
    return g, dg


def _expand(radial, n: int) -> np.ndarray:
    """Chebyshev coefficients ``a`` (``(n + 1, n_max)``) of ``radial`` on ``[0, r_c]``,
    least squares at ``4n`` first-kind points, with ``Σ_j a_j = R(r_c) = 0`` imposed."""
    m = 4 * n
    x = np.cos(np.pi * (np.arange(m) + 0.5) / m)
    values, _ = radial(0.5 * (x + 1.0) * radial.r_cut)
    a = chebyshev.chebfit(x, values, n)
    a[0] = -a[1:].sum(axis=0)
    return a


def chebpow_representation(
    radial,
    value_rtol: float = VALUE_RTOL,
    derivative_rtol: float = DERIVATIVE_RTOL,
    max_terms: int = MAX_TERMS,
) -> ChebPowRepresentation:
    """The ``ChebPow`` coefficients of every function of ``radial`` (see the module docstring).

    Parameters
    ----------
    radial
        A radial basis of :mod:`ace_ref.one_particle.radial` (``n_max``, ``r_cut``, callable
        returning values and derivatives, zero at and beyond ``r_c``) that is smooth on
        ``[0, r_c]``.
    value_rtol, derivative_rtol
        Accepted errors relative to the largest value (derivative) of any of its functions.
    max_terms
        Most ``ChebPow`` functions to use.

    Raises
    ------
    ValueError
        If ``max_terms`` functions do not reach the tolerances (the message gives the error
        reached), e.g. for a radial basis with a kink or a singular transform inside ``(0, r_c)``.
    """
    rc = float(radial.r_cut)
    r = np.linspace(0.0, rc, CHECK_POINTS)[1:-1]
    R, dR = radial(r)
    value_scale = float(np.abs(R).max())
    dmask = r >= DERIVATIVE_CHECK_FROM * rc
    derivative_scale = float(np.abs(dR[dmask]).max())
    n = START_TERMS
    while True:
        a = _expand(radial, n)
        c = -2.0 * a[1:].T  # (n_max, n): R_n = Σ_k c_{n k} g_k
        g, dg = chebpow_basis(r, rc, n)
        value_error = float(np.abs(g @ c.T - R).max()) / value_scale
        derivative_error = float(np.abs((dg @ c.T - dR)[dmask]).max()) / derivative_scale
        if value_error <= value_rtol and derivative_error <= derivative_rtol:
            return ChebPowRepresentation(rc, c, value_error, derivative_error)
        if n >= max_terms:
            raise ValueError(
                f"{type(radial).__name__} (r_cut {rc:g}): {n} ChebPow functions reach a "
                f"relative error of {value_error:.1e} in the values and {derivative_error:.1e} "
                f"in the derivatives, above {value_rtol:g} and {derivative_rtol:g}"
            )
        n = min(n + STEP_TERMS, max_terms)
