"""Greedy selection of basis functions from a streamed least-squares summary.

A basis that is truncated by total degree keeps every function up to the bound, whether the
data ask for it or not. Forward selection keeps the functions that lower the fitting
objective most, one at a time, so that fewer coefficients reach the same error.

The objective is the one the solvers minimise, in the prior's scaled coordinates
``d = Γ c`` (:func:`~ace_ref.fit.solvers.smoothness_prior`), with a ridge ``λ > 0`` (for BLR
the ``α/β`` of a fit of the whole basis)::

    J(S) = min_{d_S} ‖A Γ⁻¹_S d_S − y‖² + λ ‖d_S‖²  =  ‖y‖² − b_Sᵀ (G_SS + λI)⁻¹ b_S,

with ``G = Γ⁻¹AᵀAΓ⁻¹`` and ``b = Γ⁻¹Aᵀy`` (from a QR summary ``G = Γ⁻¹RᵀRΓ⁻¹``,
``b = Γ⁻¹Rᵀz``). Adding column ``j`` to ``S`` lowers ``J`` by exactly

    ΔJ_j = c_j² / p_jj,   c = b − G_{:,S}(G_SS + λI)⁻¹ b_S,   P = (G + λI) / (G_SS + λI)

(``P`` the Schur complement: the part of each column, in the ``G + λI`` inner product, that
the chosen columns do not explain; ``p_jj ≥ λ``). Each step picks ``argmax ΔJ`` (greedy
*orthogonal least squares*, the exact best single addition, unlike plain orthogonal matching
pursuit which ranks by ``|c_j|`` alone), then updates ``c``, ``diag P`` and ``J`` by the rank-one
Schur step ``P ← P − p pᵀ / p_jj`` (``p = P[:, j]``).

The rank-one updates of the ``K × K`` matrix ``P`` are delayed and applied ``block`` at a time
as one symmetric matrix product on its lower triangle, and the chosen columns are packed out
of it as they accumulate: about ``K² n (1 − x + x²/3)`` flops (``x = n/K``) for ``n`` selected
columns, at matrix-product speed, and exactly the same picks as the step-by-step algorithm.
Forming ``G`` from ``R`` is ``K³``.

:func:`subset_system` then gives the exact summary of the chosen columns (``‖A c − y‖² =
‖R c − z‖² + const`` for ``c`` zero outside ``S``), on which any solver refits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.linalg.blas as blas

from ace_ref import defaults
from ace_ref.fit._lapack import syrk_lower
from ace_ref.fit.assembly import LinearSystem
from ace_ref.fit.solvers import solve

__all__ = [
    "ColumnSelection",
    "check_ranking_rows",
    "ranking_configurations",
    "greedy_columns",
    "scaled_gram",
    "select_for_fit",
    "selection_ridge",
    "subset_system",
]


@dataclass
class ColumnSelection:
    """The columns in the order greedy selection chose them.

    Attributes
    ----------
    order
        Column indices, best first; the first ``k`` are the selection of size ``k``.
    objective
        ``J`` after each pick: ``objective[k - 1] = J(order[:k])``.
    initial
        ``J(∅) = ‖y‖²``.
    lam
        The ridge ``λ`` of the objective (scaled coordinates).
    """

    order: np.ndarray
    objective: np.ndarray
    initial: float
    lam: float

    def first(self, k: int) -> np.ndarray:
        """The ``k`` best columns, sorted by column index (the layout of a subset basis)."""
        if not 1 <= k <= len(self.order):
            raise ValueError(f"choose between 1 and {len(self.order)} columns, not {k}")
        return np.sort(self.order[:k])


def scaled_gram(
    system: LinearSystem, gamma: np.ndarray, overwrite: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """``(G, b)`` of the scaled problem: ``G = Γ⁻¹AᵀAΓ⁻¹`` (full, Fortran order), ``b = Γ⁻¹Aᵀy``.

    From a QR summary ``G = R̃ᵀR̃`` with ``R̃ = RΓ⁻¹`` (one triangular matrix product, ``K³``
    flops), ``b = R̃ᵀz``. From a Gram summary one scaled copy, or with ``overwrite`` the
    summary's own ``G`` scaled in place (no copy of the ``K × K`` matrix; the summary is
    then spent).
    """
    gamma = np.asarray(gamma, dtype=float)
    if system.method == "qr":
        Rt = np.divide(system.R, gamma[None, :], order="F")
        b = Rt.T @ system.z
        G = blas.dtrmm(1.0, Rt, np.array(Rt, order="F"), trans_a=1, overwrite_b=1)
        return np.asfortranarray(G), b
    G = None
    if overwrite and system.G.flags.f_contiguous:
        G = system.G
    elif overwrite and system.G.flags.c_contiguous:
        G = system.G.T  # symmetric: the transpose view is the same matrix in Fortran order
    if G is None:
        G = np.array(system.G, order="F")
    G /= gamma[:, None]
    G /= gamma[None, :]
    return G, system.b / gamma


def greedy_columns(
    system: LinearSystem,
    n_select: int,
    lam: float,
    gamma: np.ndarray | None = None,
    block: int = defaults.SELECTION_BLOCK,
    overwrite: bool = False,
    forced=None,
) -> ColumnSelection:
    """Greedy forward selection of ``n_select`` columns for the ridge objective ``J``.

    Every pick is the exact ``argmax ΔJ`` over the columns not yet chosen (module
    docstring). Only the lower triangle of the Schur complement ``P`` is kept up to date. Its
    rank-one updates are delayed and applied ``block`` at a time as one symmetric matrix
    product (:func:`ace_ref.fit._lapack.syrk_lower`, in tiles); meanwhile each pick's column
    is its stored column corrected by the pending updates. Chosen columns drop out of ``P``:
    when they are a tenth of it, the others are packed into a smaller matrix in the same
    storage. The cost is about ``Σ_t n_t² ≈ K² n (1 − x + x²/3)`` flops (``x = n/K``) for
    ``n`` picks, at matrix-product speed.

    Parameters
    ----------
    system
        QR or Gram summary of the whole basis (:func:`ace_ref.fit.assembly.assemble`).
    n_select
        How many columns to choose (at most the number of columns).
    lam
        Ridge ``λ > 0`` in the scaled coordinates, e.g. ``info["lambda"]`` of a BLR solve of
        the whole basis with the same ``gamma``.
    gamma
        Prior scaling ``Γ`` (:func:`~ace_ref.fit.solvers.smoothness_prior`); ``None``: ones.
    block
        Rank-one updates gathered into one matrix product.
    overwrite
        Gram summaries: work in the summary's own ``G`` (it is overwritten; saves one
        ``K × K`` copy). QR summaries always work on a new matrix.
    forced
        Columns taken first, in the order given, whatever their score (e.g. every pair
        function); they count towards ``n_select``. The greedy picks follow.

    Returns
    -------
    ColumnSelection
        The picks in order and the objective after each.
    """
    K = system.n_columns
    if not 1 <= int(n_select) <= K:
        raise ValueError(f"n_select must be between 1 and the {K} columns, got {n_select}")
    if not (np.isfinite(lam) and lam > 0):
        raise ValueError(f"the ridge λ must be a positive number, got {lam}")
    n_select, block = int(n_select), max(1, int(block))
    forced = [] if forced is None else [int(j) for j in forced]
    if len(set(forced)) != len(forced) or any(not 0 <= j < K for j in forced):
        raise ValueError(f"forced columns must be distinct indices in [0, {K})")
    if len(forced) > n_select:
        raise ValueError(f"{len(forced)} forced columns are more than n_select = {n_select}")
    gamma = np.ones(K) if gamma is None else np.asarray(gamma, dtype=float)
    P, c = scaled_gram(system, gamma, overwrite)
    P = np.asfortranarray(P)
    P[np.diag_indices(K)] += lam
    storage = P.reshape(-1, order="F")  # P packs into its own memory as columns drop out
    d = np.diag(P).copy()
    live = np.arange(K)  # the original column at each position of P
    where = np.arange(K)  # the position of each original column (forced picks)
    chosen = np.zeros(K, dtype=bool)  # by position
    order = np.empty(n_select, dtype=np.int64)
    objective = np.empty(n_select)
    J = float(system.yy)
    V = np.zeros((K, block), order="F")
    pending = 0
    for step in range(n_select):
        n = len(live)
        if step < len(forced):
            j = int(where[forced[step]])
        else:
            score = c * c / d
            score[chosen] = -np.inf
            j = int(np.argmax(score))
        p = np.empty(n)
        p[j:] = P[j:, j]
        p[:j] = P[j, :j]  # the upper half, from the lower triangle's row
        if pending:
            p -= V[:n, :pending] @ V[j, :pending]
        root = np.sqrt(p[j])
        v = p / root
        J -= (c[j] / root) ** 2
        c -= v * (c[j] / root)
        d -= v * v
        d[j] = np.inf  # chosen: its Schur complement is 0 (rounding aside)
        chosen[j] = True
        order[step], objective[step] = live[j], J
        V[:n, pending] = v
        pending += 1
        if pending == block and step + 1 < n_select:
            syrk_lower(P, V[:n], -1.0, 1.0)
            pending = 0
            if chosen.sum() * 10 >= n:  # pack the columns not chosen
                keep = np.flatnonzero(~chosen)
                P = _pack_lower(storage, n, keep)
                live, c, d = live[keep], c[keep], d[keep]
                chosen = np.zeros(len(keep), dtype=bool)
                where = np.full(K, -1, dtype=np.int64)
                where[live] = np.arange(len(keep))
    return ColumnSelection(order, objective, float(system.yy), float(lam))


def _pack_lower(storage: np.ndarray, n: int, keep: np.ndarray) -> np.ndarray:
    """The lower triangle of ``P[keep, keep]`` packed into the front of ``storage``, which
    holds ``P`` (``n × n``, Fortran order); returned as an ``m × m`` Fortran-order view.
    Column ``i`` of the result is written before where any later column of ``P`` starts, so
    nothing unread is overwritten."""
    m = len(keep)
    for new, old in enumerate(keep):
        column = storage[old * n + keep[new:]]  # a copy: the lower part of column ``old``
        storage[new * m + new : (new + 1) * m] = column
    return storage[: m * m].reshape((m, m), order="F")


def subset_system(system: LinearSystem, columns: np.ndarray) -> LinearSystem:
    """The exact summary of the least-squares problem restricted to ``columns``.

    Gram: ``G[S, S]``, ``b[S]``. QR: one QR of ``[R[:, S] | z]`` (``2 K |S|²`` flops), since
    ``‖A c − y‖² = ‖R c − z‖² + ‖y‖² − ‖z‖²`` for every ``c`` that is zero outside ``S``.
    """
    columns = np.asarray(columns, dtype=np.int64)
    if columns.ndim != 1 or len(columns) == 0 or len(np.unique(columns)) != len(columns):
        raise ValueError("columns must be a non-empty list of distinct column indices")
    if columns.min() < 0 or columns.max() >= system.n_columns:
        raise ValueError(f"column indices must lie in [0, {system.n_columns})")
    if system.method != "qr":
        return LinearSystem(
            "normal",
            system.yy,
            system.n_rows,
            system.n_configs,
            G=system.G[np.ix_(columns, columns)].copy(),
            b=system.b[columns].copy(),
        )
    m = len(columns)
    T = scipy.linalg.qr(
        np.column_stack([system.R[:, columns], system.z]), mode="r", overwrite_a=True
    )[0][: m + 1]
    return LinearSystem(
        "qr",
        system.yy,
        system.n_rows,
        system.n_configs,
        R=np.triu(T[:m, :m]),
        z=T[:m, m].copy(),
    )


def selection_ridge(pool: LinearSystem, n_select: int, gamma: np.ndarray) -> float:
    """The ridge ``λ`` at which :func:`select_for_fit` ranks the columns: the evidence-optimal
    ``λ = α/β`` of BLR (:func:`~ace_ref.fit.solvers.solve`) on the ``n_select`` columns the
    prior favours (smallest ``Γ_kk``: the degree-truncated basis of that size; at most
    :data:`~ace_ref.defaults.SELECTION_RIDGE_COLUMNS` of them), solved on their
    sub-summary."""
    n = min(int(n_select), defaults.SELECTION_RIDGE_COLUMNS)
    low = np.sort(np.argsort(gamma, kind="stable")[:n])
    return float(solve(subset_system(pool, low), "blr", gamma[low]).info["lambda"])


def check_ranking_rows(max_rows) -> None:
    """Refuse a ``ranking_rows`` that is not ``None`` or a whole number of rows ≥ 1."""
    if max_rows is not None and (
        isinstance(max_rows, bool) or int(max_rows) != max_rows or max_rows < 1
    ):
        raise ValueError(f"ranking_rows must be a whole number of rows ≥ 1, got {max_rows!r}")


def ranking_configurations(row_counts: np.ndarray, max_rows: int | None, seed: int) -> np.ndarray:
    """Which training configurations the pool's Gram summary is assembled from for the
    ranking: all (``max_rows`` ``None`` or at least their rows), or configurations drawn at
    random (``seed``) while their rows stay within ``max_rows`` (at least one). Sorted
    indices into ``row_counts``, the rows of each configuration.

    A ranking on part of the data is an approximation of the ranking on all of it; the
    chosen functions are then fitted exactly on every configuration.
    """
    check_ranking_rows(max_rows)
    counts = np.asarray(row_counts, dtype=np.int64)
    if max_rows is None or max_rows >= counts.sum():
        return np.arange(len(counts))
    drawn = np.random.default_rng(seed).permutation(len(counts))
    n = int(np.searchsorted(np.cumsum(counts[drawn]), int(max_rows), side="right"))
    return np.sort(drawn[: max(n, 1)])


def select_for_fit(
    pool: LinearSystem,
    n_select: int,
    gamma: np.ndarray,
    lam: float | None = None,
    overwrite: bool = False,
    forced=None,
) -> ColumnSelection:
    """Greedy selection of ``n_select`` columns of ``pool`` as :func:`ace_ref.fit.fit` does it.

    ``lam``: the ridge of the objective; ``None``: :func:`selection_ridge`. ``overwrite`` and
    ``forced``: see :func:`greedy_columns`.
    """
    if lam is None:
        lam = selection_ridge(pool, n_select, gamma)
    return greedy_columns(pool, n_select, lam, gamma, overwrite=overwrite, forced=forced)
