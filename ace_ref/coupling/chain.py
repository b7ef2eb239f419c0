"""The chain coupling tree of NequIP/BOTNet: the sparsifications of the ACE basis.

Linearised NequIP/BOTNet builds features by iterated tensor products (arXiv:2205.06643)

.. math:: h^{(1)}_{u, l_1 m_1} = A_{u l_1 m_1},\\qquad
          h^{(k)}_{u, L_k M_k} = [A_{u' l_k} \\otimes h^{(k-1)}_{u, L_{k-1}}]_{L_k M_k}
          = \\sum_{M_{k-1} m_k} \\langle L_{k-1} M_{k-1}\\, l_k m_k | L_k M_k\\rangle\\,
            h^{(k-1)}_{u, L_{k-1} M_{k-1}} A_{u' l_k m_k},

ending in ``L_ν = L`` (0 for invariants); the CG argument order is that of
:mod:`ace_ref.coupling` (swapping it changes only signs). Expanded, every such feature is a
polynomial in the same atomic base ``A_{z n l m}`` as the full ACE basis: a linear
combination of the product basis ``AA_v = Π_t A_{v_t}`` over sorted one-particle tuples. So
each sparsification is represented exactly like the full basis — the same product layout, a
different coupling matrix ``C`` — and reuses every kernel (features, design rows, fitting,
``LinearACEModel``, save/load).

Sparsifications (all options of :class:`ace_ref.ACEBasis`)
-----------------------------------------------------------
``coupling="chain"``
    Functions of an nl-tuple are the chain couplings ``((l_1 l_2)L_2 l_3)L_3 … → L`` of every
    *ordering* of its factors (the iterated product may add the factors in any order), real
    basis, collapsed onto the symmetric monomials. Without further truncation they span
    exactly the full ACE block (the symmetrised chain paths span all invariants of a
    symmetric power; checked against the O(3) character formula).
``lmax_hidden=L_max``
    Every hidden feature ``h^(1) … h^(ν−1)`` has ``L_k ≤ L_max`` (NequIP's ``l_max`` of the
    node features): ``l_1 = L_1 ≤ L_max`` and ``L_2 … L_{ν−1} ≤ L_max``; the factors
    ``l_2 … l_ν`` and the output ``L`` are bounded only by the basis truncation. Example: for
    ν = 2 invariants ``l_1 = l_2 ≤ L_max``; ``L_max = 0`` keeps only products of ``l = 0``
    factors (distances only).
``channels="uvu"``
    e3nn's ``uvu`` instruction (``out_u = Σ_v W_uv(r) x_u ⊗ y_v``) keeps the channel ``u`` of
    the feature being multiplied and gives the new factor a radial weight of that same
    channel. In a linear model the channels are the radial basis functions, so **all factors of
    a product share one radial index n** (``n_1 = … = n_ν``); species are not tied (a channel
    carries any neighbour species, as NequIP's learned species embedding does).
    ``channels="full"`` (alias ``"uvw"``) couples all channels: every n-tuple.
``independent``
    ``True`` (default): keep a maximal linearly independent subset of each block's chain
    functions (pivoted QR of the exact coefficients, as :mod:`ace_ref.coupling` does), so
    the number of columns is the dimension of the span. ``False``: keep every non-zero NequIP
    path (ordering × coupling path) as its own column — the raw parametrisation of a
    linearised NequIP, with linearly dependent columns. Both have the same span; the SVD
    solvers of :mod:`ace_ref.fit` give the dependent directions singular value 0 (exactly,
    up to round-off) and the evidence/ridge filter ``s/(s² + λ)`` sends their coefficients
    to zero, so the fitted function is that of the independent basis up to the different
    prior. ``ACEBasis.n_paths(L)`` reports the raw count either way.

Because chain functions of one sorted nl-tuple involve only that tuple's monomials, the span
of any such sparsification is the direct sum of its per-block spans: linear dependencies
occur only within a block, and a block of the full basis is either reached in part or whole
by the same block of the sparse one.

The proofs that these bases lie in the span of the full one are in :mod:`ace_ref.verify.span`
(numerical, on random environments, and algebraic, from the coupling coefficients).
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import numpy as np
import scipy.linalg

from ace_ref.coupling.symmetric import (
    RANK_RTOL,
    ZERO_RTOL,
    _canonical_tuples,
    _complex_path_tensor,
    _to_real_basis,
    coupling_paths,
    o3_multiplicity,
)

__all__ = ["COUPLINGS", "CHANNELS", "ChainBlock", "chain_block"]


COUPLINGS = ("symmetric", "chain")
"""``symmetric``: the full ACE coupling (:mod:`ace_ref.coupling`); ``chain``: NequIP's tree."""


CHANNELS = ("full", "uvu")
"""``full`` (= e3nn ``uvw``): all radial channels couple; ``uvu``: one radial index n."""


# ---------------------------------------------------------------------------- chain coupling
@dataclass(frozen=True)
class ChainBlock:
    """Chain-tree coupled functions of one block (same layout as
    :class:`ace_ref.coupling.symmetric.CoupledBlock`).

    ``coeffs[f, t, M + L]`` is the coefficient of the canonical monomial ``m_tuples[t]`` in
    component ``M`` of function ``f``. ``orderings[f]`` gives, for each step of the iterated
    product, the position (in the sorted nl-tuple) of the factor added at that step;
    ``paths[f]`` holds ``(L_1, …, L_ν, part)`` (``part`` 0/1: real/imaginary part of the
    complex-basis tensor, whichever is non-zero). ``n_paths`` counts all non-zero NequIP
    paths of the block, ``multiplicity`` is the full ACE count (character formula).
    """

    ls: tuple[int, ...]
    group_sizes: tuple[int, ...]
    L: int
    parity: int
    lmax_hidden: int | None
    m_tuples: np.ndarray
    coeffs: np.ndarray
    orderings: np.ndarray
    paths: np.ndarray
    n_paths: int
    multiplicity: int

    @property
    def n_functions(self) -> int:
        return self.coeffs.shape[0]


def _orderings(group_sizes: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Distinct orders in which the iterated product can add the factors of a sorted tuple.

    Identical factors (a group) are interchangeable, so orderings are the distinct sequences
    of group labels; each is returned as a permutation of sorted positions (the k-th
    occurrence of a group takes the group's k-th position).
    """
    labels = [g for g, size in enumerate(group_sizes) for _ in range(size)]
    starts = np.concatenate([[0], np.cumsum(group_sizes)])
    out = []
    for seq in sorted(set(itertools.permutations(labels))):
        used = [0] * len(group_sizes)
        perm = []
        for g in seq:
            perm.append(int(starts[g]) + used[g])
            used[g] += 1
        out.append(tuple(perm))
    return out


def _build_chain_block(ls, group_sizes, L, parity, lmax_hidden, independent) -> ChainBlock:
    nu = len(ls)
    groups = []
    pos = 0
    for size in group_sizes:
        groups.append((ls[pos], size))
        pos += size
    expected = o3_multiplicity(groups, L, parity)
    empty = ChainBlock(
        ls,
        group_sizes,
        L,
        parity,
        lmax_hidden,
        np.zeros((0, nu), dtype=np.int8),
        np.zeros((0, 0, 2 * L + 1)),
        np.zeros((0, nu), dtype=np.int16),
        np.zeros((0, nu + 1), dtype=np.int16),
        0,
        expected,
    )
    if expected == 0:  # no O(3)-equivariant function at all (parity or triangle rules)
        return empty
    canon, inverse = _canonical_tuples(ls, group_sizes)
    n_canon = len(canon)
    memo: dict = {}
    candidates, orderings, labels = [], [], []
    for perm in _orderings(group_sizes):
        ls_ord = tuple(ls[p] for p in perm)
        if lmax_hidden is not None and nu > 1 and ls_ord[0] > lmax_hidden:
            continue  # h^(1) = A_{l_1} is a hidden feature
        # axis t of the ordered tensor is sorted position perm[t]: move it there
        axes = list(np.argsort(perm)) + [nu]
        for path in coupling_paths(ls_ord, L):
            if lmax_hidden is not None and any(x > lmax_hidden for x in path[: nu - 1]):
                continue
            T = _to_real_basis(_complex_path_tensor(ls_ord, path, memo), ls_ord, L)
            T = np.transpose(T, axes).reshape(-1, 2 * L + 1)
            for part, values in ((0, T.real), (1, T.imag)):
                collapsed = np.zeros((n_canon, 2 * L + 1))
                np.add.at(collapsed, inverse, values)
                scale = np.abs(collapsed).max()
                if scale < 1e-12:  # annihilated by the symmetrisation or the other part
                    continue
                collapsed[np.abs(collapsed) < ZERO_RTOL * scale] = 0.0
                candidates.append(collapsed)
                orderings.append(perm)
                labels.append(tuple(path) + (part,))
    if not candidates:
        return empty
    stack = np.array(candidates)
    n_paths = len(candidates)
    flat = stack.reshape(n_paths, -1)
    norms = np.linalg.norm(flat, axis=1)
    _, R, piv = scipy.linalg.qr((flat / norms[:, None]).T, mode="economic", pivoting=True)
    diag = np.abs(np.diag(R))
    rank = int(np.sum(diag > RANK_RTOL * diag[0]))
    if rank > expected:
        raise RuntimeError(
            f"chain coupling of ls={ls}, groups={group_sizes}, L={L}: {rank} independent "
            f"functions, more than the {expected} the character formula allows"
        )
    keep = np.sort(piv[:rank]) if independent else np.arange(n_paths)
    coeffs = stack[keep]
    used = np.any(coeffs != 0.0, axis=(0, 2))
    return ChainBlock(
        tuple(ls),
        tuple(group_sizes),
        L,
        parity,
        lmax_hidden,
        canon[used].astype(np.int8),
        np.ascontiguousarray(coeffs[:, used, :]),
        np.array([orderings[i] for i in keep], dtype=np.int16).reshape(-1, nu),
        np.array([labels[i] for i in keep], dtype=np.int16).reshape(-1, nu + 1),
        n_paths,
        expected,
    )


def chain_block(
    ls,
    group_sizes=None,
    L: int = 0,
    parity: int | None = None,
    lmax_hidden: int | None = None,
    independent: bool = True,
) -> ChainBlock:
    """Chain-tree (NequIP) coupled functions of the block ``ls`` (see module docstring).

    ``group_sizes`` are the runs of identical factors of the sorted nl-tuple (default: all
    distinct); ``parity`` defaults to ``(-1)^L``. Built from the exact SymPy CG of
    :mod:`ace_ref.coupling` and memoised in memory (a block costs milliseconds).
    """
    ls = tuple(int(x) for x in ls)
    group_sizes = (1,) * len(ls) if group_sizes is None else tuple(int(x) for x in group_sizes)
    if sum(group_sizes) != len(ls):
        raise ValueError(f"group_sizes {group_sizes} do not partition {len(ls)} factors")
    parity = (-1) ** L if parity is None else int(parity)
    if lmax_hidden is not None:
        lmax_hidden = int(lmax_hidden)
    return _cached_chain_block(ls, group_sizes, int(L), parity, lmax_hidden, bool(independent))


@functools.cache
def _cached_chain_block(ls, group_sizes, L, parity, lmax_hidden, independent) -> ChainBlock:
    """:func:`_build_chain_block` once per distinct block (a pure function of its arguments)."""
    return _build_chain_block(ls, group_sizes, L, parity, lmax_hidden, independent)
