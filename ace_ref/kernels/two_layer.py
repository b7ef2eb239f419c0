"""Numba kernels of the two-layer (multi-ACE) basis: the layer-2 atomic base and its design rows.

See :mod:`ace_ref.basis.two_layer` for the formulas; these loops are serial reference code.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = []


# ---------------------------------------------------------------------------- kernels
@njit(cache=True)
def layer2_base(offsets, j_of_pair, species, phi2, B1, e_slot, e_phi, e_b1, e_val, ns, n_slot):
    """``A²[i, s n_slot + a] = Σ_{pairs (i,j), s_j = s} Σ_terms val φ²[p, ·] B¹[j, ·]``."""
    n_atoms = len(offsets) - 1
    A2 = np.zeros((n_atoms, ns * n_slot))
    for i in range(n_atoms):
        for p in range(offsets[i], offsets[i + 1]):
            j = j_of_pair[p]
            base = species[j] * n_slot
            for e in range(len(e_slot)):
                A2[i, base + e_slot[e]] += e_val[e] * phi2[p, e_phi[e]] * B1[j, e_b1[e]]
    return A2


@njit(cache=True)
def layer2_rows(
    off2, i2, j2, D2, species, phi2, dphi2, B1, dB1, off1, j1, D1,
    e_slot, e_phi, e_b1, e_val, e_ptr, ns, n_slot,
    product_index, product_order, c_indptr, c_indices, c_data,
    triple_g, triple_v, triple_t, triple_c, n_g, g_a, g_ptr,
    ge_ptr, ge_g, ge_term, ge_w, w_ptr, w_b1,
):  # fmt: skip
    n_atoms = len(off2) - 1
    n_rows = len(c_indptr) - 1
    n_cols = ns * n_rows
    E = np.zeros(n_cols)
    F = np.zeros((n_atoms, 3, n_cols))
    V = np.zeros((3, 3, n_cols))
    A2 = layer2_base(off2, j2, species, phi2, B1, e_slot, e_phi, e_b1, e_val, ns, n_slot)
    AA = np.empty(len(product_order))
    G = np.zeros((n_atoms, n_g))
    # W[j, s_i, w]: adjoint of the channels B¹_j for features of central species s_i
    n_w = len(w_b1)
    W = np.zeros((n_atoms, ns, n_w))
    dA = np.zeros((n_slot, 3))
    for i in range(n_atoms):
        Ai = A2[i]
        for v in range(len(product_order)):
            value = 1.0
            for t in range(product_order[v]):
                value *= Ai[product_index[v, t]]
            AA[v] = value
        zi = species[i]
        for row in range(n_rows):
            acc = 0.0
            for q in range(c_indptr[row], c_indptr[row + 1]):
                acc += c_data[q] * AA[c_indices[q]]
            E[zi * n_rows + row] += acc
        for q in range(len(triple_g)):
            v = triple_v[q]
            t = triple_t[q]
            value = triple_c[q]
            for s in range(product_order[v]):
                if s != t:
                    value *= Ai[product_index[v, s]]
            G[i, triple_g[q]] += value
        for p in range(off2[i], off2[i + 1]):
            j = j2[p]
            sj = species[j]
            base = sj * n_slot
            # direct term: ∂A²_i/∂r_ij through the layer-2 pair basis
            dA[:, :] = 0.0
            for e in range(len(e_slot)):
                w = e_val[e] * B1[j, e_b1[e]]
                for c in range(3):
                    dA[e_slot[e], c] += w * dphi2[p, e_phi[e], c]
            for row in range(n_rows):
                gx = 0.0
                gy = 0.0
                gz = 0.0
                for g in range(g_ptr[row, sj], g_ptr[row, sj + 1]):
                    wg = G[i, g]
                    a = g_a[g] - base
                    gx += wg * dA[a, 0]
                    gy += wg * dA[a, 1]
                    gz += wg * dA[a, 2]
                col = zi * n_rows + row
                F[j, 0, col] -= gx
                F[j, 1, col] -= gy
                F[j, 2, col] -= gz
                F[i, 0, col] += gx
                F[i, 1, col] += gy
                F[i, 2, col] += gz
                for b in range(3):
                    V[b, 0, col] += D2[p, b] * gx
                    V[b, 1, col] += D2[p, b] * gy
                    V[b, 2, col] += D2[p, b] * gz
            # adjoint of the channels of j: W_j += G_i ∂A²_i/∂B¹_j
            for q in range(ge_ptr[sj], ge_ptr[sj + 1]):
                e = ge_term[q]
                W[j, zi, ge_w[q]] += G[i, ge_g[q]] * e_val[e] * phi2[p, e_phi[e]]
    # second shell: ∂B¹_j/∂r_jk through W_j
    for j in range(n_atoms):
        for p in range(off1[j], off1[j + 1]):
            k = j1[p]
            for zi in range(ns):
                for row in range(n_rows):
                    gx = 0.0
                    gy = 0.0
                    gz = 0.0
                    for w in range(w_ptr[row], w_ptr[row + 1]):
                        wv = W[j, zi, w]
                        if wv == 0.0:
                            continue
                        c = w_b1[w]
                        gx += wv * dB1[p, c, 0]
                        gy += wv * dB1[p, c, 1]
                        gz += wv * dB1[p, c, 2]
                    col = zi * n_rows + row
                    F[k, 0, col] -= gx
                    F[k, 1, col] -= gy
                    F[k, 2, col] -= gz
                    F[j, 0, col] += gx
                    F[j, 1, col] += gy
                    F[j, 2, col] += gz
                    for b in range(3):
                        V[b, 0, col] += D1[p, b] * gx
                        V[b, 1, col] += D1[p, b] * gy
                        V[b, 2, col] += D1[p, b] * gz
    return E, F, V
