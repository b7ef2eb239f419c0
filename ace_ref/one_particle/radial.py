r"""Radial bases ``R_n(r)``, ``n = 1..n_max`` (pacemaker numbering), with first derivatives.

The one-particle basis is ``φ_{nlm}(r_ij) = R_n(r) Y_lm(r̂)``; ``R_n`` does not depend on ``l``
and every species pair may carry its own radial object (own cutoff and parameters).

Envelope
--------
Bessel and polynomial kinds are multiplied by the NequIP polynomial envelope (``x = r/r_c``,
integer ``p ≥ 1``)

.. math::

    f_p(x) = 1 - \frac{(p+1)(p+2)}{2} x^p + p(p+2) x^{p+1} - \frac{p(p+1)}{2} x^{p+2}
    \quad (x < 1), \qquad f_p(x) = 0 \quad (x \ge 1),

    f_p'(x) = -\frac{p(p+1)(p+2)}{2} x^{p-1} (1 - x)^2 \quad (x < 1).

``f_p(1) = f_p'(1) = f_p''(1) = 0``, so ``R_n`` is C² across ``r_c``.

Kinds
-----
* :class:`BesselRadial`: ``R_n(r) = √(2/r_c) sin(nπ r/r_c)/r · f_p(r/r_c)``.
* :class:`PolynomialRadial`: ``R_n(r) = P_{n−1}(y(r)) f_p(r/r_c)``, Legendre polynomials of a
  transformed distance ``x(r)`` mapped linearly to ``y`` with ``y(r_c) = −1``, ``y(r_in) = +1``.
  ``x`` is the ACE1 ``PolyTransform`` ``((1 + r_0)/(1 + r))^q`` (default) or the generalised
  Agnesi transform of ACEpotentials.
* :class:`ACE1Radial`: ``R_n(r) = P_{n−1}(2u − 1) u^{p} (1 − u)^{p_in}`` with
  ``u = (x(r) − x(r_c))/(x(r_in) − x(r_c))`` and ``x = ((1 + r_0)/(1 + r))^q`` (integer ``q``):
  the envelope is a polynomial in the *transformed* distance, as in ACE1.jl. This is the form
  ML-PACE (LAMMPS ``pair_style pace``) evaluates analytically as radial basis
  ``ACE.jl.Basic``, so models built on it export to ``.yace`` exactly (:mod:`ace_ref.models.yace`).
* :class:`SBesselRadial`: the "simplified Bessel" functions of Kocer, Mason & Erturk
  (J. Chem. Phys. 150, 154102 (2019)) as ML-PACE defines them (radial basis ``SBessel``):
  sums of two neighbouring ``sin(kπr/r_c)/r`` made C² at ``r_c`` without an envelope, then
  orthogonalised by a two-term recursion. ML-PACE evaluates the same formula, so these models
  also export to ``.yace`` exactly (up to ML-PACE's own radial spline).

Numba interface
---------------
``kind.params()`` packs a kind into a float64 vector of length :data:`MAX_PARAMS` (rows of
different pairs/kinds stack into a 2-D table); :func:`radial_with_derivative` evaluates one
distance from such a row without allocating. Layout (unused entries are zero):

=====  ============  ========================  ====================  ===============
index  Bessel        Polynomial                ACE1                  SBessel
=====  ============  ========================  ====================  ===============
0      kind (0)      kind (1)                  kind (2)              kind (3)
1      r_c           r_c                       r_c                   r_c
2      envelope p    envelope p                envelope p (of u)     0
3      √(2/r_c)      r_0                       r_0                   π/r_c
4      π/r_c         q                         q                     √2 π/r_c^{3/2}
5      0             r_in                      r_in                  0
6      0             transform (0 poly,        p_in                  0
                     1 agnesi)
7      0             Agnesi p (0 for poly)     0                     0
8      0             Agnesi a (0 for poly)     0                     0
9      0             x(r_c)                    x(r_c)                0
10     0             2/(x(r_in) − x(r_c))      1/(x(r_in) − x(r_c))  0
11     0             0 (reserved)              0                     0
=====  ============  ========================  ====================  ===============

Entries 3–4 (Bessel, SBessel), 9–10 (polynomial, ACE1) are derived from the others; the kernel
trusts them.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, fields
from typing import ClassVar

import numpy as np
from numba import njit

__all__ = [
    "MAX_PARAMS",
    "KIND_BESSEL",
    "KIND_POLYNOMIAL",
    "KIND_ACE1",
    "KIND_SBESSEL",
    "TRANSFORM_POLY",
    "TRANSFORM_AGNESI",
    "BesselRadial",
    "PolynomialRadial",
    "ACE1Radial",
    "SBesselRadial",
    "radial_from_dict",
    "RadialSpec",
    "make_radial",
    "radial_with_derivative",
    "envelope_polynomial",
]

MAX_PARAMS = 12
"""Length of every ``params()`` vector (see the module docstring for the layout)."""

KIND_BESSEL = 0
KIND_POLYNOMIAL = 1
KIND_ACE1 = 2
KIND_SBESSEL = 3

TRANSFORM_POLY = 0
TRANSFORM_AGNESI = 1
_TRANSFORMS = {"poly": TRANSFORM_POLY, "agnesi": TRANSFORM_AGNESI}


# --------------------------------------------------------------------------------------------
# Numba kernels
# --------------------------------------------------------------------------------------------


@njit(cache=True)
def envelope_polynomial(x, p):
    r"""NequIP polynomial envelope and its derivative (scalar, Numba-compiled).

    Parameters
    ----------
    x : float
        Reduced distance ``r / r_c`` (``x ≥ 0``).
    p : float
        Envelope exponent (an integer value ``≥ 1``).

    Returns
    -------
    f, df : float
        ``f_p(x) = 1 − (p+1)(p+2)/2 x^p + p(p+2) x^{p+1} − p(p+1)/2 x^{p+2}`` and
        ``f_p'(x) = −p(p+1)(p+2)/2 · x^{p−1} (1 − x)²`` for ``x < 1``; ``(0, 0)`` for ``x ≥ 1``.
    """
    if x >= 1.0:
        return 0.0, 0.0
    xpm1 = x ** (p - 1.0)
    xp = xpm1 * x
    f = 1.0 - xp * (0.5 * (p + 1.0) * (p + 2.0) - p * (p + 2.0) * x + 0.5 * p * (p + 1.0) * x * x)
    om = 1.0 - x
    df = -0.5 * p * (p + 1.0) * (p + 2.0) * xpm1 * om * om
    return f, df


@njit(cache=True)
def _ace1_radial(params, n_max, r, R_out, dR_out):
    """ACE1Radial inside ``(r_in, r_c)`` (or ``(0, r_c)`` when ``p_in = 0``); see the class."""
    q = params[4]
    x = ((1.0 + params[3]) / (1.0 + r)) ** q
    dx = -q * x / (1.0 + r)
    inv_d = params[10]
    u = (x - params[9]) * inv_d
    du = dx * inv_d
    p = params[2]
    p_in = params[6]
    e = u**p
    de = p * u ** (p - 1.0) * du
    if p_in > 0.0:
        w = 1.0 - u
        e_in = w**p_in
        de = de * e_in - e * p_in * w ** (p_in - 1.0) * du
        e = e * e_in
    y = 2.0 * u - 1.0
    dy = 2.0 * du
    _legendre_times(n_max, y, dy, e, de, R_out, dR_out)


@njit(cache=True)
def _sbessel_radial(params, n_max, r, R_out, dR_out):
    """SBesselRadial for ``0 < r < r_c``; see the class for the formula.

    ``S_k = sin(kπr/r_c)/(kπr/r_c)`` and ``dS_k/dr = (cos(kπr/r_c) − S_k)/r`` for
    ``k = 1..n_max+1`` come from one sine and cosine by angle addition.
    """
    a = params[3]  # π / r_c
    pref = params[4]  # √2 π / r_c^{3/2}
    inv_r = 1.0 / r
    s1 = math.sin(a * r)
    c1 = math.cos(a * r)
    s = s1
    c = c1
    S_lo = s * inv_r / a  # S_1
    dS_lo = (c - S_lo) * inv_r
    d_prev = 1.0
    g_prev = 0.0
    dg_prev = 0.0
    for n in range(n_max):
        s, c = s * c1 + c * s1, c * c1 - s * s1  # sin, cos of (n + 2) a r
        S_hi = s * inv_r / ((n + 2) * a)
        dS_hi = (c - S_hi) * inv_r
        m = (n + 1.0) * (n + 2.0)
        cn = pref * m / math.sqrt((n + 1.0) ** 2 + (n + 2.0) ** 2)
        if n % 2 == 1:
            cn = -cn
        f = cn * (S_lo + S_hi)
        df = cn * (dS_lo + dS_hi)
        if n == 0:
            g = f
            dg = df
        else:
            e = n * n * (n + 2.0) ** 2 / (4.0 * (n + 1.0) ** 4 + 1.0)
            d = 1.0 - e / d_prev
            w = math.sqrt(e / d_prev)
            inv_sd = 1.0 / math.sqrt(d)
            g = inv_sd * (f + w * g_prev)
            dg = inv_sd * (df + w * dg_prev)
            d_prev = d
        R_out[n] = g
        dR_out[n] = dg
        g_prev = g
        dg_prev = dg
        S_lo = S_hi
        dS_lo = dS_hi


@njit(cache=True)
def _legendre_times(n_max, y, dy, f, df, R_out, dR_out):
    """``R_n = P_{n−1}(y) f`` and ``dR_n/dr = P'_{n−1}(y) y' f + P_{n−1}(y) f'`` for n = 1..n_max.

    Legendre recursion: ``(k+1) P_{k+1} = (2k+1) y P_k − k P_{k−1}``,
    ``P'_{k+1} = P'_{k−1} + (2k+1) P_k``.
    """
    P_prev = 0.0
    P = 1.0
    dP_prev = 0.0
    dP = 0.0
    for n in range(n_max):
        R_out[n] = P * f
        dR_out[n] = dP * dy * f + P * df
        P_next = ((2.0 * n + 1.0) * y * P - n * P_prev) / (n + 1.0)
        dP_next = dP_prev + (2.0 * n + 1.0) * P
        P_prev = P
        P = P_next
        dP_prev = dP
        dP = dP_next


@njit(cache=True)
def radial_with_derivative(params, n_max, r, R_out, dR_out):
    """Evaluate ``R_n(r)`` and ``dR_n/dr`` for ``n = 1..n_max`` from a packed parameter row.

    Parameters
    ----------
    params : float64[:]
        A row produced by a radial kind's ``params()`` (length
        :data:`MAX_PARAMS`); ``int(params[0])`` selects the kind.
    n_max : int
        Number of radial functions to evaluate (``≤ len(R_out)``).
    r : float
        Distance, ``r > 0`` (not checked here).
    R_out, dR_out : float64[:]
        Output buffers; entries ``0..n_max-1`` receive ``R_{n}`` / ``R_{n}'`` with ``n`` = index
        + 1. Entries from ``n_max`` on are left untouched. For ``r ≥ r_c`` both are set to zero.

    Notes
    -----
    Does not allocate. An unknown kind or transform code raises ``ValueError``.
    """
    kind = int(params[0])
    rc = params[1]
    if r >= rc or (kind == KIND_ACE1 and params[6] > 0.0 and r <= params[5]):
        for n in range(n_max):
            R_out[n] = 0.0
            dR_out[n] = 0.0
        return
    if kind == KIND_ACE1:
        _ace1_radial(params, n_max, r, R_out, dR_out)
        return
    if kind == KIND_SBESSEL:
        _sbessel_radial(params, n_max, r, R_out, dR_out)
        return
    f, dfdx = envelope_polynomial(r / rc, params[2])
    df = dfdx / rc
    if kind == KIND_BESSEL:
        norm = params[3]
        k1 = params[4]  # π / r_c
        inv_r = 1.0 / r
        s1 = math.sin(k1 * r)
        c1 = math.cos(k1 * r)
        s = s1  # sin(n k1 r), cos(n k1 r) by angle addition
        c = c1
        for n in range(n_max):
            k = (n + 1) * k1
            g = norm * s * inv_r
            dg = (norm * k * c - g) * inv_r
            R_out[n] = g * f
            dR_out[n] = dg * f + g * df
            s, c = s * c1 + c * s1, c * c1 - s * s1
    elif kind == KIND_POLYNOMIAL:
        tcode = int(params[6])
        if tcode == TRANSFORM_POLY:
            # x = ((1 + r0)/(1 + r))^q,  dx/dr = −q x/(1 + r)
            x = ((1.0 + params[3]) / (1.0 + r)) ** params[4]
            dx = -params[4] * x / (1.0 + r)
        elif tcode == TRANSFORM_AGNESI:
            # x = 1/(1 + a g(s)), g = s^q/(1 + s^(q−p)), s = r/r0
            r0 = params[3]
            q = params[4]
            pa = params[7]
            a = params[8]
            s = r / r0
            sq = s**q
            t = s ** (q - pa)
            g = sq / (1.0 + t)
            dg = sq / s * (q + pa * t) / ((1.0 + t) * (1.0 + t))
            x = 1.0 / (1.0 + a * g)
            dx = -a * dg / r0 * x * x
        else:
            raise ValueError("radial_with_derivative: unknown transform code in params[6]")
        slope = params[10]
        y = slope * (x - params[9]) - 1.0
        dy = slope * dx
        _legendre_times(n_max, y, dy, f, df, R_out, dR_out)
    else:
        raise ValueError("radial_with_derivative: unknown radial kind code in params[0]")


# --------------------------------------------------------------------------------------------
# NumPy reference path (independent of the kernel; used by __call__)
# --------------------------------------------------------------------------------------------


def _legendre_np(y: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``P_k(y)`` and ``P_k'(y)`` for ``k = 0..n−1`` (columns), from NumPy's Legendre module:
    an implementation independent of the recurrence in the Numba kernel."""
    P = np.polynomial.legendre.legvander(y, n - 1)
    if n == 1:
        return P, np.zeros_like(P)
    dP = np.polynomial.legendre.legvander(y, n - 2) @ np.polynomial.legendre.legder(np.eye(n))
    return P, dP


def _envelope_np(x: np.ndarray, p: float) -> tuple[np.ndarray, np.ndarray]:
    """Envelope and d/dx for ``x < 1`` (caller masks ``x ≥ 1``)."""
    f = (
        1.0
        - (p + 1) * (p + 2) / 2 * x**p
        + p * (p + 2) * x ** (p + 1)
        - p * (p + 1) / 2 * x ** (p + 2)
    )
    df = (
        -(p + 1) * (p + 2) / 2 * p * x ** (p - 1)
        + p * (p + 2) * (p + 1) * x**p
        - p * (p + 1) / 2 * (p + 2) * x ** (p + 1)
    )
    return f, df


def _validate_r(r) -> np.ndarray:
    arr = np.asarray(r, dtype=np.float64)
    if arr.ndim > 1:
        raise ValueError(f"r must be a scalar or a 1-D array of distances, got shape {arr.shape}")
    arr = np.atleast_1d(arr)
    bad = ~np.isfinite(arr)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"r must be finite; r[{i}] = {arr[i]!r}")
    bad = arr <= 0
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"r must be positive (r > 0); r[{i}] = {arr[i]!r}")
    return arr


def _real(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return value


def _integer(name: str, value, minimum: int) -> int:
    ok = not isinstance(value, bool) and (
        isinstance(value, numbers.Integral)
        or (isinstance(value, numbers.Real) and float(value).is_integer())
    )
    if not ok or int(value) < minimum:
        raise ValueError(f"{name} must be an integer ≥ {minimum}, got {value!r}")
    return int(value)


class _RadialBase:
    """Shared behaviour: validation helpers, ``__call__``, (de)serialisation."""

    kind: ClassVar[int]
    name: ClassVar[str]
    n_max: int
    r_cut: float
    envelope_p: int

    def _check_common(self, envelope: bool = True) -> None:
        object.__setattr__(self, "n_max", _integer("n_max", self.n_max, 1))
        r_cut = _real("r_cut", self.r_cut)
        if r_cut <= 0:
            raise ValueError(f"r_cut must be positive, got {r_cut!r}")
        object.__setattr__(self, "r_cut", r_cut)
        if envelope:
            object.__setattr__(self, "envelope_p", _integer("envelope_p", self.envelope_p, 1))

    def params(self) -> np.ndarray:  # pragma: no cover - overridden
        raise NotImplementedError

    def _inside(self, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
        raise NotImplementedError

    def __call__(self, r) -> tuple[np.ndarray, np.ndarray]:
        """Values and radial derivatives (vectorised NumPy, independent of the Numba kernel).

        Parameters
        ----------
        r : float or array_like, shape (m,)
            Distances; must be finite and ``> 0``.

        Returns
        -------
        R, dR : ndarray, shape (m, n_max)
            ``R[i, n−1] = R_n(r_i)`` and ``dR[i, n−1] = R_n'(r_i)``; exactly zero where
            ``r_i ≥ r_cut``.

        Raises
        ------
        ValueError
            If ``r`` is not finite, not positive, or has more than one dimension.
        """
        r = _validate_r(r)
        R = np.zeros((len(r), self.n_max))
        dR = np.zeros((len(r), self.n_max))
        inside = r < self.r_cut
        if inside.any():
            R[inside], dR[inside] = self._inside(r[inside])
        return R, dR

    def to_dict(self) -> dict:
        """Plain-JSON description: ``{"type": name, <field>: value, ...}``."""
        return {"type": self.name, **{f.name: getattr(self, f.name) for f in fields(self)}}

    @classmethod
    def from_dict(cls, d: dict):
        """Inverse of :meth:`to_dict` (``"type"`` may be omitted but must match if present)."""
        d = dict(d)
        t = d.pop("type", cls.name)
        if t != cls.name:
            raise ValueError(f"{cls.__name__}.from_dict: type must be {cls.name!r}, got {t!r}")
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"{cls.__name__}.from_dict: unknown keys {unknown}")
        return cls(**d)


@dataclass(frozen=True)
class BesselRadial(_RadialBase):
    r"""Bessel radial basis with the NequIP envelope.

    .. math::

        R_n(r) = \sqrt{2/r_c}\, \frac{\sin(n \pi r / r_c)}{r}\, f_p(r/r_c), \qquad n = 1..n_{max},

    with ``f_p`` the polynomial envelope of :func:`envelope_polynomial`; ``R_n = 0`` for
    ``r ≥ r_c``.

    Parameters
    ----------
    n_max : int
        Number of radial functions (``≥ 1``).
    r_cut : float
        Cutoff ``r_c > 0``.
    envelope_p : int, default 6
        Envelope exponent ``p ≥ 1``.

    Notes
    -----
    ``params()`` layout: ``[0, r_c, p, √(2/r_c), π/r_c, 0, …]`` (length :data:`MAX_PARAMS`).
    """

    n_max: int
    r_cut: float
    envelope_p: int = 6

    kind: ClassVar[int] = KIND_BESSEL
    name: ClassVar[str] = "bessel"

    def __post_init__(self):
        self._check_common()

    def params(self) -> np.ndarray:
        """Packed float64 parameter row for :func:`radial_with_derivative`."""
        out = np.zeros(MAX_PARAMS)
        out[:5] = (
            self.kind,
            self.r_cut,
            self.envelope_p,
            math.sqrt(2.0 / self.r_cut),
            math.pi / self.r_cut,
        )
        return out

    def _inside(self, r):
        rc, p = self.r_cut, self.envelope_p
        f, dfdx = _envelope_np(r / rc, p)
        df = dfdx / rc
        k = np.arange(1, self.n_max + 1) * np.pi / rc
        kr = np.outer(r, k)
        rr = r[:, None]
        g = np.sqrt(2.0 / rc) * np.sin(kr) / rr
        dg = np.sqrt(2.0 / rc) * (k * np.cos(kr) * rr - np.sin(kr)) / rr**2
        return g * f[:, None], dg * f[:, None] + g * df[:, None]


@dataclass(frozen=True)
class PolynomialRadial(_RadialBase):
    r"""ACE-style radial basis: Legendre polynomials of a transformed distance.

    .. math::

        R_n(r) = P_{n-1}\big(y(r)\big)\, f_p(r/r_c), \qquad
        y(r) = -1 + 2\,\frac{x(r) - x(r_c)}{x(r_{in}) - x(r_c)},

    so ``y(r_c) = −1`` and ``y(r_in) = +1``; ``P_k`` are Legendre polynomials (three-term
    recurrence, derivatives by ``P'_{k+1} = P'_{k−1} + (2k+1) P_k``), ``f_p`` the polynomial
    envelope, ``R_n = 0`` for ``r ≥ r_c``. Transforms ``x(r)``:

    * ``transform="poly"`` (ACE1 ``PolyTransform``): ``x(r) = ((1 + r_0)/(1 + r))^q``.
      The constant factor ``(1 + r_0)^q`` cancels in ``y``, so for this transform ``r_0``
      does not change the basis (it only normalises ``x(r_0) = 1``, as in ACE1).
    * ``transform="agnesi"`` (generalised Agnesi transform of ACEpotentials), with
      ``s = r/r_0``, exponents ``p_A = agnesi_p ≤ q``:
      ``x(r) = 1 / (1 + a s^q / (1 + s^{q − p_A}))``,
      ``a = (−2q + p_A(4q − 2)) / (p_A + p_A² + q + q²)`` (ACEpotentials' default, which puts
      the maximum of ``|x'|`` at ``r_0``).

    Both transforms decrease strictly with ``r``. Below ``r_in`` the same formula is evaluated
    (``y > 1``, so ``|P_{n−1}(y)|`` grows; nothing is clamped).

    Parameters
    ----------
    n_max : int
        Number of radial functions (``≥ 1``); ``R_n`` has polynomial degree ``n − 1`` in ``y``.
    r_cut : float
        Cutoff ``r_c > 0``.
    r_0 : float
        Transform scale ``r_0 > 0`` (typical nearest-neighbour distance).
    q : float, default 2
        Transform exponent ``q > 0``.
    r_in : float, default 0
        Inner distance mapped to ``y = +1``; ``0 ≤ r_in < r_c``.
    envelope_p : int, default 6
        Envelope exponent ``p ≥ 1``.
    transform : {"poly", "agnesi"}, default "poly"
        Distance transform.
    agnesi_p : float, default 2
        Inner exponent ``p_A`` of the Agnesi transform (``0 < p_A ≤ q``); ignored for "poly".

    Notes
    -----
    ``params()`` layout: ``[1, r_c, p, r_0, q, r_in, transform code, p_A, a, x(r_c),
    2/(x(r_in) − x(r_c)), 0]``; ``p_A`` and ``a`` are zero for "poly".
    """

    n_max: int
    r_cut: float
    r_0: float
    q: float = 2.0
    r_in: float = 0.0
    envelope_p: int = 6
    transform: str = "poly"
    agnesi_p: float = 2.0

    kind: ClassVar[int] = KIND_POLYNOMIAL
    name: ClassVar[str] = "polynomial"

    def __post_init__(self):
        self._check_common()
        r_0 = _real("r_0", self.r_0)
        if r_0 <= 0:
            raise ValueError(f"r_0 must be positive, got {r_0!r}")
        q = _real("q", self.q)
        if q <= 0:
            raise ValueError(f"q must be positive, got {q!r}")
        r_in = _real("r_in", self.r_in)
        if not 0 <= r_in < self.r_cut:
            raise ValueError(f"r_in must satisfy 0 ≤ r_in < r_cut = {self.r_cut}, got {r_in!r}")
        if self.transform not in _TRANSFORMS:
            raise ValueError(
                f"transform must be one of {sorted(_TRANSFORMS)}, got {self.transform!r}"
            )
        agnesi_p = _real("agnesi_p", self.agnesi_p)
        if self.transform == "agnesi":
            if not 0 < agnesi_p <= q:
                raise ValueError(f"agnesi_p must satisfy 0 < agnesi_p ≤ q = {q}, got {agnesi_p!r}")
            if _agnesi_a(agnesi_p, q) <= 0:
                raise ValueError(
                    f"agnesi_p = {agnesi_p}, q = {q} give a non-positive Agnesi constant a; "
                    "increase agnesi_p or q"
                )
        for name, value in (("r_0", r_0), ("q", q), ("r_in", r_in), ("agnesi_p", agnesi_p)):
            object.__setattr__(self, name, value)

    @property
    def agnesi_a(self) -> float:
        """The Agnesi constant ``a`` (only meaningful for ``transform="agnesi"``)."""
        return _agnesi_a(self.agnesi_p, self.q)

    def _x(self, r) -> float | np.ndarray:
        """Transform ``x(r)`` (NumPy; also valid at ``r = 0``)."""
        r = np.asarray(r, dtype=float)
        if self.transform == "poly":
            return ((1.0 + self.r_0) / (1.0 + r)) ** self.q
        s = r / self.r_0
        return 1.0 / (1.0 + self.agnesi_a * s**self.q / (1.0 + s ** (self.q - self.agnesi_p)))

    def _dx(self, r: np.ndarray, x: np.ndarray) -> np.ndarray:
        """``dx/dr`` for ``r > 0`` given ``x = x(r)`` (NumPy)."""
        if self.transform == "poly":
            return -self.q * x / (1.0 + r)
        q, pa = self.q, self.agnesi_p
        s = r / self.r_0
        t = s ** (q - pa)
        # quotient rule on g(s) = s^q / (1 + s^(q − p_A))
        dg = (q * s ** (q - 1) * (1 + t) - s**q * (q - pa) * s ** (q - pa - 1)) / (1 + t) ** 2
        return -self.agnesi_a * dg / self.r_0 * x**2

    def params(self) -> np.ndarray:
        """Packed float64 parameter row for :func:`radial_with_derivative`."""
        x_c = float(self._x(self.r_cut))
        x_in = float(self._x(self.r_in))
        agnesi = self.transform == "agnesi"
        out = np.zeros(MAX_PARAMS)
        out[:11] = (
            self.kind,
            self.r_cut,
            self.envelope_p,
            self.r_0,
            self.q,
            self.r_in,
            _TRANSFORMS[self.transform],
            self.agnesi_p if agnesi else 0.0,
            self.agnesi_a if agnesi else 0.0,
            x_c,
            2.0 / (x_in - x_c),
        )
        return out

    def _inside(self, r):
        rc = self.r_cut
        f, dfdx = _envelope_np(r / rc, self.envelope_p)
        df = dfdx / rc
        x = self._x(r)
        dx = self._dx(r, x)
        x_c = float(self._x(rc))
        x_in = float(self._x(self.r_in))
        y = -1.0 + 2.0 * (x - x_c) / (x_in - x_c)
        dy = 2.0 * dx / (x_in - x_c)
        P, dP = _legendre_np(y, self.n_max)
        return P * f[:, None], dP * (dy * f)[:, None] + P * df[:, None]


@dataclass(frozen=True)
class ACE1Radial(_RadialBase):
    r"""Legendre polynomials of the transformed distance with an envelope in that distance.

    .. math::

        x(r) = \Big(\frac{1 + r_0}{1 + r}\Big)^q, \qquad
        u(r) = \frac{x(r) - x(r_c)}{x(r_{in}) - x(r_c)}, \qquad
        R_n(r) = P_{n-1}(2u - 1)\, u^{p}\, (1 - u)^{p_{in}},

    for ``r_in < r < r_c`` (for all ``0 < r < r_c`` when ``p_in = 0``), ``R_n = 0`` for
    ``r ≥ r_c`` and, when ``p_in > 0``, for ``r ≤ r_in``. ``u`` falls from 1 at ``r_in`` to 0 at
    ``r_c``; ``P_k`` are Legendre polynomials. ``R_n`` and its first ``p − 1`` derivatives
    vanish at ``r_c`` (C^{p−1}); with ``p_in = 0`` nothing is clamped below ``r_in`` (``u > 1``).
    ``r_0`` cancels in ``u``: it only fixes the scale of ``x`` (kept because the exported file
    states it).

    This is the ACE1.jl form of a radial basis (polynomials in ``x`` times an envelope that is a
    polynomial in ``x``). ML-PACE evaluates exactly this family analytically, without splines,
    as radial basis ``ACE.jl.Basic`` — ``P_0 = A_0 f(x)``, ``P_1 = (A_1 x + B_1) P_0``,
    ``P_k = (A_k x + B_k) P_{k−1} + C_k P_{k−2}``, ``f = (x − x_l)^{p_l} (x − x_r)^{p_r}`` — so a
    model on this basis is written to ``.yace`` without approximation
    (:meth:`pace_recursion` gives the coefficients; :mod:`ace_ref.models.yace` writes them).

    Parameters
    ----------
    n_max : int
        Number of radial functions (``≥ 1``).
    r_cut : float
        Cutoff ``r_c > 0``.
    r_0 : float
        Transform scale ``r_0 > 0``.
    q : int, default 1
        Transform exponent (an integer ``≥ 1``: ML-PACE reads it as one). ``q = 1`` fitted
        acac and Ta better than ``q = 2`` (BENCHMARKS.md).
    r_in : float, default 0
        Distance where ``u = 1``; ``0 ≤ r_in < r_c``. With ``p_in = 0`` it does not change the
        space spanned by ``R_1..R_{n_max}`` (``u`` is affine in ``x``), only its conditioning.
    envelope_p : int, default 2
        Exponent ``p ≥ 1`` of ``u`` (smoothness at the cutoff).
    envelope_p_in : int, default 0
        Exponent ``p_in ≥ 0`` of ``1 − u`` (``> 0``: the functions vanish below ``r_in``).

    Notes
    -----
    ``params()`` layout: ``[2, r_c, p, r_0, q, r_in, p_in, 0, 0, x(r_c), 1/(x(r_in) − x(r_c)),
    0]``.
    """

    n_max: int
    r_cut: float
    r_0: float
    q: int = 1
    r_in: float = 0.0
    envelope_p: int = 2
    envelope_p_in: int = 0

    kind: ClassVar[int] = KIND_ACE1
    name: ClassVar[str] = "ace1"

    def __post_init__(self):
        self._check_common()
        r_0 = _real("r_0", self.r_0)
        if r_0 <= 0:
            raise ValueError(f"r_0 must be positive, got {r_0!r}")
        r_in = _real("r_in", self.r_in)
        if not 0 <= r_in < self.r_cut:
            raise ValueError(f"r_in must satisfy 0 ≤ r_in < r_cut = {self.r_cut}, got {r_in!r}")
        object.__setattr__(self, "q", _integer("q (ACE1Radial transform exponent)", self.q, 1))
        object.__setattr__(self, "envelope_p_in", _integer("envelope_p_in", self.envelope_p_in, 0))
        object.__setattr__(self, "r_0", r_0)
        object.__setattr__(self, "r_in", r_in)

    def _x(self, r) -> float | np.ndarray:
        """Transform ``x(r) = ((1 + r_0)/(1 + r))^q`` (NumPy; also valid at ``r = 0``)."""
        return ((1.0 + self.r_0) / (1.0 + np.asarray(r, dtype=float))) ** self.q

    def params(self) -> np.ndarray:
        """Packed float64 parameter row for :func:`radial_with_derivative`."""
        x_c = float(self._x(self.r_cut))
        x_in = float(self._x(self.r_in))
        out = np.zeros(MAX_PARAMS)
        out[:7] = (
            self.kind,
            self.r_cut,
            self.envelope_p,
            self.r_0,
            self.q,
            self.r_in,
            self.envelope_p_in,
        )
        out[9] = x_c
        out[10] = 1.0 / (x_in - x_c)
        return out

    def pace_recursion(self) -> dict:
        """Parameters of the same functions in ML-PACE's ``ACE.jl.Basic`` form.

        With ``a = 2/D``, ``b = −1 − a x(r_c)``, ``D = x(r_in) − x(r_c)`` (so ``2u − 1 =
        a x + b``), the Legendre recurrence ``k P_k = (2k−1)(2u−1) P_{k−1} − (k−1) P_{k−2}``
        gives ``A_0 = (−1)^{p_in}/D^{p + p_in}`` (``f = (x − x_l)^p (x − x_r)^{p_in}`` with
        ``x_l = x(r_c)``, ``x_r = x(r_in)``), ``A_1 = a``, ``B_1 = b`` and, for ``k ≥ 2``,
        ``A_k = (2k−1) a/k``, ``B_k = (2k−1) b/k``, ``C_k = −(k−1)/k``.

        When ``p_in = 0`` the factor ``(x − x_r)^0`` is 1 whatever ``x_r``; ML-PACE's derivative
        formula would still form ``0 · (x − x_r)^{−1}`` (NaN at ``x = x_r``), so ``x_r`` is then
        set to ``2 x(0) + 1``, a value ``x(r)`` never reaches for ``r ≥ 0``.

        Returns
        -------
        dict
            ``{"r0", "p", "rcut", "xl", "xr", "pl", "pr", "maxn", "A", "B", "C"}`` (Python
            ints and floats; lists of length ``n_max``).
        """
        x_c = float(self._x(self.r_cut))
        x_in = float(self._x(self.r_in))
        d = x_in - x_c
        a = 2.0 / d
        b = -1.0 - a * x_c
        n = self.n_max
        A, B, C = [0.0] * n, [0.0] * n, [0.0] * n
        A[0] = (-1.0) ** self.envelope_p_in / d ** (self.envelope_p + self.envelope_p_in)
        if n > 1:
            A[1], B[1] = a, b
        for k in range(2, n):
            A[k] = (2 * k - 1) * a / k
            B[k] = (2 * k - 1) * b / k
            C[k] = -(k - 1) / k
        xr = x_in if self.envelope_p_in > 0 else 2.0 * float(self._x(0.0)) + 1.0
        return {
            "r0": float(self.r_0),
            "p": int(self.q),
            "rcut": float(self.r_cut),
            "xl": x_c,
            "xr": xr,
            "pl": int(self.envelope_p),
            "pr": int(self.envelope_p_in),
            "maxn": int(n),
            "A": A,
            "B": B,
            "C": C,
        }

    def __call__(self, r) -> tuple[np.ndarray, np.ndarray]:
        R, dR = super().__call__(r)
        if self.envelope_p_in > 0:
            below = _validate_r(r) <= self.r_in
            R[below] = 0.0
            dR[below] = 0.0
        return R, dR

    __call__.__doc__ = _RadialBase.__call__.__doc__

    def _inside(self, r):
        x = self._x(r)
        dx = -self.q * x / (1.0 + r)
        x_c = float(self._x(self.r_cut))
        d = float(self._x(self.r_in)) - x_c
        u = (x - x_c) / d
        du = dx / d
        p, p_in = self.envelope_p, self.envelope_p_in
        e = u**p * (1.0 - u) ** p_in
        de = p * u ** (p - 1) * (1.0 - u) ** p_in * du
        if p_in > 0:
            de = de - u**p * p_in * (1.0 - u) ** (p_in - 1) * du
        y = 2.0 * u - 1.0
        P, dP = _legendre_np(y, self.n_max)
        return P * e[:, None], dP * (2.0 * du * e)[:, None] + P * de[:, None]


@dataclass(frozen=True)
class SBesselRadial(_RadialBase):
    r"""Simplified Bessel radial basis (Kocer, Mason & Erturk 2019), ML-PACE's ``SBessel``.

    .. math::

        f_k(r) = (-1)^k \frac{\sqrt2\,\pi}{r_c^{3/2}}
                 \frac{(k+1)(k+2)}{\sqrt{(k+1)^2 + (k+2)^2}}
                 \Big[\operatorname{sinc}\frac{(k+1)\pi r}{r_c}
                       + \operatorname{sinc}\frac{(k+2)\pi r}{r_c}\Big],
        \qquad \operatorname{sinc} x = \frac{\sin x}{x},

        e_k = \frac{k^2 (k+2)^2}{4 (k+1)^4 + 1}, \quad d_0 = 1, \quad
        d_k = 1 - \frac{e_k}{d_{k-1}},

        g_0 = f_0, \qquad g_k = \frac{1}{\sqrt{d_k}}
              \Big(f_k + \sqrt{\tfrac{e_k}{d_{k-1}}}\, g_{k-1}\Big),
        \qquad R_n = g_{n-1}, \; n = 1..n_{max},

    and ``R_n = 0`` for ``r ≥ r_c``. The two sincs of each ``f_k`` have opposite signs of
    their first and of their second derivative at ``r_c``, so every ``R_n`` is C² across the
    cutoff without an envelope; the recursion makes the functions orthonormal in the
    Kocer–Mason–Erturk sense. This is formula for formula what ML-PACE's
    ``ACERadialFunctions::simplified_bessel`` computes, so a model on this basis is written to
    ``.yace`` as radial basis ``SBessel`` with unit ``radcoefficients``
    (:mod:`ace_ref.models.yace`); ML-PACE then splines it (``deltaSplineBins``).

    Parameters
    ----------
    n_max : int
        Number of radial functions (``≥ 1``); ``R_n`` oscillates with wave numbers up to
        ``(n+1)π/r_c``.
    r_cut : float
        Cutoff ``r_c > 0``.

    Notes
    -----
    ``params()`` layout: ``[3, r_c, 0, π/r_c, √2 π/r_c^{3/2}, 0, …]``.
    """

    n_max: int
    r_cut: float

    kind: ClassVar[int] = KIND_SBESSEL
    name: ClassVar[str] = "sbessel"

    def __post_init__(self):
        self._check_common(envelope=False)

    def params(self) -> np.ndarray:
        """Packed float64 parameter row for :func:`radial_with_derivative`."""
        out = np.zeros(MAX_PARAMS)
        out[:5] = (
            self.kind,
            self.r_cut,
            0.0,
            math.pi / self.r_cut,
            math.sqrt(2.0) * math.pi / self.r_cut**1.5,
        )
        return out

    def _inside(self, r):
        rc = self.r_cut
        k = np.arange(1, self.n_max + 2)  # wave numbers kπ/r_c, k = 1..n_max+1
        x = np.outer(r, k) / rc
        S = np.sinc(x)  # NumPy's sinc is sin(πx)/(πx)
        dS = (np.cos(np.pi * x) - S) / r[:, None]
        n = np.arange(self.n_max)
        c = (
            (-1.0) ** n
            * math.sqrt(2.0)
            * math.pi
            / rc**1.5
            * (n + 1.0)
            * (n + 2.0)
            / np.sqrt((n + 1.0) ** 2 + (n + 2.0) ** 2)
        )
        f = c * (S[:, :-1] + S[:, 1:])
        df = c * (dS[:, :-1] + dS[:, 1:])
        g = np.empty_like(f)
        dg = np.empty_like(f)
        g[:, 0], dg[:, 0] = f[:, 0], df[:, 0]
        d_prev = 1.0
        for m in range(1, self.n_max):
            e = m**2 * (m + 2.0) ** 2 / (4.0 * (m + 1.0) ** 4 + 1.0)
            d = 1.0 - e / d_prev
            w = math.sqrt(e / d_prev)
            g[:, m] = (f[:, m] + w * g[:, m - 1]) / math.sqrt(d)
            dg[:, m] = (df[:, m] + w * dg[:, m - 1]) / math.sqrt(d)
            d_prev = d
        return g, dg


def _agnesi_a(p: float, q: float) -> float:
    return (-2.0 * q + p * (-2.0 + 4.0 * q)) / (p + p * p + q + q * q)


_KINDS = {cls.name: cls for cls in (BesselRadial, PolynomialRadial, ACE1Radial, SBesselRadial)}


def radial_from_dict(d: dict) -> BesselRadial | PolynomialRadial | ACE1Radial | SBesselRadial:
    """Build a radial kind from :meth:`to_dict` output, dispatching on ``d["type"]``.

    Raises
    ------
    ValueError
        If ``"type"`` is missing or unknown, or a parameter is invalid.
    """
    t = d.get("type") if isinstance(d, dict) else None
    if t not in _KINDS:
        raise ValueError(f"unknown radial basis type {t!r}; expected one of {sorted(_KINDS)}")
    return _KINDS[t].from_dict(d)


RADIAL_KINDS = ("bessel", "polynomial", "ace1", "sbessel")


class RadialSpec:
    """A radial basis before its size and cutoff are known: the kind and its options.

    A basis builds one radial basis per species pair from it, ``spec.build(n_max, r_cut)``
    (with the pair's cutoff), e.g. ``ACEBasis(..., radial=RadialSpec("ace1", q=3))``.
    ``kind`` is one of :data:`RADIAL_KINDS`; ``options`` are the keywords of its class
    (:class:`BesselRadial`, :class:`PolynomialRadial`, :class:`ACE1Radial`,
    :class:`SBesselRadial`) other than ``n_max``
    and ``r_cut``; they are checked when the basis builds its radial functions.
    """

    def __init__(self, kind: str = "bessel", **options) -> None:
        if kind not in RADIAL_KINDS:
            raise ValueError(
                f"unknown radial basis {kind!r} (choose one of {', '.join(RADIAL_KINDS)})"
            )
        self.kind = kind
        self.options = dict(options)

    def build(self, n_max: int, r_cut: float):
        """The radial basis of this kind with ``n_max`` functions and cutoff ``r_cut``."""
        return make_radial(self.kind, n_max, r_cut, self.options)

    def __eq__(self, other) -> bool:
        return isinstance(other, RadialSpec) and (self.kind, self.options) == (
            other.kind,
            other.options,
        )

    def __repr__(self) -> str:
        opts = "".join(f", {k}={v!r}" for k, v in self.options.items())
        return f"RadialSpec({self.kind!r}{opts})"


def make_radial(kind: str, n_max: int, r_cut: float, options: dict | None = None):
    """The radial basis ``kind`` (one of :data:`RADIAL_KINDS`) with ``n_max`` functions.

    ``options`` are passed to the class; defaults that depend on the cutoff are filled in
    here, in one place: ``r_0 = POLYNOMIAL_R0_FRACTION · r_cut`` for "polynomial" and "ace1",
    ``r_in = ACE1_R_IN_FRACTION · r_cut`` for "ace1" (:mod:`ace_ref.defaults`).
    """
    from ace_ref import defaults

    opts = dict(options or {})
    if kind == "bessel":
        return BesselRadial(n_max, r_cut, **opts)
    if kind == "sbessel":
        return SBesselRadial(n_max, r_cut, **opts)
    if kind in ("polynomial", "ace1"):
        opts.setdefault("r_0", defaults.POLYNOMIAL_R0_FRACTION * r_cut)
        if kind == "ace1":
            opts.setdefault("r_in", defaults.ACE1_R_IN_FRACTION * r_cut)
            return ACE1Radial(n_max, r_cut, **opts)
        return PolynomialRadial(n_max, r_cut, **opts)
    raise ValueError(f"unknown radial basis {kind!r} (choose one of {', '.join(RADIAL_KINDS)})")
