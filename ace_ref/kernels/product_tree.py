"""Prefix tree of the product basis for fast prediction with fixed coefficients.

A fitted model needs, per central species ``z``, only

    E_i = Σ_v c̃[z, v] Π_{t=1}^{ν_v} A_i[a_{v,t}]

over the products ``v`` with ``c̃[z, v] ≠ 0``. The factors of a product commute, so each
product is written as the sequence of its one-particle indices ordered by a fixed *rank* of
the indices (most frequently used first), and all sequences are stored in a trie: a node is
a distinct prefix ``(a_1, …, a_d)`` with

    value[node]   = value[parent] · A[slot[node]]      (value of the empty prefix = 1),
    coeff[node]   = c̃ of the product equal to that prefix (0 for pure prefixes).

Products that share a prefix share its multiplications (ACE's lower-order products are
prefixes of higher-order ones, so most nodes carry a coefficient). Evaluation costs one
multiplication per node; the energy is ``Σ_node coeff · value``. The gradient ``∂E/∂A`` is one
reverse sweep over the nodes (children are stored after their parents):

    adj[node]           = coeff[node] + Σ_{children k} adj[k] · A[slot[k]],
    ∂E/∂A[slot[node]]  += adj[node] · value[parent(node)].

Nodes are stored level by level (all prefixes of length 1, then 2, …), lexicographically
within a level, so ``parent`` is non-decreasing inside a level and the sweeps stream through
memory. This is the "recursive" evaluation idea of the ML-PACE C++ code, restricted to
prefix sharing, which is exact and needs no search.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

__all__ = ["ProductTree", "build_product_tree"]


@dataclass(frozen=True)
class ProductTree:
    """Tries of the non-zero products of every central species, concatenated.

    Within a species the nodes are stored level by level; the children of a node are
    contiguous, internal children (those with children of their own) first, then leaves.
    Leaves need no stored value or adjoint: their adjoint is their coefficient.

    Attributes
    ----------
    parent : (n_nodes,) int64
        Global index of the parent node, ``-1`` for nodes of depth 1 (roots).
    slot : (n_nodes,) int64
        One-particle index ``a`` multiplied in at this node.
    coeff : (n_nodes,) float64
        Coefficient of the product equal to this prefix (0 for pure prefixes).
    child_start, child_mid, child_end : (n_nodes,) int64
        Children of node ``k`` are ``child_start[k]:child_end[k]``; those before
        ``child_mid[k]`` are internal.
    internal : (n_internal,) int64
        Global indices of the internal nodes, level by level.
    child_ipos : (n_internal,) int64
        For internal node ``internal[q]``: position in ``internal`` of its first internal
        child (its internal children are consecutive there too).
    species_ptr : (n_species + 1,) int64
        Nodes of central species ``z`` are ``species_ptr[z]:species_ptr[z + 1]``.
    root_mid, root_end : (n_species,) int64
        Roots of species ``z`` are ``species_ptr[z]:root_end[z]``, internal ones before
        ``root_mid[z]``.
    internal_ptr : (n_species + 1,) int64
        Internal nodes of species ``z`` are ``internal[internal_ptr[z]:internal_ptr[z + 1]]``.
    n_products : int
        Number of products with a non-zero coefficient (over all species).
    """

    parent: np.ndarray
    slot: np.ndarray
    coeff: np.ndarray
    child_start: np.ndarray
    child_mid: np.ndarray
    child_end: np.ndarray
    internal: np.ndarray
    child_ipos: np.ndarray
    species_ptr: np.ndarray
    root_mid: np.ndarray
    root_end: np.ndarray
    internal_ptr: np.ndarray
    n_products: int

    @property
    def n_nodes(self) -> int:
        return len(self.slot)

    @cached_property
    def segments(self) -> np.ndarray:
        """Per species ``(first node, root_mid, root_end, internal_ptr[z], internal_ptr[z+1],
        end node)`` as one (n_species, 6) int64 array for the kernels."""
        z = np.arange(len(self.root_end))
        return np.stack(
            [
                self.species_ptr[z],
                self.root_mid,
                self.root_end,
                self.internal_ptr[z],
                self.internal_ptr[z + 1],
                self.species_ptr[z + 1],
            ],
            axis=1,
        ).astype(np.int64)

    def used_slots(self, n_slots: int) -> np.ndarray:
        """Boolean mask of the one-particle indices that any node uses."""
        mask = np.zeros(n_slots, dtype=bool)
        mask[self.slot] = True
        return mask


def _slot_rank(product_index: np.ndarray, product_order: np.ndarray) -> np.ndarray:
    """Rank of every one-particle index: most frequent first (ties by index)."""
    used = product_index[product_index >= 0]
    n = int(used.max()) + 1 if used.size else 0
    counts = np.bincount(used, minlength=n)
    order = np.lexsort((np.arange(n), -counts))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    return rank


def _trie_levels(sequences: np.ndarray, orders: np.ndarray, coeffs: np.ndarray):
    """Levels of the trie of rank sequences (rows sorted ascending, padded).

    Returns one ``(parent, rank, coeff)`` per level; ``parent`` indexes the previous level,
    nodes of a level are sorted lexicographically by prefix.
    """
    levels = []
    prev_keys = None
    depth_max = int(orders.max()) if len(orders) else 0
    for d in range(1, depth_max + 1):
        rows = orders >= d
        keys, inverse = np.unique(sequences[rows, :d], axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        level_coeff = np.zeros(len(keys))
        exact = orders[rows] == d
        np.add.at(level_coeff, inverse[exact], coeffs[rows][exact])
        if d == 1:
            parent = np.full(len(keys), -1, dtype=np.int64)
        else:
            parent = _row_positions(prev_keys, keys[:, : d - 1])
        levels.append((parent, keys[:, d - 1].astype(np.int64), level_coeff))
        prev_keys = keys
    return levels


def _layout(levels):
    """Reorder every level so siblings are contiguous, internal before leaves.

    Returns global ``(parent, rank, coeff, is_internal)`` with parents before children.
    """
    parents, ranks, coeffs, internal = [], [], [], []
    new_pos_prev = None
    start_prev, start = 0, 0
    for d, (parent, rank, coeff) in enumerate(levels):
        n = len(rank)
        if d + 1 < len(levels):
            has_children = np.bincount(levels[d + 1][0], minlength=n) > 0
        else:
            has_children = np.zeros(n, dtype=bool)
        parent_new = np.full(n, -1, dtype=np.int64) if d == 0 else new_pos_prev[parent]
        perm = np.lexsort((np.arange(n), ~has_children, parent_new))
        new_pos = np.empty(n, dtype=np.int64)
        new_pos[perm] = np.arange(n)
        parents.append(np.where(parent_new[perm] >= 0, parent_new[perm] + start_prev, -1))
        ranks.append(rank[perm])
        coeffs.append(coeff[perm])
        internal.append(has_children[perm])
        new_pos_prev = new_pos
        start_prev, start = start, start + n
    if not parents:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0), np.zeros(0, dtype=bool)
    return (
        np.concatenate(parents),
        np.concatenate(ranks),
        np.concatenate(coeffs),
        np.concatenate(internal),
    )


def _row_positions(sorted_rows: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Index of every row of ``rows`` in ``sorted_rows`` (lexicographically sorted, unique)."""
    width = sorted_rows.shape[1]
    base = int(max(sorted_rows.max(initial=0), rows.max(initial=0))) + 1
    if base**width < 2**62:
        weights = base ** np.arange(width - 1, -1, -1, dtype=np.int64)
        a = sorted_rows.astype(np.int64) @ weights
        b = rows.astype(np.int64) @ weights
        pos = np.searchsorted(a, b)
    else:  # pragma: no cover - astronomically many slots
        lookup = {tuple(r): k for k, r in enumerate(sorted_rows.tolist())}
        pos = np.array([lookup[tuple(r)] for r in rows.tolist()], dtype=np.int64)
    return pos.astype(np.int64)


def build_product_tree(
    product_index: np.ndarray, product_order: np.ndarray, ctilde: np.ndarray
) -> ProductTree:
    """Tries of the products with non-zero ``ctilde[z, v]`` for every central species ``z``.

    Parameters
    ----------
    product_index, product_order
        The product basis of :class:`ace_ref.basis.tables.BasisTables` (``-1`` padded).
    ctilde : (n_species, n_products)
        Product-basis coefficients ``c̃ = Cᵀ c`` per central species.
    """
    product_index = np.asarray(product_index, dtype=np.int64)
    product_order = np.asarray(product_order, dtype=np.int64)
    rank = _slot_rank(product_index, product_order)
    n_rank = len(rank)
    slot_of_rank = np.empty(n_rank, dtype=np.int64)
    slot_of_rank[rank] = np.arange(n_rank)
    # rank sequences, sorted ascending within each product, padded with n_rank
    seq = np.full(product_index.shape, n_rank, dtype=np.int64)
    valid = product_index >= 0
    seq[valid] = rank[product_index[valid]]
    seq.sort(axis=1)
    parts = {key: [] for key in ("parent", "slot", "coeff", "start", "mid", "end", "internal")}
    ptr, internal_ptr, root_mid, root_end = [0], [0], [], []
    n_products = 0
    for z in range(ctilde.shape[0]):
        keep = ctilde[z] != 0.0
        n_products += int(keep.sum())
        levels = _trie_levels(seq[keep], product_order[keep], ctilde[z, keep])
        parent, r, c, is_internal = _layout(levels)
        n = len(r)
        off = ptr[-1]
        # children of k: nodes with parent == k, contiguous; internal ones first
        counts = np.bincount(parent[parent >= 0], minlength=n)
        n_internal_children = np.bincount(parent[(parent >= 0) & is_internal], minlength=n)
        n_roots = int(np.sum(parent < 0))
        first_child = n_roots + np.cumsum(counts) - counts
        parts["parent"].append(np.where(parent >= 0, parent + off, -1))
        parts["slot"].append(slot_of_rank[r] if n else r)
        parts["coeff"].append(c)
        parts["start"].append(first_child + off)
        parts["mid"].append(first_child + n_internal_children + off)
        parts["end"].append(first_child + counts + off)
        parts["internal"].append(np.flatnonzero(is_internal) + off)
        root_mid.append(off + int(np.sum(is_internal[:n_roots])))
        root_end.append(off + n_roots)
        ptr.append(off + n)
        internal_ptr.append(internal_ptr[-1] + int(is_internal.sum()))

    def cat(key, dtype):
        return np.concatenate(parts[key]).astype(dtype) if parts[key] else np.zeros(0, dtype)

    internal = cat("internal", np.int64)
    child_start = cat("start", np.int64)
    ipos = np.full(ptr[-1], -1, dtype=np.int64)
    ipos[internal] = np.arange(len(internal))
    first_child = child_start[internal]
    child_ipos = np.where(first_child < ptr[-1], ipos[np.minimum(first_child, ptr[-1] - 1)], 0)
    return ProductTree(
        parent=cat("parent", np.int64),
        slot=cat("slot", np.int64),
        coeff=cat("coeff", np.float64),
        child_start=child_start,
        child_mid=cat("mid", np.int64),
        child_end=cat("end", np.int64),
        internal=internal,
        child_ipos=child_ipos.astype(np.int64),
        species_ptr=np.asarray(ptr, dtype=np.int64),
        root_mid=np.asarray(root_mid, dtype=np.int64),
        root_end=np.asarray(root_end, dtype=np.int64),
        internal_ptr=np.asarray(internal_ptr, dtype=np.int64),
        n_products=n_products,
    )
