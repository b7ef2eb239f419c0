"""Radial bases ``R_n(r)``, ``n = 1..n_max`` (pacemaker's numbering), with derivatives.

Both kinds vanish with their first two derivatives at ``r_c`` through the NequIP polynomial
envelope (``x = r/r_c``)

.. math:: f_p(x) = 1 - \\tfrac{(p+1)(p+2)}{2} x^p + p(p+2) x^{p+1} - \\tfrac{p(p+1)}{2} x^{p+2}
          \\quad (x < 1), \\qquad f_p = 0 \\quad (x \\ge 1).

* :class:`BesselRadial`: ``R_n(r) = √(2/r_c) sin(nπ r/r_c)/r · f_p(r/r_c)``.
* :class:`PolynomialRadial` (ACE style): Legendre polynomials in a transformed distance,
  ``R_n(r) = P_{n−1}(y(r)) f_p(r/r_c)`` with ``s(r) = ((1 + r_0)/(1 + r))^q`` (the ACE1
  ``PolyTransform``) mapped linearly so that ``y(r_c) = −1`` and ``y(r_in) = +1``. Below
  ``r_in`` the same formula is used (``y > 1``).

A kind is packed into ``params`` (length :data:`MAX_PARAMS`) for the Numba kernels:
``[kind, r_c, p, r_0, q, r_in, 0, 0]`` (unused entries zero).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from numba import njit

__all__ = [
    "BesselRadial",
    "PolynomialRadial",
    "radial_from_dict",
    "radial_with_derivative",
    "envelope_polynomial",
    "MAX_PARAMS",
]

MAX_PARAMS = 8
KIND_BESSEL = 0
KIND_POLYNOMIAL = 1


@njit(cache=True)
def envelope_polynomial(x, p):
    """``(f_p(x), f_p'(x))`` of the NequIP envelope; zero for ``x ≥ 1``."""
    if x >= 1.0:
        return 0.0, 0.0
    a = (p + 1.0) * (p + 2.0) / 2.0
    b = p * (p + 2.0)
    c = p * (p + 1.0) / 2.0
    xp = x**p
    f = 1.0 - a * xp + b * xp * x - c * xp * x * x
    df = (-a * p * xp + b * (p + 1.0) * xp * x - c * (p + 2.0) * xp * x * x) / x if x > 0 else 0.0
    return f, df


@njit(cache=True)
def radial_with_derivative(params, n_max, r, R_out, dR_out):
    """Fill ``R_out[:n_max]``, ``dR_out[:n_max]`` with ``R_n(r)`` and ``dR_n/dr``."""
    kind = int(params[0])
    rc = params[1]
    p = params[2]
    if r >= rc:
        for n in range(n_max):
            R_out[n] = 0.0
            dR_out[n] = 0.0
        return
    f, dfdx = envelope_polynomial(r / rc, p)
    df = dfdx / rc
    if kind == KIND_BESSEL:
        norm = np.sqrt(2.0 / rc)
        for n in range(n_max):
            k = (n + 1) * np.pi / rc
            s = np.sin(k * r)
            g = norm * s / r
            dg = norm * (k * np.cos(k * r) * r - s) / (r * r)
            R_out[n] = g * f
            dR_out[n] = dg * f + g * df
    else:
        r0 = params[3]
        q = params[4]
        r_in = params[5]
        s = ((1.0 + r0) / (1.0 + r)) ** q
        ds = -q * s / (1.0 + r)
        s_c = ((1.0 + r0) / (1.0 + rc)) ** q
        s_in = ((1.0 + r0) / (1.0 + r_in)) ** q
        scale = 2.0 / (s_in - s_c)
        y = scale * (s - s_c) - 1.0
        dy = scale * ds
        P_prev, P = 0.0, 1.0  # P_{-1}, P_0
        dP_prev, dP = 0.0, 0.0
        for n in range(n_max):
            R_out[n] = P * f
            dR_out[n] = dP * dy * f + P * df
            # Legendre recurrence: (k+1) P_{k+1} = (2k+1) y P_k − k P_{k−1}, with k = n
            P_next = ((2 * n + 1) * y * P - n * P_prev) / (n + 1)
            dP_next = dP_prev + (2 * n + 1) * P if n > 0 else 1.0
            P_prev, P = P, P_next
            dP_prev, dP = dP, dP_next


class _RadialBase:
    kind: int
    name: str

    def params(self) -> np.ndarray:  # pragma: no cover - overridden
        raise NotImplementedError

    def __call__(self, r) -> tuple[np.ndarray, np.ndarray]:
        """``(R, dR)``, each of shape ``(len(r), n_max)``; zero beyond ``r_cut``."""
        r = np.atleast_1d(np.asarray(r, dtype=float))
        if not np.all(np.isfinite(r)) or np.any(r <= 0):
            raise ValueError("radial distances must be finite and positive")
        R = np.empty((len(r), self.n_max))
        dR = np.empty((len(r), self.n_max))
        params = self.params()
        for i, ri in enumerate(r):
            radial_with_derivative(params, self.n_max, float(ri), R[i], dR[i])
        return R, dR

    def to_dict(self) -> dict:
        return {"type": self.name, **asdict(self)}


def _check_common(n_max, r_cut, envelope_p):
    if isinstance(n_max, bool) or int(n_max) != n_max or n_max < 1:
        raise ValueError(f"n_max must be an integer ≥ 1, got {n_max!r}")
    if not (np.isfinite(r_cut) and r_cut > 0):
        raise ValueError(f"cutoff r_cut must be positive and finite, got {r_cut!r}")
    if not (np.isfinite(envelope_p) and envelope_p >= 2):
        raise ValueError(f"envelope_p must be ≥ 2, got {envelope_p!r}")


@dataclass(frozen=True)
class BesselRadial(_RadialBase):
    """``R_n = √(2/r_c) sin(nπr/r_c)/r · f_p(r/r_c)`` (see module docstring)."""

    n_max: int
    r_cut: float
    envelope_p: float = 6.0

    kind = KIND_BESSEL
    name = "bessel"

    def __post_init__(self):
        _check_common(self.n_max, self.r_cut, self.envelope_p)

    def params(self) -> np.ndarray:
        out = np.zeros(MAX_PARAMS)
        out[:3] = (self.kind, self.r_cut, self.envelope_p)
        return out


@dataclass(frozen=True)
class PolynomialRadial(_RadialBase):
    """``R_n = P_{n−1}(y(r)) f_p(r/r_c)``, ``y`` from ``((1+r_0)/(1+r))^q`` (module docstring)."""

    n_max: int
    r_cut: float
    r_0: float
    q: float = 2.0
    r_in: float = 0.0
    envelope_p: float = 6.0

    kind = KIND_POLYNOMIAL
    name = "polynomial"

    def __post_init__(self):
        _check_common(self.n_max, self.r_cut, self.envelope_p)
        if not (np.isfinite(self.r_0) and self.r_0 > 0):
            raise ValueError(f"r_0 must be positive, got {self.r_0!r}")
        if not (np.isfinite(self.q) and self.q > 0):
            raise ValueError(f"q must be positive, got {self.q!r}")
        if not (0 <= self.r_in < self.r_cut):
            raise ValueError(f"r_in must satisfy 0 ≤ r_in < r_cut, got {self.r_in!r}")

    def params(self) -> np.ndarray:
        out = np.zeros(MAX_PARAMS)
        out[:6] = (self.kind, self.r_cut, self.envelope_p, self.r_0, self.q, self.r_in)
        return out


def radial_from_dict(d: dict):
    """Inverse of ``to_dict`` for either kind."""
    d = dict(d)
    kind = d.pop("type", None)
    classes = {"bessel": BesselRadial, "polynomial": PolynomialRadial}
    if kind not in classes:
        raise ValueError(f"unknown radial basis type {kind!r}")
    return classes[kind](**d)
