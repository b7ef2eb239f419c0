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

__all__ = ["NeighbourList", "neighbour_list", "MIN_DISTANCE", "MIN_CUTOFF", "MAX_CELL_IMAGES"]

MIN_DISTANCE = 1e-4
"""Pairs closer than this (Å) are overlapping atoms: an error, never a silent singularity."""

MIN_CUTOFF = 0.5
"""Cutoffs (Å) below this are refused: no bond is that short (H₂: 0.74 Å), and vesin itself
fails on tiny ones ("cutoff is too small")."""

MAX_CELL_IMAGES = 100_000
"""Refuse a periodic cell so small against the cutoff that more copies of it than this lie
within the cutoff sphere (``Π_k (2 r_cut / h_k + 1)`` over the periodic axes, ``h_k`` the
spacing of the lattice planes): each atom would have millions of neighbours."""

MAX_SPAN_IN_CUTOFFS = 50_000
"""vesin 0.6 bins a non-periodic direction into cells of the cutoff's size and dies with a
floating-point exception (SIGFPE) at about 10⁵ of them (seen at 10⁵, not at 0.9 · 10⁵).
Along a non-periodic direction longer than this many cutoffs the atoms are split into groups
separated by gaps wider than the cutoff (which share no pair), each listed on its own; a
group still longer is refused."""


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


def _check_cell_images(atoms: Atoms, r_cut: float, where: str) -> None:
    """Refuse a periodic cell whose copies within the cutoff would number in the millions."""
    if not np.any(atoms.pbc):
        return
    cell = atoms.cell.array
    volume = abs(np.linalg.det(cell))
    images = 1.0
    for axis in np.flatnonzero(atoms.pbc):
        others = [k for k in range(3) if k != axis]
        if volume > 0:
            spacing = volume / np.linalg.norm(np.cross(cell[others[0]], cell[others[1]]))
        else:  # a periodic direction of a slab or wire: only its own length counts
            spacing = np.linalg.norm(cell[axis])
        images *= 2 * r_cut / spacing + 1
        if images > MAX_CELL_IMAGES:
            raise ValueError(
                f"{where}: the periodic cell is tiny against the cutoff {r_cut:g} Å (its lattice "
                f"planes along axis {axis} are {spacing:.3g} Å apart), so about {images:.2g} "
                "copies of it lie within the cutoff; is the cell given in Å?"
            )


def _far_apart_groups(positions: np.ndarray, pbc: list[bool], r_cut: float) -> np.ndarray | None:
    """Group labels of atoms separated along a non-periodic axis by gaps wider than
    ``r_cut`` (atoms in different groups share no pair), or ``None`` if every non-periodic
    extent is below ``MAX_SPAN_IN_CUTOFFS`` cutoffs and vesin can take the whole structure."""
    open_axes = [k for k in range(3) if not pbc[k]]
    spans = [np.ptp(positions[:, k]) if len(positions) else 0.0 for k in open_axes]
    if not open_axes or max(spans) <= MAX_SPAN_IN_CUTOFFS * r_cut:
        return None
    labels = np.zeros(len(positions), dtype=np.int64)
    for k in open_axes:
        order = np.argsort(positions[:, k], kind="stable")
        gaps = np.diff(positions[order, k]) > r_cut
        segment = np.empty(len(positions), dtype=np.int64)
        segment[order] = np.concatenate([[0], np.cumsum(gaps)])
        labels = labels * (segment.max() + 1) + segment
    return np.unique(labels, return_inverse=True)[1]


def _vesin_pairs(positions, box, pbc, r_cut, where):
    """vesin's pairs ``(i, j, S, D)`` of the whole structure, group by group if it is long."""
    # imported here: vesin imports torch when it is installed (1-2 s for every `import ace_ref`)
    from vesin import NeighborList

    groups = _far_apart_groups(positions, pbc, r_cut)
    nl = NeighborList(cutoff=float(r_cut), full_list=True)
    periodic = pbc if any(pbc) else False
    if groups is None:
        return nl.compute(positions, box, periodic, quantities="ijSD")
    parts = []
    for g in range(groups.max() + 1):
        members = np.flatnonzero(groups == g)
        sub = positions[members]
        open_spans = [np.ptp(sub[:, k]) for k in range(3) if not pbc[k]]
        if max(open_spans) > MAX_SPAN_IN_CUTOFFS * r_cut:
            raise ValueError(
                f"{where}: {len(members)} atoms form a chain {max(open_spans):.3g} Å long "
                f"(more than {MAX_SPAN_IN_CUTOFFS} cutoffs) along a non-periodic direction; "
                "the neighbour list cannot bin it"
            )
        i, j, S, D = nl.compute(sub, box, periodic, quantities="ijSD")
        parts.append((members[i.astype(np.int64)], members[j.astype(np.int64)], S, D))
    return tuple(np.concatenate([part[k] for part in parts]) for k in range(4))


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
    if not (np.isfinite(r_cut) and r_cut >= MIN_CUTOFF):
        raise ValueError(f"cutoff must be a number ≥ {MIN_CUTOFF} Å, got {r_cut}")
    _check_structure(atoms, where)
    n = len(atoms)
    if n == 0:
        raise ValueError(f"{where}: structure has no atoms")
    _check_cell_images(atoms, r_cut, where)
    pbc = [bool(p) for p in atoms.pbc]
    box = atoms.cell.array if any(pbc) else np.zeros((3, 3))
    i, j, S, D = _vesin_pairs(atoms.positions, box, pbc, r_cut, where)
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
