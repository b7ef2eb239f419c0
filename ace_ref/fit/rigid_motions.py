"""Force rows that no invariant model can fit: the rigid motions of a configuration.

An energy that does not change when the atoms are translated, ``E(r + t) = E(r)``, has forces
that sum to zero, ``Σ_i F_i = 0``; one that does not change when a finite (non-periodic)
configuration is rotated, ``E(Q r) = E(r)``, also has no torque, ``Σ_i r_i × F_i = 0``. So
every column ``X_F[:, k]`` of a configuration's force rows (``3N`` numbers, one basis
function's forces) is orthogonal to the rigid motions

* ``t_a``: every atom moved by the unit vector ``e_a`` (``a = x, y, z``), and
* ``ω_a``: atom ``i`` moved by ``e_a × (r_i − r̄)`` (finite configurations only),

which span ``r ≤ 6`` dimensions (5 for a collinear configuration, 3 for one atom or a periodic
cell). With per-atom row weights ``W`` (:class:`~ace_ref.fit.assembly.ConfigRowWeights`) the
weighted rows ``W X_F`` are orthogonal to ``W⁻¹ t_a`` and ``W⁻¹ ω_a`` instead.

Let ``Q = [Q_r | Q_c]`` be orthogonal with ``Q_r`` spanning those directions. Then
``W X_F = Q_c Q_cᵀ W X_F`` and, for every coefficient vector ``c``,

    ‖W (X_F c − F)‖² = ‖Q_cᵀ W X_F c − Q_cᵀ W F‖² + ‖Q_rᵀ W F‖²,

so the ``3N − r`` rows ``Q_cᵀ W X_F`` with targets ``Q_cᵀ W F`` carry everything the ``3N``
rows did; the last term (the reference forces' net force and torque) is a constant no
invariant model can fit. Assembly keeps ``‖y‖²`` and the row count of all ``3N`` rows, so the
summary (Gram matrix, or QR factor and ``Qᵀy``), its residuals and the BLR evidence are those
of the full rows up to rounding, from fewer rows: ``6/(3N + 1)`` fewer flops in every
``O(rows · K²)`` stage (13 % for the 15 atoms of acetylacetone).

``Q`` is ``r`` Householder reflectors (LAPACK ``dgeqrf`` of the directions' orthonormal
basis, applied by ``dormqr``): ``O(N r K)`` flops per configuration, not ``O(N² K)``.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms

from ace_ref import defaults
from ace_ref.fit import _lapack as lapack

__all__ = ["count_rigid_motions", "rigid_motion_directions", "project_out_rigid_motions"]


def count_rigid_motions(atoms: Atoms) -> int:
    """How many force rows :func:`rigid_motion_directions` folds out of a configuration, without
    computing them: 3 for one atom or a periodic cell, 5 for two atoms, else 6 (a collinear
    finite configuration has 5; counted as 6 here, for cost estimates)."""
    n = len(atoms)
    if n == 0:
        return 0
    if n == 1 or np.any(atoms.pbc):
        return 3
    return 5 if n == 2 else 6


def rigid_motion_directions(atoms: Atoms, row_weights: np.ndarray) -> np.ndarray:
    """Orthonormal basis (``3N × r``) of the weighted force-row directions that every column
    of an invariant model's weighted force rows is orthogonal to (module docstring).

    ``row_weights``: the weight of each of the ``3N`` force rows (atom-major), all positive.
    Translations always; rotations about the centroid only if no direction is periodic.
    Directions whose share of the spanning set falls below
    :data:`~ace_ref.defaults.RIGID_MOTION_RANK_TOLERANCE` (a collinear or single atom's
    rotations) are left out, so the basis is well defined.
    """
    n = len(atoms)
    row_weights = np.asarray(row_weights, dtype=float)
    if row_weights.shape != (3 * n,) or not np.all(row_weights > 0):
        raise ValueError(f"need {3 * n} positive force-row weights")
    generators = [np.tile(np.eye(3)[a], n) for a in range(3)]
    if not np.any(atoms.pbc):
        centred = atoms.positions - atoms.positions.mean(axis=0)
        generators += [np.cross(np.eye(3)[a], centred).reshape(-1) for a in range(3)]
    M = np.column_stack(generators) / row_weights[:, None]
    norms = np.linalg.norm(M, axis=0)
    present = norms > defaults.RIGID_MOTION_RANK_TOLERANCE * norms.max()  # one atom: no rotation
    M = M[:, present] / norms[present]
    U, s, _ = np.linalg.svd(M, full_matrices=False)
    rank = int(np.count_nonzero(s > defaults.RIGID_MOTION_RANK_TOLERANCE * s[0]))
    return U[:, :rank]


def project_out_rigid_motions(
    force_rows: np.ndarray, targets: np.ndarray, directions: np.ndarray
) -> int:
    """Replace the weighted force rows ``X`` (``3N × K``, in place; a row slice of a
    Fortran-ordered buffer is fine) and their targets ``y`` (``3N``) by ``Qᵀ X``, ``Qᵀ y``
    with the ``Q`` of the module docstring, then move the ``3N − r`` rows outside the rigid
    motions to the front. Returns how many rows carry the data: ``3N − r``, or ``3N`` (all of
    ``Qᵀ X``, still exact) if ``X`` is not orthogonal to ``directions`` to within
    :data:`~ace_ref.defaults.RIGID_MOTION_ROW_TOLERANCE` of its largest entry (a model that
    is not invariant)."""
    m, r = directions.shape
    if force_rows.shape[0] != m or targets.shape != (m,):
        raise ValueError(f"need {m} force rows and targets, got {force_rows.shape[0]}")
    if r == 0 or force_rows.shape[1] == 0:
        return m
    reflectors = np.array(directions, order="F")
    tau = lapack.geqrf(reflectors)
    scale = _max_abs(force_rows)
    lapack.ormqr("L", "T", reflectors, tau, force_rows)
    y = np.asfortranarray(targets[:, None])
    lapack.ormqr("L", "T", reflectors, tau, y)
    targets[:] = y[:, 0]
    if _max_abs(force_rows[:r]) > defaults.RIGID_MOTION_ROW_TOLERANCE * scale:
        return m
    kept = m - r
    moved = min(r, kept)  # the last rows fill the dropped ones' places (order does not matter)
    force_rows[:moved] = force_rows[m - moved :]
    targets[:moved] = targets[m - moved :]
    return kept


def _max_abs(x: np.ndarray) -> float:
    """``max |x|`` without a temporary of ``x``'s size."""
    return max(float(x.max()), -float(x.min())) if x.size else 0.0
