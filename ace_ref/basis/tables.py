"""Coupling tables of a basis in the layout the kernels read, and the containers of their output.

:class:`BasisTables` holds ``C`` (rows = basis functions, columns = products ``AA_v``) in CSR form
with the products and the sparsity pattern of ``G = ∂B/∂A``; :class:`DesignRows` and
:class:`AtomicBaseGradients` are what the basis returns for one structure.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse

__all__ = ["BasisTables", "AtomicBaseGradients", "DesignRows", "assemble_tables"]


@dataclass(frozen=True)
class BasisTables:
    """Index tables of one output irrep ``L`` (shared by all central species).

    ``product_index[v, t]`` is the one-particle index ``a`` of factor ``t`` of product ``v``
    (``-1`` padding beyond ``product_order[v]``). ``C`` is stored by rows
    ``row = k (2L+1) + (M + L)`` in CSR form. ``G`` entries ``g`` are the nonzero pairs
    ``(row, a)`` of ``∂B_row/∂A_a``; ``triple_*`` list every ``(row, v, t)`` contribution and
    ``g_ptr[row, s]:g_ptr[row, s+1]`` the ``g`` of that row whose ``a`` lies in species slot ``s``.
    """

    L: int
    n_functions: int
    product_index: np.ndarray
    product_order: np.ndarray
    c_indptr: np.ndarray
    c_indices: np.ndarray
    c_data: np.ndarray
    triple_g: np.ndarray
    triple_v: np.ndarray
    triple_t: np.ndarray
    triple_c: np.ndarray
    g_a: np.ndarray
    g_ptr: np.ndarray
    labels: list = field(repr=False)

    @property
    def n_rows(self) -> int:
        return self.n_functions * (2 * self.L + 1)

    @property
    def n_products(self) -> int:
        return len(self.product_order)

    @property
    def coupling_matrix(self) -> scipy.sparse.csr_array:
        """``C`` as a sparse ``n_rows × n_products`` matrix: ``B_row = Σ_v C[row, v] AA_v``
        (the same arrays the kernels read, not a copy)."""
        return scipy.sparse.csr_array(
            (self.c_data, self.c_indices, self.c_indptr), shape=(self.n_rows, self.n_products)
        )


@dataclass(frozen=True)
class AtomicBaseGradients:
    """The atomic base ``A`` of many structures and its gradients with respect to positions.

    ``A_i[s n_slot + idx] = Σ_{j ∈ N(i), z_j = s} φ_idx(r_ij)`` with ``r_ij = r_j − r_i``, so

    * ``∂A_i[s n_slot + idx]/∂r_j = ∇φ_idx(r_ij)`` for each pair ``p = (i, j)`` with
      ``z_j = s`` — ``pair_gradients[p, idx]`` (only the species block of ``j`` is non-zero,
      so it is stored once per pair, without the species axis);
    * ``∂A_i/∂r_i = −Σ_j ∇φ(r_ij)`` — ``self_gradients[i]`` in the full layout of ``A``.

    Attributes
    ----------
    values : ndarray (n_atoms, n_species n_slot)
        ``A`` for every atom of every structure.
    self_gradients : ndarray (n_atoms, n_species n_slot, 3)
    pair_gradients : ndarray (n_pairs, n_slot, 3)
    first, second : ndarray (n_pairs,)
        Atoms ``i`` and ``j`` of each pair, numbered over the whole batch. A periodic image
        of ``i`` itself appears as ``j = i`` and then contributes to both terms.
    second_species : ndarray (n_pairs,)
        Species index ``s`` of ``j``.
    structure_offsets : ndarray (n_structures + 1,)
    n_slot : int
    """

    values: np.ndarray
    self_gradients: np.ndarray
    pair_gradients: np.ndarray
    first: np.ndarray
    second: np.ndarray
    second_species: np.ndarray
    structure_offsets: np.ndarray
    n_slot: int


@dataclass(frozen=True)
class DesignRows:
    """Design-matrix rows of one structure (derivatives of ``E = Σ_i Σ_k c_{z_i k} B_{ik}``).

    Attributes
    ----------
    energy : ndarray (n_columns,)
        ``∂E/∂c``.
    forces : ndarray (n_atoms, 3, n_columns)
        ``∂F/∂c = −∂²E/∂r∂c``.
    virial : ndarray (3, 3, n_columns) or None
        ``∂/∂c`` of ``∂E/∂ε_ab = Σ_pairs r_ij,a ∂E/∂r_ij,b`` (stress = this / volume, ASE sign);
        ``None`` where it was not asked for (``design_rows(..., virial=False)``).
    """

    energy: np.ndarray
    forces: np.ndarray
    virial: np.ndarray | None


def assemble_tables(
    L: int,
    n_functions: int,
    width: int,
    prod_rows: list,
    c_rows: list,
    c_cols: list,
    c_vals: list,
    order: int,
    n_species: int,
    n_slot: int,
    labels: list,
) -> BasisTables:
    """:class:`BasisTables` from the per-block pieces: padded product rows, and the coupling
    matrix as COO triplets (row = function · width + M, column = product).

    Sorts ``C`` into CSR and derives the gradient pattern: every ``(row, v, t)`` with
    ``a = product_index[v, t]``, de-duplicated into ``(row, a)`` slots ``g`` with pointers
    ``g_ptr[row, s]`` per neighbour species block ``s`` (slots ``s n_slot … (s+1) n_slot``).
    """
    product_index = np.concatenate(prod_rows) if prod_rows else np.zeros((0, order), dtype=np.int64)
    product_order = np.sum(product_index >= 0, axis=1).astype(np.int64)
    rows = np.concatenate(c_rows) if c_rows else np.zeros(0, dtype=np.int64)
    cols = np.concatenate(c_cols) if c_cols else np.zeros(0, dtype=np.int64)
    vals = np.concatenate(c_vals) if c_vals else np.zeros(0)
    order_ = np.lexsort((cols, rows))
    rows, cols, vals = rows[order_], cols[order_], vals[order_]
    n_rows = n_functions * width
    c_indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_rows), out=c_indptr[1:])
    reps = product_order[cols]
    t_rows = np.repeat(rows, reps)
    t_v = np.repeat(cols, reps)
    t_c = np.repeat(vals, reps)
    starts = np.repeat(np.cumsum(reps) - reps, reps)
    t_t = np.arange(len(t_v)) - starts
    t_a = product_index[t_v, t_t]
    n_A = n_species * n_slot
    key = t_rows * n_A + t_a
    g_keys, t_g = np.unique(key, return_inverse=True)
    g_a = g_keys % n_A
    bounds = np.arange(n_rows)[:, None] * n_A + np.arange(n_species + 1)[None, :] * n_slot
    g_ptr = np.searchsorted(g_keys, bounds.ravel()).reshape(n_rows, n_species + 1)
    return BasisTables(
        L=L,
        n_functions=n_functions,
        product_index=product_index,
        product_order=product_order,
        c_indptr=c_indptr,
        c_indices=cols.astype(np.int64),
        c_data=vals,
        triple_g=t_g.astype(np.int64).reshape(-1),
        triple_v=t_v.astype(np.int64),
        triple_t=t_t.astype(np.int64),
        triple_c=t_c,
        g_a=g_a.astype(np.int64),
        g_ptr=g_ptr.astype(np.int64),
        labels=labels,
    )
