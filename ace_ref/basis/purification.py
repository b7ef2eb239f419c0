"""Self-interaction-free ("purified") products: the coupling tables rewritten so that no
neighbour appears twice in a product.

The ACE product of the atomic base counts every tuple of neighbours, repeated ones included:

    AA_v = Π_{t=1}^{ν} A_{a_t} = Σ_{j_1, …, j_ν} Π_t φ_{a_t}(r_{j_t}),

so a ν-correlation also contains terms in which one neighbour fills two or more factors
("self-interactions"): it is not a pure (ν+1)-body function. The purified product keeps only
distinct neighbours,

    AA°_v = Σ_{j_1, …, j_ν distinct} Π_t φ_{a_t}(r_{j_t}),

and by Möbius inversion on the lattice of set partitions of the factors ``{1, …, ν}``
(Rota 1964; the same identity that turns power sums into elementary symmetric polynomials),

    AA°_v = Σ_π μ(π) Π_{B ∈ π} P_B,     μ(π) = Π_{B ∈ π} (−1)^{|B|−1} (|B| − 1)!,
    P_B   = Σ_j Π_{t ∈ B} φ_{a_t}(r_j).

For ν = 2: ``A_1 A_2 − P_12``; for ν = 3:
``A_1 A_2 A_3 − P_12 A_3 − P_13 A_2 − P_23 A_1 + 2 P_123``. A block ``B`` of one factor is
``P_B = A_{a_t}``. A block whose factors belong to different neighbour-species slots is zero
(one neighbour has one species) and drops out.

Every ``P_B`` of two or more factors is itself an atomic-base sum of a one-particle function,
the pointwise product ``ψ(r) = Π_{t∈B} φ_{a_t}(r)``. So purification needs no new kernel for
products, gradients or prediction: the one-particle slots are extended by these products
("extra slots", :attr:`PurifiedTables.extra_index`), and the purified function is an ordinary
coupled product of the extended atomic base, ``B°_k = Σ_v C_kv AA°_v = Σ_w (C M)_kw Π A_w``.
This module only rewrites the tables; :func:`ace_ref.kernels.features.extend_pair_basis` adds
the extra slots to ``φ`` and ``∇φ`` of each pair.

The result is exact: a purified function of correlation order ν is zero on every environment
with fewer than ν neighbours, and on ``n ≥ ν`` neighbours it is the sum of its values on the
subsets of exactly ν of them (tested by inclusion–exclusion in ``tests/basis``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from math import factorial

import numpy as np
import scipy.sparse

__all__ = ["PurifiedTables", "set_partitions", "mobius", "purify_products"]


@cache
def set_partitions(n: int) -> tuple[tuple[tuple[int, ...], ...], ...]:
    """All set partitions of ``{0, …, n−1}`` (Bell number ``B_n`` of them), each a tuple of
    blocks, blocks sorted by their first element and elements ascending inside a block."""
    if n == 0:
        return ((),)
    out = []
    for partition in set_partitions(n - 1):
        # n−1 joins an existing block, or opens its own
        for k in range(len(partition)):
            blocks = list(partition)
            blocks[k] = blocks[k] + (n - 1,)
            out.append(tuple(blocks))
        out.append(partition + ((n - 1,),))
    return tuple(out)


def mobius(partition) -> int:
    """``μ(0̂, π) = Π_B (−1)^{|B|−1} (|B|−1)!`` on the partition lattice."""
    value = 1
    for block in partition:
        value *= (-1) ** (len(block) - 1) * factorial(len(block) - 1)
    return value


@dataclass(frozen=True)
class PurifiedTables:
    """Products and coupling matrix of the purified functions on the extended atomic base.

    Attributes
    ----------
    extra_index : (n_extra, order) int64
        Extra slot ``e`` is ``ψ_e(r) = Π_t φ_{extra_index[e, t]}(r)`` (indices inside one
        species block, ``-1`` padding); it sits at ``s · n_slot + n_base + e`` of the extended
        base, where ``n_slot = n_base + n_extra``.
    product_index : (n_products, order) int64
        Factors of every product on the extended base (``-1`` padding, ascending).
    rows, cols, vals : ndarray
        The coupling matrix ``C M`` as COO triplets (row of the original ``C``, column =
        new product).
    n_slot : int
        Slots per neighbour species of the extended base.
    """

    extra_index: np.ndarray
    product_index: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    vals: np.ndarray
    n_slot: int


def _encode(rows: np.ndarray, base: int) -> np.ndarray:
    """Integer key of each row of non-negative ints ``< base`` (``-1`` padding → 0 digit)."""
    keys = np.zeros(len(rows), dtype=np.int64)
    for t in range(rows.shape[1]):
        keys = keys * (base + 1) + (rows[:, t] + 1)
    return keys


def purify_products(
    product_index: np.ndarray,
    product_order: np.ndarray,
    coupling: scipy.sparse.csr_array,
    n_base: int,
    order: int,
) -> PurifiedTables:
    """Rewrite ``B = C AA`` as ``B° = (C M) AA'`` on the extended atomic base.

    Parameters
    ----------
    product_index, product_order
        Products ``AA_v = Π_t A[product_index[v, t]]`` with one-particle indices
        ``a = s n_base + idx`` (``-1`` padding).
    coupling
        ``C`` (rows × products), sparse.
    n_base
        One-particle functions per neighbour-species slot before extension.
    order
        Largest correlation order (width of the index arrays).

    Returns
    -------
    PurifiedTables
        ``M[v, w] = Σ_{π: Π_{B∈π} P_B = AA'_w} μ(π)`` contracted into ``C``.
    """
    product_index = np.asarray(product_index, dtype=np.int64)
    product_order = np.asarray(product_order, dtype=np.int64)
    species = np.where(product_index >= 0, product_index // n_base, -1)
    local = np.where(product_index >= 0, product_index % n_base, -1)
    # pass 1: every block of two or more same-species factors → its sorted local multiset
    # each term: (products v, μ, factors); a factor is (None, one-particle index a) for a
    # block of one, or (sorted local multiset, species of the block) for a larger block
    terms = []
    block_keys = []
    for nu in range(1, order + 1):
        v_of = np.flatnonzero(product_order == nu)
        if not len(v_of):
            continue
        for partition in set_partitions(nu):
            ok = np.ones(len(v_of), dtype=bool)
            for block in partition:
                if len(block) > 1:
                    s_block = species[np.ix_(v_of, block)]
                    ok &= np.all(s_block == s_block[:, :1], axis=1)
            vs = v_of[ok]
            if not len(vs):
                continue
            factors = []
            for block in partition:
                if len(block) == 1:
                    factors.append((None, product_index[vs, block[0]]))
                else:
                    multiset = np.full((len(vs), order), -1, dtype=np.int64)
                    multiset[:, : len(block)] = np.sort(local[np.ix_(vs, block)], axis=1)
                    block_keys.append(multiset)
                    factors.append((multiset, species[vs, block[0]]))
            terms.append((vs, mobius(partition), factors))
    if block_keys:
        all_blocks = np.concatenate(block_keys)
        # extra slots ordered by size, then lexicographically
        sizes = np.sum(all_blocks >= 0, axis=1)
        extra_index = np.unique(np.column_stack([sizes, all_blocks]), axis=0)[:, 1:]
    else:
        extra_index = np.zeros((0, order), dtype=np.int64)
    n_slot = n_base + len(extra_index)
    extra_keys = _encode(extra_index, n_base)
    order_keys = np.argsort(extra_keys)
    sorted_keys = extra_keys[order_keys]
    # pass 2: the factors of each term on the extended base, a new product per term
    term_v, term_mu, term_rows = [], [], []
    for vs, mu, factors in terms:
        extended = np.full((len(vs), order), -1, dtype=np.int64)
        for col, (multiset, index_or_species) in enumerate(factors):
            if multiset is None:
                s, idx = np.divmod(index_or_species, n_base)
                extended[:, col] = s * n_slot + idx
            else:
                e = order_keys[np.searchsorted(sorted_keys, _encode(multiset, n_base))]
                extended[:, col] = index_or_species * n_slot + n_base + e
        term_v.append(vs)
        term_mu.append(np.full(len(vs), float(mu)))
        term_rows.append(extended)
    rows = np.concatenate(term_rows)
    # ascending factors, padding last
    rows = np.where(rows < 0, np.iinfo(np.int64).max, rows)
    rows.sort(axis=1)
    rows = np.where(rows == np.iinfo(np.int64).max, -1, rows)
    new_products, w = np.unique(rows, axis=0, return_inverse=True)
    # products first by order, then lexicographically (the layout of the unpurified tables)
    n_factors = np.sum(new_products >= 0, axis=1)
    relabel = np.lexsort(tuple(new_products[:, ::-1].T) + (n_factors,))
    position = np.empty(len(relabel), dtype=np.int64)
    position[relabel] = np.arange(len(relabel))
    new_products = new_products[relabel]
    w = position[w.reshape(-1)]
    M = scipy.sparse.coo_array(
        (np.concatenate(term_mu), (np.concatenate(term_v), w)),
        shape=(len(product_order), len(new_products)),
    ).tocsr()
    CM = (scipy.sparse.csr_array(coupling) @ M).tocoo()
    keep = CM.data != 0.0
    return PurifiedTables(
        extra_index=extra_index.astype(np.int64),
        product_index=new_products.astype(np.int64),
        rows=CM.row[keep].astype(np.int64),
        cols=CM.col[keep].astype(np.int64),
        vals=CM.data[keep],
        n_slot=int(n_slot),
    )
