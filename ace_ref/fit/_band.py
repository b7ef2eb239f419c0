"""Two-stage bidiagonalization: a square matrix to upper band form by blocked Householder
transformations, then the band to bidiagonal form by Givens rotations.

One-stage ``dgebrd`` (:mod:`ace_ref.fit._bidiagonal`) spends half of its ``(8/3) K³`` flops in
matrix–vector products, so it runs at memory speed (about 13 Gflop/s on this project's two
cores, against 68 Gflop/s for a blocked QR). Splitting the reduction as in two-stage SVD
codes puts the ``K³`` work into matrix–matrix products:

1. :func:`reduce_to_band` — for each block of ``b`` columns, a QR of the column panel
   (``dgeqrf``, applied from the left with ``dormqr``) and an LQ of the row panel right of
   it (``dgelqf``, applied from the right with ``dormlq``). The result is
   ``Q₁ᵀ M P₁ = U``, upper triangular with ``b`` superdiagonals; ``(8/3) K³`` flops in
   blocked reflectors. ``P₁``'s reflectors stay in the zeroed part of the matrix.
2. ``dgbbrd`` reduces ``U`` to the bidiagonal ``B = Q₂ᵀ U P₂`` with ``O(K² b)`` rotations,
   without forming ``Q₂`` or ``P₂``; ``Q₂ᵀ`` is applied to the right-hand side on the way.

Everything the evidence maximisation of Bayesian regression needs comes from ``B`` and
``Q₂ᵀ Q₁ᵀ z`` as before (singular values, ``‖x‖²`` and the residual at every ``λ``), since
``‖x‖`` does not depend on the orthogonal ``P = P₁ P₂``. The coefficients at the chosen ``λ``
are found in the band coordinates instead, where ``P₂`` is not needed:
:func:`tikhonov_band` solves ``min_y ‖U y − w‖² + λ ‖y‖²`` by rotating the rows of ``U`` and of
``√λ I`` into a sliding ``(b+1) × (b+1)`` triangle (``O(K b²)``; the triangular factor ``T``
with ``TᵀT = UᵀU + λI`` has bandwidth ``b`` and gives exact posterior samples), and
``d = P₁ y`` applies the stored reflectors (``O(K²)`` per vector).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numba
import numpy as np

from ace_ref.fit import _lapack as lapack
from ace_ref.fit._bidiagonal import BidiagonalForm, as_columns

__all__ = ["BandReduction", "reduce_to_band", "tikhonov_band", "solve_upper_band"]

DEFAULT_BANDWIDTH = 64  # > LAPACK's reflector block (32), so dormqr/dormlq run blocked


@numba.njit(cache=True)
def tikhonov_band(upper, w, lam):  # pragma: no cover - compiled
    """Solve ``min_y ‖U y − w‖² + λ ‖y‖²`` for an upper band ``U``, ``λ > 0``.

    ``upper[i, k] = U[i, i + k]`` (``k = 0 … b``; entries past the last column are ignored).
    Returns ``(y, t_band)`` with the upper band factor ``T`` (same layout) of the stacked
    ``[U; √λ I]``: ``TᵀT = UᵀU + λI``.

    Rows are rotated in by column of their first entry. Before column ``j`` a window holds the
    not yet final rows, upper triangular over columns ``j … j + b`` (a ``(b+1) × (b+1)``
    triangle with its right-hand side); row ``j`` of ``U`` and the regularisation row
    ``√λ e_jᵀ`` are rotated into it (Givens, ``O(b²)`` each), its first row is row ``j`` of
    ``T`` and the rest moves one column on.
    """
    n, width = upper.shape
    t_band = np.zeros((n, width))
    rhs = np.zeros(n)
    window = np.zeros((width, width + 1))
    v = np.zeros(width + 1)
    root = np.sqrt(lam)
    for j in range(n):
        for incoming in range(2):
            if incoming == 0:
                for c in range(width):
                    v[c] = upper[j, c] if j + c < n else 0.0
                v[width] = w[j]
            else:
                v[:] = 0.0
                v[0] = root
            for r in range(width):
                a = v[r]
                if a == 0.0:
                    continue
                p = window[r, r]
                h = np.hypot(p, a)
                c, s = p / h, a / h
                window[r, r] = h
                v[r] = 0.0
                for q in range(r + 1, width + 1):
                    wr, vq = window[r, q], v[q]
                    window[r, q] = c * wr + s * vq
                    v[q] = c * vq - s * wr
        for c in range(width):
            t_band[j, c] = window[0, c]
        rhs[j] = window[0, width]
        for r in range(width - 1):
            for c in range(width - 1):
                window[r, c] = window[r + 1, c + 1]
            window[r, width - 1] = 0.0
            window[r, width] = window[r + 1, width]
        window[width - 1, :] = 0.0
    y = solve_upper_band(t_band, rhs.reshape(n, 1))[:, 0]
    return y, t_band


@numba.njit(cache=True)
def solve_upper_band(t_band, rhs):  # pragma: no cover - compiled
    """``T⁻¹ rhs`` for the upper band ``T`` (layout of :func:`tikhonov_band`); ``rhs`` is
    ``(n, k)``, solved column by column."""
    n, width = t_band.shape
    k = rhs.shape[1]
    out = np.empty((n, k))
    for col in range(k):
        for i in range(n - 1, -1, -1):
            acc = rhs[i, col]
            for c in range(1, width):
                if i + c < n:
                    acc -= t_band[i, c] * out[i + c, col]
            out[i, col] = acc / t_band[i, 0]
    return out


@numba.njit(cache=True)
def band_times(upper, y):  # pragma: no cover - compiled
    """``U y`` for the upper band ``U`` (layout of :func:`tikhonov_band`)."""
    n, width = upper.shape
    out = np.zeros(n)
    for i in range(n):
        for c in range(width):
            if i + c < n:
                out[i] += upper[i, c] * y[i + c]
    return out


@dataclass
class BandReduction(BidiagonalForm):
    """``Q₁ᵀ M P₁ = U`` (upper band), ``B = Q₂ᵀ U P₂`` (bidiagonal) and the transformed
    right-hand sides ``w_band = Q₁ᵀ z`` and ``w = Q₂ᵀ w_band``.

    The inherited :meth:`solve` and :meth:`residual2` work in the bidiagonal coordinates (for
    the evidence fixed point), :meth:`coefficients` and :meth:`posterior_samples` in the band
    coordinates mapped back by ``P₁``.
    """

    upper: np.ndarray
    w_band: np.ndarray
    reflectors: np.ndarray
    panels: list = field(default_factory=list)  # (k0, k1, tau) of each LQ step

    def band_solution(self, lam: float) -> tuple[np.ndarray, np.ndarray]:
        """``(y, T)``: the minimiser of ``‖U y − w_band‖² + λ ‖y‖²`` and the band factor
        ``T`` of ``[U; √λ I]``."""
        if not lam > 0:
            raise ValueError(f"the regularisation λ must be positive, got {lam}")
        return tikhonov_band(self.upper, self.w_band, float(lam))

    def p_times(self, y: np.ndarray) -> np.ndarray:
        """``P₁ y`` for a vector or the columns of a ``(K, k)`` array."""
        c, vector = as_columns(y)
        for k0, k1, tau in reversed(self.panels):
            lapack.ormlq("L", "T", self.reflectors[k0:k1, k1:], tau, c[k1:])
        return c[:, 0] if vector else c

    def coefficients(self, lam: float) -> np.ndarray:
        """``d = argmin ‖M d − z‖² + λ ‖d‖²``."""
        y, _ = self.band_solution(lam)
        return self.p_times(y)

    def posterior_samples(self, lam: float, beta: float, n: int, rng) -> np.ndarray:
        """``n`` draws (rows) of ``d ~ N(d̂, (β (MᵀM + λI))⁻¹)``."""
        y, t_band = self.band_solution(lam)
        xi = rng.normal(size=(n, self.n)).T
        draws = y[:, None] + solve_upper_band(t_band, np.ascontiguousarray(xi)) / np.sqrt(beta)
        return self.p_times(draws).T


def reduce_to_band(
    m: np.ndarray, z: np.ndarray, bandwidth: int = DEFAULT_BANDWIDTH, overwrite: bool = False
) -> BandReduction:
    """Two-stage bidiagonalization of the square ``m`` (copied) with right-hand side ``z``.

    Parameters
    ----------
    m
        ``K × K`` matrix (e.g. the scaled triangle ``R Γ⁻¹`` of a QR summary).
    z
        Right-hand side of length ``K``.
    bandwidth
        ``b``, the number of superdiagonals of the intermediate band matrix (block size of
        the blocked reflectors).
    overwrite
        Work in ``m``'s own storage where it is a Fortran-ordered float64 array (the caller
        no longer needs it); otherwise ``m`` is copied.
    """
    a = (
        np.asarray(m, dtype=np.float64, order="F")
        if overwrite
        else np.array(m, dtype=np.float64, order="F", copy=True)
    )
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"reduce_to_band needs a square matrix, got shape {a.shape}")
    K = a.shape[0]
    if len(z) != K:
        raise ValueError(f"z has {len(z)} entries, the matrix {K} rows")
    b = max(1, min(int(bandwidth), max(K - 1, 1)))
    w = np.array(z, dtype=np.float64, order="F", copy=True).reshape(-1, 1, order="F")
    panels = []
    for k0 in range(0, K, b):
        k1 = min(k0 + b, K)
        column_panel = a[k0:, k0:k1]
        tau = lapack.geqrf(column_panel)
        if k1 < K:
            lapack.ormqr("L", "T", column_panel, tau, a[k0:, k1:])
        lapack.ormqr("L", "T", column_panel, tau, w[k0:])
        if k1 < K:
            row_panel = a[k0:k1, k1:]
            tau_lq = lapack.gelqf(row_panel)
            lapack.ormlq("R", "T", row_panel, tau_lq, a[k1:, k1:])
            panels.append((k0, k1, tau_lq))
    upper = np.zeros((K, b + 1))
    band = np.zeros((b + 1, K), order="F")  # LAPACK band storage, kl = 0, ku = b
    for offset in range(b + 1):
        diagonal = np.diagonal(a, offset)
        upper[: K - offset, offset] = diagonal
        band[b - offset, offset:] = diagonal
    w_band = w[:, 0].copy()
    d, e = lapack.gbbrd_upper(band, w)
    return BandReduction(
        d=d, e=e, w=w[:, 0].copy(), upper=upper, w_band=w_band, reflectors=a, panels=panels
    )
