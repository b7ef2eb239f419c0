"""Numba kernels: pairs → φ, ∇φ → A → AA → B, ∂B/∂r_ij, design rows, energy and forces.

Data flow (one structure):

1. :func:`pair_basis` — for every pair ``p = (i, j)`` with ``r = r_ij``:
   ``φ_p[(n−1)(l_max+1)² + lm] = R_n(r) Y_lm(r̂)`` and its gradient with respect to ``r_ij``.
2. :func:`atomic_base` — ``A[i, s n_slot + idx] = Σ_{p of i, species(j)=s} φ_p[idx]``.
3. :func:`product_features` — ``B[i, row] = Σ_v C[row, v] Π_t A[i, v_t]``.
4. :func:`features_and_pair_gradients` — also ``∂B[i, row]/∂r_ij = Σ_a G[row, a] ∇φ_p[a]`` with
   ``G[row, a] = Σ_{(v,t): v_t=a} C[row, v] Π_{s≠t} A[v_s]`` accumulated on the fixed sparsity
   pattern of :class:`ace_ref.basis.tables.BasisTables` (never a dense K × 3 n_nb Jacobian).
5. :func:`scatter_design_rows` — energy/force/virial rows from ``B`` and ``∂B/∂r_ij``.

The prediction path for fixed coefficients (product tree, one adjoint sweep) is in
:mod:`ace_ref.kernels.predict`.

Parallel loops run over chunks of atoms (``prange``) with one scratch buffer per chunk, so the
inner loops allocate nothing.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from ace_ref.one_particle.radial import radial_with_derivative
from ace_ref.one_particle.spherical import real_ylm_with_gradient

__all__ = [
    "pair_basis",
    "pair_basis_from_radials",
    "extend_pair_basis",
    "extend_pair_values",
    "atomic_base",
    "atomic_base_with_gradients",
    "product_features",
    "features_and_pair_gradients",
    "scatter_design_rows",
]


def _chunks(n: int) -> np.ndarray:
    n_chunks = max(1, min(n, 4 * numba.get_num_threads()))
    return np.linspace(0, n, n_chunks + 1).astype(np.int64)


@njit(cache=True)
def _pair_scratch(n_max, l_max):
    """Per-thread buffers of :func:`_one_pair`: ``R``, ``R'``, ``Y_lm``, ``∇Y_lm``, powers."""
    n_lm = (l_max + 1) ** 2
    return (
        np.empty(n_max), np.empty(n_max), np.empty(n_lm), np.empty((n_lm, 3)),
        np.empty((3, l_max + 1)),
    )  # fmt: skip


@njit(cache=True)
def _one_pair(vector, params, n_max, l_max, R, dR, Y, dY, powers, phi, dphi):
    """``φ[(n−1)(l_max+1)² + lm] = R_n Y_lm`` and ``∇φ = R_n' r̂ Y_lm + R_n ∇Y_lm`` of one pair."""
    n_lm = (l_max + 1) ** 2
    x, y, z = vector[0], vector[1], vector[2]
    r = np.sqrt(x * x + y * y + z * z)
    radial_with_derivative(params, n_max, r, R, dR)
    real_ylm_with_gradient(x, y, z, l_max, Y, dY, powers)
    ux, uy, uz = x / r, y / r, z / r
    for n in range(n_max):
        for lm in range(n_lm):
            idx = n * n_lm + lm
            phi[idx] = R[n] * Y[lm]
            radial_part = dR[n] * Y[lm]
            dphi[idx, 0] = radial_part * ux + R[n] * dY[lm, 0]
            dphi[idx, 1] = radial_part * uy + R[n] * dY[lm, 1]
            dphi[idx, 2] = radial_part * uz + R[n] * dY[lm, 2]


@njit(cache=True)
def _contract_rows(AA, c_indptr, c_indices, c_data, out):
    """``out[row] = Σ_v C[row, v] AA[v]`` (CSR)."""
    for row in range(len(c_indptr) - 1):
        acc = 0.0
        for q in range(c_indptr[row], c_indptr[row + 1]):
            acc += c_data[q] * AA[c_indices[q]]
        out[row] = acc


@njit(parallel=True, cache=True)
def _pair_basis(vectors, pair_type, radial_params, n_max, l_max, bounds, phi, dphi):
    for c in prange(len(bounds) - 1):
        R, dR, Y, dY, powers = _pair_scratch(n_max, l_max)
        for p in range(bounds[c], bounds[c + 1]):
            _one_pair(
                vectors[p],
                radial_params[pair_type[p]],
                n_max,
                l_max,
                R,
                dR,
                Y,
                dY,
                powers,
                phi[p],
                dphi[p],
            )


def pair_basis(vectors, pair_type, radial_params, n_max: int, l_max: int):
    """``φ`` (n_pairs, n_slot) and ``∇_{r_ij} φ`` (n_pairs, n_slot, 3) for every pair."""
    n_slot = n_max * (l_max + 1) ** 2
    phi = np.empty((len(vectors), n_slot))
    dphi = np.empty((len(vectors), n_slot, 3))
    if len(vectors):
        _pair_basis(
            vectors, pair_type, radial_params, n_max, l_max, _chunks(len(vectors)), phi, dphi
        )
    return phi, dphi


@njit(parallel=True, cache=True)
def _pair_basis_from_radials(vectors, R, dR, l_max, bounds, phi, dphi):
    n_max = R.shape[1]
    n_lm = (l_max + 1) ** 2
    for c in prange(len(bounds) - 1):
        Y = np.empty(n_lm)
        dY = np.empty((n_lm, 3))
        powers = np.empty((3, l_max + 1))
        for p in range(bounds[c], bounds[c + 1]):
            x, y, z = vectors[p, 0], vectors[p, 1], vectors[p, 2]
            r = np.sqrt(x * x + y * y + z * z)
            real_ylm_with_gradient(x, y, z, l_max, Y, dY, powers)
            u = (x / r, y / r, z / r)
            for n in range(n_max):
                for l in range(l_max + 1):
                    Rv = R[p, n, l]
                    dRv = dR[p, n, l]
                    for lm in range(l * l, (l + 1) * (l + 1)):
                        idx = n * n_lm + lm
                        phi[p, idx] = Rv * Y[lm]
                        for a in range(3):
                            dphi[p, idx, a] = dRv * Y[lm] * u[a] + Rv * dY[lm, a]


def pair_basis_from_radials(vectors, R, dR, l_max: int):
    """``φ`` and ``∇_{r_ij} φ`` from radial values computed outside the kernel.

    ``φ_p[(n−1)(l_max+1)² + l² + l + m] = R[p, n−1, l] Y_lm(r̂_p)`` and
    ``∇φ = R'[p, n−1, l] r̂ Y_lm + R[p, n−1, l] ∇Y_lm``, for radials that depend on ``l``
    (:mod:`ace_ref.one_particle.pair_radials`). ``R``, ``dR``: ``(n_pairs, n_max, ≥ l_max+1)``.
    """
    n_max = R.shape[1]
    n_slot = n_max * (l_max + 1) ** 2
    phi = np.empty((len(vectors), n_slot))
    dphi = np.empty((len(vectors), n_slot, 3))
    if len(vectors):
        _pair_basis_from_radials(
            np.ascontiguousarray(vectors, dtype=np.float64),
            np.ascontiguousarray(R[:, :, : l_max + 1], dtype=np.float64),
            np.ascontiguousarray(dR[:, :, : l_max + 1], dtype=np.float64),
            l_max, _chunks(len(vectors)), phi, dphi,
        )  # fmt: skip
    return phi, dphi


@njit(parallel=True, cache=True)
def _extend_pair_basis(phi, dphi, extra_index, n_base, bounds, out, dout):
    n_extra = extra_index.shape[0]
    for c in prange(len(bounds) - 1):
        for p in range(bounds[c], bounds[c + 1]):
            for idx in range(n_base):
                out[p, idx] = phi[p, idx]
                for a in range(3):
                    dout[p, idx, a] = dphi[p, idx, a]
            for e in range(n_extra):
                value = 1.0
                gx = 0.0
                gy = 0.0
                gz = 0.0
                for t in range(extra_index.shape[1]):
                    idx = extra_index[e, t]
                    if idx < 0:
                        break
                    f = phi[p, idx]
                    # product rule: ∇(value · f) = ∇value · f + value ∇f
                    gx = gx * f + value * dphi[p, idx, 0]
                    gy = gy * f + value * dphi[p, idx, 1]
                    gz = gz * f + value * dphi[p, idx, 2]
                    value *= f
                out[p, n_base + e] = value
                dout[p, n_base + e, 0] = gx
                dout[p, n_base + e, 1] = gy
                dout[p, n_base + e, 2] = gz


def extend_pair_basis(phi, dphi, extra_index):
    """``φ`` and ``∇φ`` of every pair extended by the pointwise products of the purified basis.

    Slot ``n_base + e`` is ``ψ_e = Π_t φ_{extra_index[e, t]}`` (``-1`` padding) and its gradient
    ``∇ψ_e = Σ_t ∇φ_{i_t} Π_{s≠t} φ_{i_s}`` (product rule, accumulated factor by factor);
    slots ``< n_base`` are copied. Summed over the neighbours of an atom these are the
    ``P_B`` of :mod:`ace_ref.basis.purification`.
    """
    n_pairs, n_base = phi.shape
    n_slot = n_base + len(extra_index)
    out = np.empty((n_pairs, n_slot))
    dout = np.empty((n_pairs, n_slot, 3))
    if n_pairs:
        _extend_pair_basis(
            np.ascontiguousarray(phi), np.ascontiguousarray(dphi),
            np.ascontiguousarray(extra_index, dtype=np.int64), n_base, _chunks(n_pairs), out, dout,
        )  # fmt: skip
    return out, dout


@njit(parallel=True, cache=True)
def _extend_pair_values(phi, extra_index, n_base, bounds, out):
    for c in prange(len(bounds) - 1):
        for p in range(bounds[c], bounds[c + 1]):
            for idx in range(n_base):
                out[p, idx] = phi[p, idx]
            for e in range(extra_index.shape[0]):
                value = 1.0
                for t in range(extra_index.shape[1]):
                    idx = extra_index[e, t]
                    if idx < 0:
                        break
                    value *= phi[p, idx]
                out[p, n_base + e] = value


def extend_pair_values(phi, extra_index):
    """``φ`` extended as :func:`extend_pair_basis`, without the gradients (prediction folds
    the products' adjoints onto ``∇φ`` instead:
    :func:`ace_ref.kernels.predict.energy_forces_from_base`)."""
    n_pairs, n_base = phi.shape
    out = np.empty((n_pairs, n_base + len(extra_index)))
    if n_pairs:
        _extend_pair_values(
            np.ascontiguousarray(phi), np.ascontiguousarray(extra_index, dtype=np.int64),
            n_base, _chunks(n_pairs), out,
        )  # fmt: skip
    return out


@njit(parallel=True, cache=True)
def _atomic_base_with_gradients(
    vectors, pair_type, radial_params, n_max, l_max, offsets, neighbour_species, bounds,
    A, dA_self, dphi,
):  # fmt: skip
    n_lm = (l_max + 1) ** 2
    n_slot = n_max * n_lm
    for c in prange(len(bounds) - 1):
        R, dR, Y, dY, powers = _pair_scratch(n_max, l_max)
        phi = np.empty(n_slot)
        for i in range(bounds[c], bounds[c + 1]):
            for p in range(offsets[i], offsets[i + 1]):
                _one_pair(
                    vectors[p], radial_params[pair_type[p]], n_max, l_max,
                    R, dR, Y, dY, powers, phi, dphi[p],
                )  # fmt: skip
                base = neighbour_species[p] * n_slot
                for idx in range(n_slot):
                    A[i, base + idx] += phi[idx]
                    dA_self[i, base + idx, 0] -= dphi[p, idx, 0]
                    dA_self[i, base + idx, 1] -= dphi[p, idx, 1]
                    dA_self[i, base + idx, 2] -= dphi[p, idx, 2]


def atomic_base_with_gradients(
    vectors, pair_type, offsets, neighbour_species, radial_params, n_max: int, l_max: int,
    n_species: int,
):  # fmt: skip
    """``A``, ``∂A_i/∂r_i`` and ``∇_{r_ij} φ`` per pair in one sweep, parallel over atoms.

    ``A[i, s n_slot + idx] = Σ_{p of i, species(j)=s} φ_p[idx]`` as :func:`atomic_base`,
    ``∂A_i/∂r_i = −Σ_{p of i} ∇φ_p`` in the same layout (shape ``(n_atoms, n_species n_slot,
    3)``) and ``dphi`` (n_pairs, n_slot, 3) as :func:`pair_basis`. Pairs must be grouped by
    their first atom (``offsets``). ``φ`` of a pair lives only in a per-thread buffer: it is
    added into ``A`` as soon as it is computed, so neither a (pairs × slots) array nor a
    second pass over ``∇φ`` is needed.
    """
    n_atoms, n_slot = len(offsets) - 1, n_max * (l_max + 1) ** 2
    A = np.zeros((n_atoms, n_species * n_slot))
    dA_self = np.zeros((n_atoms, n_species * n_slot, 3))
    dphi = np.empty((len(vectors), n_slot, 3))
    if n_atoms:
        _atomic_base_with_gradients(
            vectors, pair_type, radial_params, n_max, l_max, offsets, neighbour_species,
            _chunks(n_atoms), A, dA_self, dphi,
        )  # fmt: skip
    return A, dA_self, dphi


@njit(cache=True)
def atomic_base(offsets, neighbour_species, phi, n_species, n_slot):
    """``A[i, s n_slot + idx] = Σ_{pairs p of i with species(j) = s} φ[p, idx]``."""
    n_atoms = len(offsets) - 1
    A = np.zeros((n_atoms, n_species * n_slot))
    for i in range(n_atoms):
        for p in range(offsets[i], offsets[i + 1]):
            base = neighbour_species[p] * n_slot
            for idx in range(n_slot):
                A[i, base + idx] += phi[p, idx]
    return A


@njit(cache=True)
def _products(A_i, product_index, product_order, AA):
    for v in range(len(product_order)):
        value = 1.0
        for t in range(product_order[v]):
            value *= A_i[product_index[v, t]]
        AA[v] = value


@njit(parallel=True, cache=True)
def _product_features(A, product_index, product_order, c_indptr, c_indices, c_data, bounds, B):
    for c in prange(len(bounds) - 1):
        AA = np.empty(len(product_order))
        for i in range(bounds[c], bounds[c + 1]):
            _products(A[i], product_index, product_order, AA)
            _contract_rows(AA, c_indptr, c_indices, c_data, B[i])


def product_features(A, product_index, product_order, c_indptr, c_indices, c_data):
    """``B[i, row] = Σ_v C[row, v] Π_t A[i, v_t]`` for every atom."""
    B = np.zeros((A.shape[0], len(c_indptr) - 1))
    if A.shape[0]:
        _product_features(
            A, product_index, product_order, c_indptr, c_indices, c_data, _chunks(A.shape[0]), B
        )
    return B


@njit(parallel=True, cache=True)
def _features_and_pair_gradients(
    A,
    offsets,
    neighbour_species,
    dphi,
    n_slot,
    product_index,
    product_order,
    c_indptr,
    c_indices,
    c_data,
    triple_g,
    triple_v,
    triple_t,
    triple_c,
    n_g,
    g_a,
    g_ptr,
    bounds,
    B,
    dB,
):
    n_rows = len(c_indptr) - 1
    for c in prange(len(bounds) - 1):
        AA = np.empty(len(product_order))
        G = np.empty(n_g)
        for i in range(bounds[c], bounds[c + 1]):
            Ai = A[i]
            _products(Ai, product_index, product_order, AA)
            _contract_rows(AA, c_indptr, c_indices, c_data, B[i])
            G[:] = 0.0
            for q in range(len(triple_g)):
                v = triple_v[q]
                t = triple_t[q]
                value = triple_c[q]
                for s in range(product_order[v]):
                    if s != t:
                        value *= Ai[product_index[v, s]]
                G[triple_g[q]] += value
            for p in range(offsets[i], offsets[i + 1]):
                s = neighbour_species[p]
                base = s * n_slot
                for row in range(n_rows):
                    gx = 0.0
                    gy = 0.0
                    gz = 0.0
                    for g in range(g_ptr[row, s], g_ptr[row, s + 1]):
                        w = G[g]
                        idx = g_a[g] - base
                        gx += w * dphi[p, idx, 0]
                        gy += w * dphi[p, idx, 1]
                        gz += w * dphi[p, idx, 2]
                    dB[p, row, 0] = gx
                    dB[p, row, 1] = gy
                    dB[p, row, 2] = gz


def features_and_pair_gradients(A, offsets, neighbour_species, dphi, n_slot: int, tables):
    """``B`` (n_atoms, n_rows) and ``∂B[i(p), row]/∂r_ij`` (n_pairs, n_rows, 3).

    ``tables`` is the :class:`ace_ref.basis.tables.BasisTables` of the output irrep.
    """
    t = tables
    n_rows = len(t.c_indptr) - 1
    B = np.zeros((A.shape[0], n_rows))
    dB = np.zeros((dphi.shape[0], n_rows, 3))
    if A.shape[0]:
        _features_and_pair_gradients(
            A, offsets, neighbour_species, dphi, n_slot, t.product_index, t.product_order,
            t.c_indptr, t.c_indices, t.c_data, t.triple_g, t.triple_v, t.triple_t, t.triple_c,
            len(t.g_a), t.g_a, t.g_ptr, _chunks(A.shape[0]), B, dB,
        )  # fmt: skip
    return B, dB


SCATTER_TILE = 64
"""Functions per tile of :func:`_scatter_design_rows`: a tile's force rows (``3 n_atoms × 64``
numbers) stay in cache while the pairs stream past, and each pair reads its tile of ``∂B``
contiguously."""


@njit(parallel=True, cache=True)
def _scatter_design_rows(
    B, dB, species, i_of_pair, j_of_pair, vectors, n_species, E, F, V, with_virial
):
    n_rows = B.shape[1]
    n_tiles = (n_rows + SCATTER_TILE - 1) // SCATTER_TILE
    for tile in prange(n_tiles):
        r0 = tile * SCATTER_TILE
        r1 = min(r0 + SCATTER_TILE, n_rows)
        for i in range(B.shape[0]):
            base = species[i] * n_rows
            for row in range(r0, r1):
                E[base + row] += B[i, row]
        for p in range(len(i_of_pair)):
            i = i_of_pair[p]
            j = j_of_pair[p]
            base = species[i] * n_rows
            for row in range(r0, r1):
                col = base + row
                for a in range(3):
                    g = dB[p, row, a]
                    F[3 * j + a, col] -= g
                    F[3 * i + a, col] += g
                    if with_virial:
                        for b in range(3):
                            V[b, a, col] += vectors[p, b] * g


def add_design_rows(B, dB, i_of_pair, j_of_pair, vectors, E, F, V, virial: bool = True) -> None:
    """Add the energy, force and virial rows of one block of functions, evaluated on some of
    the atoms (``B``: those atoms; ``dB``, ``i_of_pair``, ``j_of_pair``, ``vectors``: their
    pairs, with ``i``, ``j`` numbering all atoms of the structure), into ``E`` (n_cols,),
    ``F`` (3 n_atoms, n_cols) and ``V`` (3, 3, n_cols; not touched with ``virial=False``) —
    views of the block's columns are fine. The same sums as :func:`scatter_design_rows` with
    one species."""
    n_atoms = F.shape[0] // 3
    species = np.zeros(max(n_atoms, B.shape[0]), dtype=np.int64)
    _scatter_design_rows(B, dB, species, i_of_pair, j_of_pair, vectors, 1, E, F, V, bool(virial))


def scatter_design_rows(
    B,
    dB,
    species,
    i_of_pair,
    j_of_pair,
    vectors,
    n_species: int,
    force_rows=None,
    virial: bool = True,
):
    """Energy ``Σ_i B_i``, forces ``−∂E/∂r`` and virial ``Σ_p r_p ⊗ ∂E/∂r_p`` rows.

    Forces are returned with shape ``(n_atoms, 3, n_cols)``; given ``force_rows`` (a
    ``(3 n_atoms, n_cols)`` array, any memory layout, e.g. rows of a Fortran-ordered block
    buffer), they are written there instead (row ``3i + a`` = atom ``i``, direction ``a``)
    and ``force_rows`` is returned in their place. ``virial=False``: the virial rows are not
    computed and ``None`` is returned for them (a fit without stresses).
    """
    n_atoms, n_rows = B.shape
    n_cols = n_species * n_rows
    E = np.zeros(n_cols)
    if force_rows is None:
        F = np.zeros((3 * n_atoms, n_cols))
    else:
        if force_rows.shape != (3 * n_atoms, n_cols):
            need = (3 * n_atoms, n_cols)
            raise ValueError(f"force_rows has shape {force_rows.shape}, need {need}")
        F = force_rows
        F[:] = 0.0
    V = np.zeros((3, 3, n_cols if virial else 0))
    _scatter_design_rows(
        B, dB, species, i_of_pair, j_of_pair, vectors, n_species, E, F, V, bool(virial)
    )
    return E, (F.reshape(n_atoms, 3, n_cols) if force_rows is None else F), V if virial else None
