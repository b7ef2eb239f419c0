"""Prediction kernels for fixed coefficients: energies, forces and virials by one adjoint sweep.

For a fitted model the coefficients are contracted into the product basis once,
``c̃[z, v] = Σ_k c[z, k] C[k, v]``, and stored as a prefix tree
(:class:`ace_ref.kernels.product_tree.ProductTree`). Per central atom ``i`` of species ``z``:

1. neighbours: ``A_i[s, n, lm] = Σ_{j: species s} R_n(r_ij) Y_lm(r̂_ij)`` (only the ``(n, lm)``
   slots some product uses, see :func:`lm_limits`);
2. tree, forward: ``E_i = Σ_v c̃[z, v] Π_t A_i[a_{v,t}]``; reverse: ``g = ∂E_i/∂A_i``;
3. neighbours again: ``∂E_i/∂r_ij = r̂ Σ_n R'_n u_n + Σ_lm w_lm ∇Y_lm`` with
   ``u_n = Σ_lm g[s, n, lm] Y_lm`` and ``w_lm = Σ_n g[s, n, lm] R_n`` — a factorisation of
   ``Σ_a g_a ∇φ_a`` that never forms ``∇φ``.

Forces are ``F_j = Σ_i ∂E_i/∂r_ij − …`` (``r_ij = r_j − r_i``), the virial
``W[a, b] = Σ_ij r_ij,a ∂E/∂r_ij,b``. Nothing is differentiated numerically and nothing is
approximated: the result is the exact gradient of the same polynomial the design rows use.

Atoms of one species are processed in batches of ``WIDTH`` (:data:`ace_ref.kernels.simd.WIDTH`): the
tree sweeps of a batch run together with the batch as the innermost axis, so every tree node is
read once per batch and its multiply–adds are vector instructions (:mod:`ace_ref.kernels.simd`).
Batches are spread over threads (``prange``); every scratch buffer is allocated once per thread
chunk, none per atom.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from ace_ref.kernels.product_tree import ProductTree
from ace_ref.kernels.simd import WIDTH, row_axpy, row_copy, row_fill, row_fma, row_mul
from ace_ref.one_particle.radial import radial_with_derivative
from ace_ref.one_particle.spherical import real_ylm_with_gradient

__all__ = ["energy_forces", "energy_forces_from_base", "lm_limits", "atom_batches"]


def lm_limits(tree: ProductTree, n_max: int, l_max: int) -> np.ndarray:
    """``n_lm_of_n[n]``: one past the largest ``lm`` that any product uses with radial ``n``.

    One-particle indices are ``a = s n_slot + n (l_max+1)² + lm`` with ``n`` from 0.
    """
    n_lm = (l_max + 1) ** 2
    out = np.zeros(n_max, dtype=np.int64)
    if tree.n_nodes:
        rest = tree.slot % (n_max * n_lm)
        np.maximum.at(out, rest // n_lm, rest % n_lm + 1)
    return out


def atom_batches(species: np.ndarray, n_species: int) -> tuple[np.ndarray, np.ndarray]:
    """Atoms grouped by species into batches of ``WIDTH`` (``-1`` pads a species' last one).

    Returns ``(batches (n_batches, WIDTH), batch_species (n_batches,))``.
    """
    batches, batch_species = [], []
    for z in range(n_species):
        atoms = np.flatnonzero(species == z)
        if not len(atoms):
            continue
        n_b = -(-len(atoms) // WIDTH)
        padded = np.full(n_b * WIDTH, -1, dtype=np.int64)
        padded[: len(atoms)] = atoms
        batches.append(padded.reshape(n_b, WIDTH))
        batch_species.append(np.full(n_b, z, dtype=np.int64))
    if not batches:
        return np.zeros((0, WIDTH), dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(batches), np.concatenate(batch_species)


@njit(cache=True)
def _tree_sweep(
    At, slot, coeff, child_start, child_mid, child_end, internal, child_ipos, seg,
    value, adj, acc, dEdAt, energy,
):  # fmt: skip
    """Forward and reverse sweep of one species' trie for a batch of ``WIDTH`` atoms.

    Work arrays have the batch as their last axis, (·, WIDTH), and every update is one vector
    row operation (:mod:`ace_ref.kernels.simd`). ``seg = (first node, internal roots end, roots end,
    first internal, internal end)``. ``value``/``adj`` are indexed by position in the species'
    list of internal nodes (internal roots first, so root ``r`` sits at ``r − first``); a leaf's
    adjoint is its coefficient.

    Forward: ``value_c = value_k A[slot_c]`` for internal children ``c`` of ``k``.
    Reverse: ``adj_k = coeff_k + Σ_c adj_c A[slot_c]`` (summed in four interleaved partial sums
    ``acc`` (4, WIDTH) so consecutive children do not wait on each other) and
    ``∂E/∂A[slot_c] += adj_c value_k``. Energy: ``E = Σ_roots adj_r A[slot_r]`` into
    ``energy`` (1, WIDTH).
    """
    first, root_mid, root_end, int_first, int_last = seg[0], seg[1], seg[2], seg[3], seg[4]
    for r in range(first, root_mid):
        row_copy(value, r - first, At, slot[r])
    for q in range(int_first, int_last):
        k = internal[q]
        qk = q - int_first
        c0 = child_start[k]
        p0 = child_ipos[q] - int_first - c0
        for c in range(c0, child_mid[k]):
            row_mul(value, p0 + c, value, qk, At, slot[c])
    for q in range(int_last - 1, int_first - 1, -1):
        k = internal[q]
        qk = q - int_first
        for t in range(4):
            row_fill(acc, t, 0.0)
        c0 = child_start[k]
        p0 = child_ipos[q] - int_first - c0
        for c in range(c0, child_mid[k]):
            a = slot[c]
            row_fma(acc, c & 3, adj, p0 + c, At, a)
            row_fma(dEdAt, a, adj, p0 + c, value, qk)
        for c in range(child_mid[k], child_end[k]):
            a = slot[c]
            cc = coeff[c]
            row_axpy(acc, c & 3, cc, At, a)
            row_axpy(dEdAt, a, cc, value, qk)
        row_fill(adj, qk, coeff[k])
        for t in range(4):
            row_axpy(adj, qk, 1.0, acc, t)
    row_fill(energy, 0, 0.0)
    for r in range(first, root_mid):
        a = slot[r]
        row_fma(energy, 0, adj, r - first, At, a)
        row_axpy(dEdAt, a, 1.0, adj, r - first)
    for r in range(root_mid, root_end):
        a = slot[r]
        row_axpy(energy, 0, coeff[r], At, a)
        row_fill(acc, 0, coeff[r])
        row_axpy(dEdAt, a, 1.0, acc, 0)


@njit(parallel=True, cache=True)
def _energy_forces(
    offsets, species, j_of_pair, vectors, pair_type, radial_params, n_max, l_max, n_species,
    n_lm_of_n, batches, batch_species, bounds, max_nb,
    slot, coeff, child_start, child_mid, child_end, internal, child_ipos, segments,
    E_atom, dE_dr,
):  # fmt: skip
    n_lm = (l_max + 1) ** 2
    n_slot = n_max * n_lm
    n_A = n_species * n_slot
    max_internal = 0
    for z in range(n_species):
        max_internal = max(max_internal, segments[z, 4] - segments[z, 3])
    for chunk in prange(len(bounds) - 1):
        R = np.empty((WIDTH, max_nb, n_max))
        dR = np.empty((WIDTH, max_nb, n_max))
        Y = np.empty((WIDTH, max_nb, n_lm))
        dY = np.empty((WIDTH, max_nb, n_lm, 3))
        powers = np.empty((3, l_max + 1))
        At = np.zeros((n_A, WIDTH))
        dEdAt = np.zeros((n_A, WIDTH))
        value = np.empty((max(max_internal, 1), WIDTH))
        adj = np.empty((max(max_internal, 1), WIDTH))
        acc = np.empty((4, WIDTH))
        energy = np.empty((1, WIDTH))
        w_lm = np.empty(n_lm)
        Ai = np.zeros(n_A)  # one atom's A, then its ∂E/∂A, contiguous
        for b in range(bounds[chunk], bounds[chunk + 1]):
            for s in range(n_species):
                for n in range(n_max):
                    off = s * n_slot + n * n_lm
                    for lm in range(n_lm_of_n[n]):
                        for w in range(WIDTH):
                            At[off + lm, w] = 0.0
                            dEdAt[off + lm, w] = 0.0
            for w in range(WIDTH):
                i = batches[b, w]
                if i < 0:
                    continue
                for s in range(n_species):
                    for n in range(n_max):
                        off = s * n_slot + n * n_lm
                        for lm in range(n_lm_of_n[n]):
                            Ai[off + lm] = 0.0
                start = offsets[i]
                for p in range(start, offsets[i + 1]):
                    q = p - start
                    x, y, z = vectors[p, 0], vectors[p, 1], vectors[p, 2]
                    r = np.sqrt(x * x + y * y + z * z)
                    radial_with_derivative(radial_params[pair_type[p]], n_max, r, R[w, q], dR[w, q])
                    real_ylm_with_gradient(x, y, z, l_max, Y[w, q], dY[w, q], powers)
                    base = species[j_of_pair[p]] * n_slot
                    for n in range(n_max):
                        Rn = R[w, q, n]
                        off = base + n * n_lm
                        for lm in range(n_lm_of_n[n]):
                            Ai[off + lm] += Rn * Y[w, q, lm]
                for s in range(n_species):  # contiguous accumulation, then one strided copy
                    for n in range(n_max):
                        off = s * n_slot + n * n_lm
                        for lm in range(n_lm_of_n[n]):
                            At[off + lm, w] = Ai[off + lm]
            _tree_sweep(
                At, slot, coeff, child_start, child_mid, child_end, internal, child_ipos,
                segments[batch_species[b]], value, adj, acc, dEdAt, energy,
            )  # fmt: skip
            for w in range(WIDTH):
                i = batches[b, w]
                if i < 0:
                    continue
                E_atom[i] = energy[0, w]
                for s in range(n_species):
                    for n in range(n_max):
                        off = s * n_slot + n * n_lm
                        for lm in range(n_lm_of_n[n]):
                            Ai[off + lm] = dEdAt[off + lm, w]
                start = offsets[i]
                for p in range(start, offsets[i + 1]):
                    q = p - start
                    base = species[j_of_pair[p]] * n_slot
                    w_lm[:] = 0.0
                    radial_sum = 0.0
                    for n in range(n_max):
                        off = base + n * n_lm
                        Rn = R[w, q, n]
                        u = 0.0
                        for lm in range(n_lm_of_n[n]):
                            gA = Ai[off + lm]
                            u += gA * Y[w, q, lm]
                            w_lm[lm] += gA * Rn
                        radial_sum += dR[w, q, n] * u
                    x, y, z = vectors[p, 0], vectors[p, 1], vectors[p, 2]
                    inv_r = 1.0 / np.sqrt(x * x + y * y + z * z)
                    gx = radial_sum * x * inv_r
                    gy = radial_sum * y * inv_r
                    gz = radial_sum * z * inv_r
                    for lm in range(n_lm):
                        gx += w_lm[lm] * dY[w, q, lm, 0]
                        gy += w_lm[lm] * dY[w, q, lm, 1]
                        gz += w_lm[lm] * dY[w, q, lm, 2]
                    dE_dr[p, 0] = gx
                    dE_dr[p, 1] = gy
                    dE_dr[p, 2] = gz


def energy_forces(
    offsets: np.ndarray,
    species: np.ndarray,
    i_of_pair: np.ndarray,
    j_of_pair: np.ndarray,
    vectors: np.ndarray,
    pair_type: np.ndarray,
    radial_params: np.ndarray,
    n_max: int,
    l_max: int,
    n_species: int,
    tree: ProductTree,
    n_lm_of_n: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-atom energies (without E0), forces and virial for contracted coefficients.

    Parameters
    ----------
    offsets, species, i_of_pair, j_of_pair, vectors, pair_type
        The neighbour list of :meth:`ace_ref.basis.ace.ACEBasis.pairs` (pairs sorted by ``i``,
        ``vectors = r_j − r_i`` with periodic images).
    radial_params, n_max, l_max, n_species
        Radial parameters per species pair and the basis dimensions.
    tree, n_lm_of_n
        The model's :class:`ace_ref.kernels.product_tree.ProductTree` and its :func:`lm_limits`.

    Returns
    -------
    E_atom : (n_atoms,)
    forces : (n_atoms, 3)
        ``−∂E/∂r``.
    virial : (3, 3)
        ``W[a, b] = Σ_p r_p,a ∂E/∂r_p,b`` (``∂E/∂ε`` for a symmetric strain).
    """
    n_atoms = len(offsets) - 1
    E_atom = np.zeros(n_atoms)
    dE_dr = np.zeros((len(vectors), 3))
    if n_atoms:
        batches, batch_species, bounds = _thread_batches(species, n_species)
        max_nb = max(int(np.max(np.diff(offsets))), 1)
        _energy_forces(
            offsets, species, j_of_pair, vectors, pair_type, radial_params, n_max, l_max,
            n_species, n_lm_of_n, batches, batch_species, bounds, max_nb,
            tree.slot, tree.coeff, tree.child_start, tree.child_mid, tree.child_end,
            tree.internal, tree.child_ipos, tree.segments, E_atom, dE_dr,
        )  # fmt: skip
    return (E_atom, *_forces_and_virial(i_of_pair, j_of_pair, vectors, dE_dr, n_atoms))


@njit(cache=True)
def _fold_extra_adjoints(dEdAt, w, base, n_base, phi_p, extra_index, g_base):
    """``g_base[idx] += Σ_e g_e ∂ψ_e/∂φ_idx`` for the pointwise products ``ψ_e = Π_t φ_{i_t}``
    of one pair: the chain rule taken on the one-particle values, so that ``∇ψ_e`` is never
    formed (``∂ψ_e/∂φ_{i_t} = Π_{s≠t} φ_{i_s}``, from prefix and suffix products)."""
    order = extra_index.shape[1]
    prefix = np.empty(order + 1)
    for e in range(extra_index.shape[0]):
        g = dEdAt[base + n_base + e, w]
        if g == 0.0:
            continue
        k = 0
        prefix[0] = 1.0
        while k < order and extra_index[e, k] >= 0:
            prefix[k + 1] = prefix[k] * phi_p[extra_index[e, k]]
            k += 1
        suffix = 1.0
        for t in range(k - 1, -1, -1):
            idx = extra_index[e, t]
            g_base[idx] += g * prefix[t] * suffix
            suffix *= phi_p[idx]


@njit(parallel=True, cache=True)
def _energy_forces_from_base(
    A, phi, dphi, extra_index, offsets, species_of_j, n_slot, batches, batch_species, bounds,
    slot, coeff, child_start, child_mid, child_end, internal, child_ipos, segments,
    E_atom, dE_dr,
):  # fmt: skip
    n_A = A.shape[1]
    n_base = dphi.shape[1]
    n_species = segments.shape[0]
    max_internal = 0
    for z in range(n_species):
        max_internal = max(max_internal, segments[z, 4] - segments[z, 3])
    for chunk in prange(len(bounds) - 1):
        At = np.zeros((n_A, WIDTH))
        dEdAt = np.zeros((n_A, WIDTH))
        value = np.empty((max(max_internal, 1), WIDTH))
        adj = np.empty((max(max_internal, 1), WIDTH))
        acc = np.empty((4, WIDTH))
        energy = np.empty((1, WIDTH))
        g_base = np.empty(n_base)
        for b in range(bounds[chunk], bounds[chunk + 1]):
            for w in range(WIDTH):
                i = batches[b, w]
                for a in range(n_A):
                    At[a, w] = A[i, a] if i >= 0 else 0.0
                    dEdAt[a, w] = 0.0
            _tree_sweep(
                At, slot, coeff, child_start, child_mid, child_end, internal, child_ipos,
                segments[batch_species[b]], value, adj, acc, dEdAt, energy,
            )  # fmt: skip
            for w in range(WIDTH):
                i = batches[b, w]
                if i < 0:
                    continue
                E_atom[i] = energy[0, w]
                for p in range(offsets[i], offsets[i + 1]):
                    base = species_of_j[p] * n_slot
                    for idx in range(n_base):
                        g_base[idx] = dEdAt[base + idx, w]
                    if extra_index.shape[0]:
                        _fold_extra_adjoints(dEdAt, w, base, n_base, phi[p], extra_index, g_base)
                    gx = 0.0
                    gy = 0.0
                    gz = 0.0
                    for idx in range(n_base):
                        g = g_base[idx]
                        if g != 0.0:
                            gx += g * dphi[p, idx, 0]
                            gy += g * dphi[p, idx, 1]
                            gz += g * dphi[p, idx, 2]
                    dE_dr[p, 0] = gx
                    dE_dr[p, 1] = gy
                    dE_dr[p, 2] = gz


def energy_forces_from_base(
    A: np.ndarray,
    phi: np.ndarray,
    dphi: np.ndarray,
    offsets: np.ndarray,
    species: np.ndarray,
    i_of_pair: np.ndarray,
    j_of_pair: np.ndarray,
    neighbour_slot: np.ndarray,
    vectors: np.ndarray,
    tree: ProductTree,
    extra_index: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`energy_forces` from an atomic base computed outside the kernel.

    For one-particle functions the fused kernel cannot evaluate itself (user-supplied radials,
    a purified basis): ``A`` (n_atoms, n_blocks n_slot) comes from the basis, and ``phi``,
    ``dphi = ∇_{r_ij} φ`` (n_pairs, n_base[, 3]) are the pairs' plain one-particle functions.
    The tree sweeps are those of :func:`energy_forces`. A purified basis's slots
    ``n_base + e`` hold ``Σ_j ψ_e`` with ``ψ_e = Π_t φ_{extra_index[e, t]}``
    (:func:`ace_ref.kernels.features.extend_pair_basis`); their adjoints are folded onto the
    plain slots by the chain rule, ``g_idx += g_e Π_{s≠t} φ_{i_s}`` for every factor
    ``i_t = idx``. Then ``∂E_i/∂r_ij = Σ_idx g_idx ∇φ_idx(r_ij)``, with the slots of the
    neighbour's block ``s_j = neighbour_slot[p]``. Same returns as :func:`energy_forces`.
    """
    n_atoms = len(offsets) - 1
    n_base = dphi.shape[1]
    if extra_index is None:
        extra_index = np.zeros((0, 1), dtype=np.int64)
    n_slot = n_base + len(extra_index)
    E_atom = np.zeros(n_atoms)
    dE_dr = np.zeros((len(vectors), 3))
    if n_atoms:
        n_species = tree.segments.shape[0]
        batches, batch_species, bounds = _thread_batches(species, n_species)
        _energy_forces_from_base(
            np.ascontiguousarray(A), np.ascontiguousarray(phi), np.ascontiguousarray(dphi),
            np.ascontiguousarray(extra_index, dtype=np.int64), offsets,
            np.asarray(neighbour_slot, dtype=np.int64), n_slot, batches, batch_species, bounds,
            tree.slot, tree.coeff, tree.child_start, tree.child_mid, tree.child_end,
            tree.internal, tree.child_ipos, tree.segments, E_atom, dE_dr,
        )  # fmt: skip
    return (E_atom, *_forces_and_virial(i_of_pair, j_of_pair, vectors, dE_dr, n_atoms))


def _thread_batches(species: np.ndarray, n_species: int):
    """:func:`atom_batches` and the batch bounds of one chunk per thread."""
    batches, batch_species = atom_batches(species, n_species)
    n_chunks = max(1, min(len(batches), numba.get_num_threads()))
    bounds = np.linspace(0, len(batches), n_chunks + 1).astype(np.int64)
    return batches, batch_species, bounds


def _forces_and_virial(i_of_pair, j_of_pair, vectors, dE_dr, n_atoms: int):
    """Forces ``(n_atoms, 3)`` and virial ``(3, 3)`` from ``∂E/∂r_ij`` per pair."""
    forces = np.zeros((n_atoms, 3))
    virial = np.zeros((3, 3))
    _gather_forces(i_of_pair, j_of_pair, vectors, dE_dr, forces, virial)
    return forces, virial


@njit(cache=True)
def _gather_forces(i_of_pair, j_of_pair, vectors, dE_dr, forces, virial):
    """``F_i += ∂E/∂r_ij``, ``F_j −= ∂E/∂r_ij`` (``r_ij = r_j − r_i``), ``W += r_ij ⊗ ∂E/∂r_ij``."""
    for p in range(len(i_of_pair)):
        i = i_of_pair[p]
        j = j_of_pair[p]
        for a in range(3):
            g = dE_dr[p, a]
            forces[i, a] += g
            forces[j, a] -= g
            for b in range(3):
                virial[b, a] += vectors[p, b] * g
