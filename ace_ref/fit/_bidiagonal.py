"""Regularised least squares through one bidiagonalization: every λ in ``O(K)``.

The bidiagonal kernels here (Eldén's Tikhonov solve, products with ``B``) serve both routes;
:mod:`ace_ref.fit` reaches ``B`` by the faster two-stage reduction of :mod:`ace_ref.fit._band`,
and the one-stage :func:`bidiagonalize` below is the reference it is tested against.

For the scaled problem ``min_d ‖M d − z‖² + λ ‖d‖²`` with a square ``M`` (``K × K``: the
triangle ``R Γ⁻¹`` of a streamed QR assembly), LAPACK's ``dgebrd`` factors
``M = Q B Pᵀ`` once, with ``Q, P`` orthogonal and ``B`` upper bidiagonal (``(8/3) K³`` flops
and no ``K × K`` singular vectors — about a third of the work of a full SVD here). With
``w = Qᵀ z`` and ``x = Pᵀ d`` the problem becomes ``min_x ‖B x − w‖² + λ ‖x‖²``, which
:func:`tikhonov_bidiagonal` solves for any ``λ`` in ``O(K)`` by Givens rotations of the
stacked ``[B; √λ I]`` to an upper bidiagonal ``T`` with ``TᵀT = BᵀB + λI`` (Eldén,
BIT 17, 134 (1977)). The rotations are orthogonal, so the solve is as stable as a QR of the
stacked matrix (no normal equations, whose float64 round-off hides the small
``λ ≈ 10⁻¹²`` that evidence maximisation picks on molecular data).

What Bayesian regression needs follows without any further ``K³`` work:

* the singular values of ``B`` (= those of ``M``) by ``dbdsqr`` without vectors, ``O(K²)``;
* ``‖x‖²`` and ``‖B x − w‖²`` for the evidence fixed point, ``O(K)`` per ``λ``;
* coefficients ``d = P x`` by applying the reflectors, ``O(K²)`` (``dormbr``).

(Posterior draws are taken in :mod:`ace_ref.fit._band`, from the band factor of the chosen ``λ``.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from ace_ref.fit import _lapack as lapack

__all__ = ["BidiagonalForm", "Bidiagonalization", "bidiagonalize", "tikhonov_bidiagonal"]


@numba.njit(cache=True)
def tikhonov_bidiagonal(d, e, w, lam):  # pragma: no cover - compiled
    """Solve ``min_x ‖B x − w‖² + λ ‖x‖²`` for the upper bidiagonal ``B`` (diagonal ``d``,
    superdiagonal ``e``), ``λ > 0``.

    Returns ``(x, t_diag, t_sup)``: the solution and the upper bidiagonal ``T`` (diagonal,
    superdiagonal) of the QR factor of ``[B; √λ I]``, ``TᵀT = BᵀB + λI``.

    Step ``i`` rotates row ``i`` of ``B`` against the regularisation row that carries column
    ``i`` (``μ_i``, right-hand side ``τ_i``; ``μ_0 = √λ``, ``τ_0 = 0``). That leaves a fill-in
    ``−s e_i`` at column ``i + 1`` of the regularisation row, which a second rotation folds
    into the next regularisation row ``√λ e_{i+1}ᵀ``: ``μ_{i+1} = hypot(√λ, s e_i)``.
    """
    n = d.shape[0]
    t_diag = np.empty(n)
    t_sup = np.zeros(max(n - 1, 0))
    rhs = np.empty(n)
    mu0 = np.sqrt(lam)
    mu, tau = mu0, 0.0
    for i in range(n):
        r = np.hypot(d[i], mu)
        c, s = d[i] / r, mu / r
        t_diag[i] = r
        rhs[i] = c * w[i] + s * tau
        tau_row = -s * w[i] + c * tau  # the regularisation row's right-hand side now
        if i < n - 1:
            t_sup[i] = c * e[i]
            fill = -s * e[i]
            mu_next = np.hypot(mu0, fill)
            tau = fill * tau_row / mu_next  # the next row had right-hand side 0
            mu = mu_next
    x = np.empty(n)
    x[n - 1] = rhs[n - 1] / t_diag[n - 1]
    for i in range(n - 2, -1, -1):
        x[i] = (rhs[i] - t_sup[i] * x[i + 1]) / t_diag[i]
    return x, t_diag, t_sup


@numba.njit(cache=True)
def bidiagonal_times(d, e, x):  # pragma: no cover - compiled
    """``B x`` for the upper bidiagonal ``B``."""
    n = d.shape[0]
    out = np.empty(n)
    for i in range(n):
        out[i] = d[i] * x[i]
        if i < n - 1:
            out[i] += e[i] * x[i + 1]
    return out


def as_columns(x: np.ndarray) -> tuple[np.ndarray, bool]:
    """A Fortran-ordered float64 copy of ``x`` as a ``(K, k)`` array, and whether ``x`` was a
    vector (``k = 1``) — the in-place operand of LAPACK's reflector routines."""
    vector = np.ndim(x) == 1
    c = np.array(x, dtype=np.float64, order="F", ndmin=2, copy=True)
    if vector:
        c = c.reshape(-1, 1, order="F")
    return c, vector


@dataclass
class BidiagonalForm:
    """An upper bidiagonal ``B`` (diagonal ``d``, superdiagonal ``e``) reached from ``M`` by
    orthogonal transformations, and the right-hand side ``w`` transformed with it.

    Everything here is the same in every coordinate system ``x = Pᵀ d`` with an orthogonal
    ``P``: the singular values, ``‖x‖ = ‖d‖`` and the residual ``‖B x − w‖ = ‖M d − z‖``.
    """

    d: np.ndarray
    e: np.ndarray
    w: np.ndarray

    @property
    def n(self) -> int:
        return len(self.d)

    def singular_values(self) -> np.ndarray:
        """Singular values of ``B`` (= of ``M``), descending, ``O(K²)``."""
        return lapack.bdsqr_values(self.d, self.e)

    def solve(self, lam: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(x, t_diag, t_sup)`` of :func:`tikhonov_bidiagonal` for this ``B`` and ``w``."""
        if not lam > 0:
            raise ValueError(f"the regularisation λ must be positive, got {lam}")
        return tikhonov_bidiagonal(self.d, self.e, self.w, float(lam))

    def residual2(self, x: np.ndarray) -> float:
        """``‖B x − w‖²`` (= ``‖M d − z‖²`` for ``d = P x``)."""
        r = bidiagonal_times(self.d, self.e, x) - self.w
        return float(r @ r)


@dataclass
class Bidiagonalization(BidiagonalForm):
    """``M = Q B Pᵀ`` of a square ``M`` by ``dgebrd`` and ``w = Qᵀ z``.

    Attributes
    ----------
    reflectors, taup
        What ``dgebrd`` left to apply ``P`` (see :meth:`p_times`).
    """

    reflectors: np.ndarray
    taup: np.ndarray

    def p_times(self, x: np.ndarray) -> np.ndarray:
        """``P x`` for a vector or the columns of a ``(K, k)`` array."""
        c, vector = as_columns(x)
        lapack.ormbr("P", "N", self.reflectors, self.taup, c)
        return c[:, 0] if vector else c


def bidiagonalize(m: np.ndarray, z: np.ndarray) -> Bidiagonalization:
    """Factor the square ``m`` (copied) as ``Q B Pᵀ`` and form ``Qᵀ z``."""
    a = np.array(m, dtype=np.float64, order="F", copy=True)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"bidiagonalize needs a square matrix, got shape {a.shape}")
    if len(z) != a.shape[0]:
        raise ValueError(f"z has {len(z)} entries, the matrix {a.shape[0]} rows")
    d, e, tauq, taup = lapack.gebrd(a)
    w = np.array(z, dtype=np.float64, order="F", copy=True).reshape(-1, 1, order="F")
    lapack.ormbr("Q", "T", a, tauq, w)
    return Bidiagonalization(d=d, e=e, w=w[:, 0].copy(), reflectors=a, taup=taup)
