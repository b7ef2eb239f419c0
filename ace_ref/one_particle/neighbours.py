"""Neighbour lists: every pair ``(i, j, shift)`` with ``|r_ij| < r_cut``, validated.

``r_ij = r_j + shift · cell - r_i`` (periodic images included; an image of ``i`` itself is a
neighbour, ``i`` itself with zero shift is not). Pairs are sorted by ``i`` and described by
CSR offsets so kernels can loop over the neighbours of one atom. Computed with ``vesin``
(which handles cells smaller than the cutoff by including all needed images).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms
from vesin import NeighborList as _VesinNeighborList

__all__ = ["NeighbourList", "neighbour_list", "MIN_DISTANCE"]

MIN_DISTANCE = 1e-4
"""Pairs closer than this (Å) are overlapping atoms: an error, never a silent singularity."""


@dataclass(frozen=True)
class NeighbourList:
    """Pairs of one structure, sorted by the central atom ``i``.

    Attributes
    ----------
    i, j : ndarray (n_pairs,) int64
        Central and neighbour atom indices.
    vectors : ndarray (n_pairs, 3)
        ``r_ij = r_j + S·cell − r_i``.
    shifts : ndarray (n_pairs, 3) int64
        Lattice shifts ``S``.
    offsets : ndarray (n_atoms + 1,) int64
        Pairs of atom ``i`` are ``offsets[i]:offsets[i+1]``.
    """

    i: np.ndarray
    j: np.ndarray
    vectors: np.ndarray
    shifts: np.ndarray
    offsets: np.ndarray

    @property
    def n_pairs(self) -> int:
        return len(self.i)


def _check_structure(atoms: Atoms, where: str) -> None:
    pos = atoms.positions
    bad = np.flatnonzero(~np.all(np.isfinite(pos), axis=1))
    if len(bad):
        raise ValueError(f"{where}: atom {bad[0]} has a non-finite position {pos[bad[0]]}")
    if np.any(atoms.pbc):
        cell = atoms.cell.array
        if not np.all(np.isfinite(cell)):
            raise ValueError(f"{where}: the cell contains non-finite entries")
        for axis in np.flatnonzero(atoms.pbc):
            if np.linalg.norm(cell[axis]) < 1e-8:
                raise ValueError(f"{where}: periodic along axis {axis} but cell vector is zero")
        if abs(np.linalg.det(cell)) < 1e-8 and np.all(atoms.pbc):
            raise ValueError(f"{where}: periodic cell has (near) zero volume")


def neighbour_list(atoms: Atoms, r_cut: float, where: str = "structure") -> NeighbourList:
    """All pairs closer than ``r_cut``; raises ``ValueError`` for NaN or overlapping atoms.

    Parameters
    ----------
    atoms
        The structure; ``pbc`` may be mixed, cells may be smaller than ``r_cut``.
    r_cut
        Largest cutoff of any species pair (Å).
    where
        Name of the structure used in error messages (e.g. ``"train.xyz, config 12"``).
    """
    if not (np.isfinite(r_cut) and r_cut > 0):
        raise ValueError(f"cutoff must be a positive number, got {r_cut}")
    _check_structure(atoms, where)
    n = len(atoms)
    if n == 0:
        raise ValueError(f"{where}: structure has no atoms")
    pbc = [bool(p) for p in atoms.pbc]
    box = atoms.cell.array if any(pbc) else np.zeros((3, 3))
    nl = _VesinNeighborList(cutoff=float(r_cut), full_list=True)
    i, j, S, D = nl.compute(atoms.positions, box, pbc if any(pbc) else False, quantities="ijSD")
    i = i.astype(np.int64)
    order = np.argsort(i, kind="stable")
    i, j, S, D = i[order], j[order].astype(np.int64), S[order].astype(np.int64), D[order]
    dist = np.linalg.norm(D, axis=1)
    close = np.flatnonzero(dist < MIN_DISTANCE)
    if len(close):
        p = close[0]
        raise ValueError(
            f"{where}: atoms {i[p]} and {j[p]} overlap (distance {dist[p]:.2e} Å"
            + (f", periodic image {tuple(S[p])}" if np.any(S[p]) else "")
            + ")"
        )
    keep = dist < r_cut
    i, j, S, D = i[keep], j[keep], S[keep], D[keep]
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(i, minlength=n), out=offsets[1:])
    return NeighbourList(i, j, np.ascontiguousarray(D, dtype=np.float64), S, offsets)
