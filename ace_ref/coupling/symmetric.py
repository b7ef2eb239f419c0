"""Exact Clebsch–Gordan coefficients and generalized real coupling coefficients.

Conventions
-----------
* Complex spherical harmonics carry the Condon–Shortley phase; Clebsch–Gordan coefficients
  ``<l1 m1 l2 m2 | L M>`` are SymPy's (:func:`sympy.physics.wigner.clebsch_gordan`), exact.
* Real harmonics are ``Y^r_l = U_l Y^c_l`` with the unitary ``U_l`` of
  :func:`ace_ref.one_particle.spherical.complex_to_real_matrix`.
* A *block* is an ordered tuple of angular momenta ``ls = (l_1, ..., l_nu)`` together with a
  partition of the positions into *groups* of identical one-particle functions (identical
  ``(z, n, l)``; identical factors are adjacent because one-particle tuples are sorted).
  A coupled function of the block is

  .. math:: B_M = \\sum_{\\mathbf m} C_{M, \\mathbf m} \\prod_t A_{l_t m_t},

  where ``m`` runs over *canonical* m-tuples (sorted within each group: the product of
  identical factors is symmetric, so only sorted tuples are distinct monomials) and ``B_M``
  transforms under a rotation ``Q`` like ``Y^r_{L M}`` (``B(Q·) = D^L(Q) B``, real Wigner D)
  and under inversion by ``parity``.
* Construction: every coupling path of the chain tree ``((l_1 l_2)L_2 l_3)L_3 ... -> L`` gives a
  complex tensor (a product of CG coefficients); it is rotated into the real basis, its real and
  imaginary parts (each equivariant, because real Wigner matrices are real) are summed over the
  permutations within each group, and a maximal linearly independent subset is kept by a pivoted
  QR. The number kept is checked against the O(3) character formula
  (:func:`o3_multiplicity`); a mismatch is an error, never a silent result.

The rank decision uses a relative threshold ``RANK_RTOL = 1e-9`` on the pivoted-QR diagonal.
Candidates are exact algebraic numbers evaluated in float64 (relative error ~1e-15 per entry,
a few hundred flops per entry), so a dependent candidate leaves a residual below ~1e-13 while
the character-formula check guarantees that the count of kept functions is right.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import sparse

from ace_ref.coupling.clebsch_gordan import cg_tensor
from ace_ref.one_particle.spherical import complex_to_real_matrix

__all__ = [
    "RANK_RTOL",
    "ZERO_RTOL",
    "coupling_paths",
    "symmetric_power_weights",
    "o3_multiplicity",
    "CoupledBlock",
]


RANK_RTOL = 1e-9
"""Relative pivoted-QR threshold for linear independence (see module docstring)."""


ZERO_RTOL = 1e-12
"""Entries below this fraction of a function's largest coefficient are round-off of exact zeros."""


def coupling_paths(ls: tuple[int, ...], L: int) -> list[tuple[int, ...]]:
    """All chain-tree paths ``(L_1 = l_1, L_2, ..., L_nu = L)`` allowed by triangle rules.

    ``L_k`` is the angular momentum after coupling the first ``k`` factors.
    """
    paths: list[tuple[int, ...]] = []

    def extend(path: tuple[int, ...]) -> None:
        k = len(path)
        if k == len(ls):
            if path[-1] == L:
                paths.append(path)
            return
        prev, lk = path[-1], ls[k]
        for Lk in range(abs(prev - lk), prev + lk + 1):
            if _can_reach(Lk, ls[k + 1 :], L):  # the remaining factors can still reach L
                extend(path + (Lk,))

    extend((ls[0],))
    return paths


def _can_reach(start: int, rest: tuple[int, ...], L: int) -> bool:
    reachable = {start}
    for lk in rest:
        reachable = {x for a in reachable for x in range(abs(a - lk), a + lk + 1)}
    return L in reachable


def symmetric_power_weights(l: int, k: int) -> np.ndarray:
    """Weight multiplicities of ``Sym^k(V_l)``: entry ``s`` counts states with ``M = s - k*l``.

    This is the character of the k-th symmetric power on the maximal torus (a Gaussian
    binomial coefficient), computed exactly in integers by counting multisets of size ``k``
    from ``{-l, ..., l}`` by their sum.
    """
    d = 2 * l  # values shifted to 0..2l
    # counts[j][s]: multisets of size j from the values seen so far with shifted sum s
    counts = np.zeros((k + 1, k * d + 1), dtype=np.int64)
    counts[0, 0] = 1
    for value in range(d + 1):
        new = counts.copy()
        for j in range(1, k + 1):
            for times in range(1, j + 1):
                shift = times * value
                new[j, shift:] += counts[j - times, : counts.shape[1] - shift]
        counts = new
    return counts[k]


def o3_multiplicity(groups: list[tuple[int, int]], L: int, parity: int) -> int:
    """Multiplicity of the O(3) irrep ``(L, parity)`` in ``⊗_g Sym^{k_g}(V_{l_g})``.

    Parameters
    ----------
    groups
        ``(l_g, k_g)`` pairs: ``k_g`` identical factors of angular momentum ``l_g`` (parity of
        ``V_l`` is ``(-1)^l``).
    L, parity
        Target irrep; ``parity`` is ``+1`` or ``-1``.

    Notes
    -----
    The weight multiplicities ``w(M)`` of the product follow from multiplying the characters
    (polynomials in ``q = e^{iθ}``); the multiplicity of ``L`` is ``w(L) - w(L + 1)``.
    The parity of the whole block is ``(-1)^{Σ_g k_g l_g}``.
    """
    total_parity = (-1) ** sum(l * k for l, k in groups)
    if total_parity != parity:
        return 0
    poly = np.array([1], dtype=np.int64)
    offset = 0
    for l, k in groups:
        poly = np.convolve(poly, symmetric_power_weights(l, k))
        offset += k * l

    # index of weight M is M + offset
    def w(M: int) -> int:
        idx = M + offset
        return int(poly[idx]) if 0 <= idx < len(poly) else 0

    return w(L) - w(L + 1)


@dataclass(frozen=True)
class CoupledBlock:
    """Linearly independent coupled functions of one block.

    Attributes
    ----------
    ls : tuple of int
        Angular momenta of the factors, in one-particle order.
    group_sizes : tuple of int
        Sizes of the runs of identical factors (sum = len(ls)).
    L, parity : int
        Output irrep.
    m_tuples : ndarray (n_tuples, nu) int
        Canonical m-tuples (sorted within groups) that carry a nonzero coefficient.
    coeffs : ndarray (n_functions, n_tuples, 2L+1)
        ``coeffs[f, t, M + L]``: coefficient of ``prod_t A_{l_t m_t}`` in component ``M``.
    paths : ndarray (n_functions, nu + 1) int
        The chain path ``(L_1..L_nu)`` and, last, 0/1 for the real/imaginary part it came from.
    """

    ls: tuple[int, ...]
    group_sizes: tuple[int, ...]
    L: int
    parity: int
    m_tuples: np.ndarray
    coeffs: np.ndarray
    paths: np.ndarray

    @property
    def n_functions(self) -> int:
        return self.coeffs.shape[0]

    def tensor(self) -> sparse.COO:
        """The coupling coefficients as one N-dimensional sparse tensor.

        ``T[f, μ_1 + l_1, …, μ_ν + l_ν, M + L]`` such that, for real atomic-base values
        ``A_{l_t μ_t}``,

        .. math:: B_{f,M} = \\sum_{μ_1 … μ_ν} T_{f μ_1 … μ_ν M} \\prod_t A_{l_t μ_t},

        summed over *all* m-tuples: the coefficient of a canonical tuple (sorted within each
        group of identical factors) is shared equally among its distinct permutations, so
        ``T`` is symmetric under permutations within a group. Shape
        ``(n_functions, 2l_1+1, …, 2l_ν+1, 2L+1)``, a :class:`sparse.COO` array.
        """
        groups = _group_ranges(self.group_sizes)
        coords, values = [], []
        for t, mt in enumerate(self.m_tuples):
            pieces = [sorted(set(itertools.permutations(mt[a:b]))) for a, b in groups]
            perms = [sum(choice, ()) for choice in itertools.product(*pieces)]
            share = self.coeffs[:, t, :] / len(perms)
            f_idx, M_idx = np.nonzero(share)
            for perm in perms:
                ms = np.asarray(perm) + np.asarray(self.ls)
                for f, M in zip(f_idx, M_idx, strict=True):
                    coords.append((f, *ms, M))
                    values.append(share[f, M])
        shape = (self.n_functions, *(2 * l + 1 for l in self.ls), 2 * self.L + 1)
        if not coords:
            return sparse.zeros(shape)
        return sparse.COO(np.array(coords).T, np.array(values), shape=shape)


def _group_ranges(group_sizes: tuple[int, ...]) -> list[tuple[int, int]]:
    starts = np.concatenate([[0], np.cumsum(group_sizes)])
    return [(int(a), int(b)) for a, b in itertools.pairwise(starts)]


def _complex_path_tensor(ls, path, memo) -> np.ndarray:
    """Complex-basis coupling tensor ``T[m_1, ..., m_nu, M]`` for one chain path (real-valued)."""
    T = np.eye(2 * ls[0] + 1)  # (m_1, M_1)
    for k in range(1, len(ls)):
        cg = cg_tensor(path[k - 1], ls[k], path[k], memo)  # (M_{k-1}, m_k, M_k)
        T = np.tensordot(T, cg, axes=([T.ndim - 1], [0]))
    return T


def _to_real_basis(T: np.ndarray, ls, L) -> np.ndarray:
    """Rotate a complex-basis tensor into the real basis on every factor axis and on the output.

    With ``A^c = U^† A^r`` on each factor and ``B^r = U_L B^c`` on the output,
    ``T^r[μ..., M'] = Σ U_L[M', M] T[m..., M] Π_t conj(U_{l_t}[μ_t, m_t])``.
    """
    Tr = T.astype(complex)
    for t, l in enumerate(ls):
        W = complex_to_real_matrix(l).conj().T  # W[m, μ] = conj(U[μ, m])
        Tr = np.moveaxis(np.tensordot(W, Tr, axes=([0], [t])), 0, t)
    UL = complex_to_real_matrix(L)
    return np.tensordot(Tr, UL, axes=([len(ls)], [1]))


def _canonical_tuples(ls, group_sizes):
    """Map every full m-tuple to its canonical (sorted-within-groups) tuple.

    Returns ``canon`` (n_canon, nu) of m values and ``inverse`` (n_full,) indices into it.
    """
    full = np.array(list(itertools.product(*[range(-l, l + 1) for l in ls])), dtype=np.int64)
    full = full.reshape(-1, len(ls))
    sorted_full = full.copy()
    for a, b in _group_ranges(group_sizes):
        sorted_full[:, a:b] = np.sort(full[:, a:b], axis=1)
    canon, inverse = np.unique(sorted_full, axis=0, return_inverse=True)
    return canon, inverse.reshape(-1)


def _build_block(ls, group_sizes, L, parity) -> CoupledBlock:
    nu = len(ls)
    expected = o3_multiplicity([(ls[a], b - a) for a, b in _group_ranges(group_sizes)], L, parity)
    canon, inverse = _canonical_tuples(ls, group_sizes)
    n_canon = len(canon)
    empty = CoupledBlock(
        ls,
        group_sizes,
        L,
        parity,
        np.zeros((0, nu), dtype=np.int8),
        np.zeros((0, 0, 2 * L + 1)),
        np.zeros((0, nu + 1), dtype=np.int16),
    )
    if expected == 0:
        return empty
    memo: dict = {}
    candidates = []
    labels = []
    for path in coupling_paths(tuple(ls), L):
        T = _to_real_basis(_complex_path_tensor(ls, path, memo), ls, L)
        T = T.reshape(-1, 2 * L + 1)
        for part, values in ((0, T.real), (1, T.imag)):
            collapsed = np.zeros((n_canon, 2 * L + 1))
            np.add.at(collapsed, inverse, values)
            scale = np.abs(collapsed).max()
            if scale < 1e-12:
                continue
            collapsed[np.abs(collapsed) < ZERO_RTOL * scale] = 0.0
            candidates.append(collapsed)
            labels.append(path + (part,))
    if not candidates:
        raise RuntimeError(f"no coupling candidates for ls={ls}, L={L} but {expected} expected")
    stack = np.array(candidates)  # (n_cand, n_canon, 2L+1)
    flat = stack.reshape(len(candidates), -1)
    norms = np.linalg.norm(flat, axis=1)
    _, R, piv = scipy.linalg.qr((flat / norms[:, None]).T, mode="economic", pivoting=True)
    diag = np.abs(np.diag(R))
    rank = int(np.sum(diag > RANK_RTOL * diag[0]))
    if rank != expected:
        raise RuntimeError(
            f"coupling of ls={ls}, groups={group_sizes}, L={L}, parity={parity}: "
            f"{rank} independent functions found, character formula says {expected}"
        )
    keep = np.sort(piv[:rank])
    coeffs = stack[keep]
    used = np.any(coeffs != 0.0, axis=(0, 2))
    return CoupledBlock(
        tuple(ls),
        tuple(group_sizes),
        L,
        parity,
        canon[used].astype(np.int8),
        np.ascontiguousarray(coeffs[:, used, :]),
        np.array([labels[i] for i in keep], dtype=np.int16),
    )
