"""Hole probes: scans that need no reference data and find where a potential falls apart.

A fitted potential is only checked where it has data. A linear polynomial model can dive
eV below the equilibrium one torsion away from its training set, and an MD run will find that
hole. These scans move a molecule away from a starting structure along the directions that
matter and report the lowest energy met, relative to the start:

* **torsions** — every rotatable bond (a bond outside any ring whose two atoms both have other
  neighbours) is turned rigidly through a full circle; the smaller side of the molecule moves;
* **stretches** — for every species pair present, its closest pair of atoms ``(i, j)`` is
  pulled apart and pushed together (distance × ``factors``); across a bond outside rings the
  whole side of ``j`` moves rigidly with it, otherwise ``j`` alone;
* **displacements** — every atom displaced at random (Gaussian, ``amplitude`` Å per component;
  each amplitude draws its own directions).

A scan **has a hole** when its energy falls more than ``margin`` (eV) below the start. Torsions
of a flexible molecule may honestly find a lower conformer, so start from a relaxed structure
and choose the margin accordingly. Where the calculator reports ``energy_std`` (an ace_ref
model with ``calculator(uncertainty=True)``), the committee spread is recorded along each scan.
Bonds: closer than 1.2 × the sum of the covalent radii.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse
import scipy.sparse.csgraph
from ase import Atoms
from ase.neighborlist import natural_cutoffs, neighbor_list
from scipy.spatial.transform import Rotation

from ace_ref import defaults
from ace_ref.verify._common import _energy

__all__ = [
    "ProbeReport",
    "Scan",
    "bonds",
    "displacement_probe",
    "probe",
    "rotatable_bonds",
    "stretch_scan",
    "torsion_scan",
]

BOND_FACTOR = 1.2
"""Atoms closer than this × the sum of their covalent radii are bonded."""

DEFAULT_MARGIN = defaults.PROBE_MARGIN
"""eV below the starting energy that counts as a hole."""

DEFAULT_ANGLES = np.arange(0.0, 360.0, 10.0)
"""Torsion angles (degrees)."""

DEFAULT_FACTORS = np.round(np.arange(0.6, 1.81, 0.05), 2)
"""Distance multipliers of the stretch scans."""


@dataclass
class Scan:
    """One scan: its coordinate, the energies relative to the start, the committee spread."""

    kind: str
    label: str
    coordinate: np.ndarray
    energies: np.ndarray
    spread: np.ndarray | None = None
    margin: float = DEFAULT_MARGIN

    @property
    def min_energy(self) -> float:
        return float(np.min(self.energies))

    @property
    def at_min(self) -> float:
        return float(self.coordinate[int(np.argmin(self.energies))])

    @property
    def hole(self) -> bool:
        return self.min_energy < -self.margin

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "label": self.label,
            "coordinate": self.coordinate.tolist(),
            "energies_eV": self.energies.tolist(),
            "spread_eV": None if self.spread is None else self.spread.tolist(),
            "min_energy_eV": self.min_energy,
            "hole": self.hole,
        }


@dataclass
class ProbeReport:
    """All scans of one structure."""

    scans: list[Scan] = field(default_factory=list)

    @property
    def holes(self) -> list[Scan]:
        return [s for s in self.scans if s.hole]

    def format(self) -> str:
        lines = [
            f"{'scan':<34} {'min ΔE (eV)':>12} {'at':>8} {'max spread':>11}  verdict",
        ]
        for s in self.scans:
            spread = "-" if s.spread is None else f"{np.max(s.spread):.3f}"
            verdict = "HOLE" if s.hole else "ok"
            lines.append(
                f"{s.label:<34} {s.min_energy:>12.3f} {s.at_min:>8.2f} {spread:>11}  {verdict}"
            )
        n = len(self.holes)
        lines.append(f"{n} hole(s) in {len(self.scans)} scans" if n else "no hole found")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"scans": [s.to_dict() for s in self.scans], "n_holes": len(self.holes)}


# ---------------------------------------------------------------------------------- topology
def bonds(atoms: Atoms) -> list[tuple[int, int]]:
    """Bonded pairs ``(i, j)``, ``i < j``: closer than 1.2 × the sum of their covalent radii
    (ASE's ``natural_cutoffs(atoms, mult=1.2)``)."""
    i, j = neighbor_list("ij", atoms, natural_cutoffs(atoms, mult=BOND_FACTOR))
    return sorted({(int(a), int(b)) for a, b in zip(i, j, strict=True) if a < b})


def _side(atoms: Atoms, bond_list, a: int, b: int) -> np.ndarray | None:
    """Atoms on ``b``'s side of bond ``(a, b)`` (``b`` included), or ``None`` if the bond is in
    a ring (removing it leaves the molecule connected)."""
    n = len(atoms)
    edges = [(p, q) for p, q in bond_list if {p, q} != {a, b}]
    rows = [p for p, q in edges] + [q for p, q in edges]
    cols = [q for p, q in edges] + [p for p, q in edges]
    graph = scipy.sparse.coo_array((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    _, labels = scipy.sparse.csgraph.connected_components(graph, directed=False)
    if labels[a] == labels[b]:
        return None
    return np.nonzero(labels == labels[b])[0]


def rotatable_bonds(atoms: Atoms) -> list[tuple[int, int, np.ndarray]]:
    """``(a, b, moving)`` for every bond outside rings whose atoms both have other neighbours;
    ``moving`` is the smaller side (it turns about the ``a → b`` axis)."""
    bond_list = bonds(atoms)
    degree = np.bincount(np.array(bond_list, dtype=int).ravel(), minlength=len(atoms))
    out = []
    for a, b in bond_list:
        if degree[a] < 2 or degree[b] < 2:
            continue
        side = _side(atoms, bond_list, a, b)
        if side is None:
            continue
        if len(side) > len(atoms) / 2:
            a, b = b, a
            side = np.setdiff1d(np.arange(len(atoms)), side)
        out.append((a, b, side))
    return out


# ---------------------------------------------------------------------------------- scans
def _energies(calc, images: list[Atoms], e_start: float) -> tuple[np.ndarray, np.ndarray | None]:
    energies, spread = [], []
    for image in images:
        energies.append(_energy(calc, image) - e_start)
        spread.append(calc.results.get("energy_std", np.nan))
    s = np.array(spread, dtype=float)
    return np.array(energies), (None if np.all(np.isnan(s)) else s)


def torsion_scan(calc, atoms: Atoms, a: int, b: int, moving, angles=DEFAULT_ANGLES, e_start=None):
    """Energies (relative to ``atoms``, or to ``e_start`` if given) and spreads with ``moving``
    turned about ``a → b``."""
    axis = atoms.positions[b] - atoms.positions[a]
    axis = axis / np.linalg.norm(axis)
    images = []
    for angle in angles:
        image = atoms.copy()
        R = Rotation.from_rotvec(np.radians(angle) * axis).as_matrix()
        pivot = atoms.positions[b]
        image.positions[moving] = (atoms.positions[moving] - pivot) @ R.T + pivot
        images.append(image)
    return _energies(calc, images, _energy(calc, atoms.copy()) if e_start is None else e_start)


def stretch_scan(calc, atoms: Atoms, i: int, j: int, moving, factors=DEFAULT_FACTORS, e_start=None):
    """Energies and spreads with ``moving`` (containing ``j``) shifted along ``i → j`` so that
    ``|r_ij|`` becomes ``factor · |r_ij|``."""
    d = atoms.positions[j] - atoms.positions[i]
    images = []
    for f in factors:
        image = atoms.copy()
        image.positions[moving] += (f - 1.0) * d
        images.append(image)
    return _energies(calc, images, _energy(calc, atoms.copy()) if e_start is None else e_start)


def displacement_probe(
    calc, atoms: Atoms, n: int = 20, amplitude: float = 0.2, seed: int = 0, e_start=None
):
    """Energies and spreads of ``n`` random displacements (``amplitude`` Å per component)."""
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(n):
        image = atoms.copy()
        image.positions += rng.normal(scale=amplitude, size=image.positions.shape)
        images.append(image)
    return _energies(calc, images, _energy(calc, atoms.copy()) if e_start is None else e_start)


def probe(
    calc,
    atoms: Atoms,
    *,
    margin: float = DEFAULT_MARGIN,
    angles=DEFAULT_ANGLES,
    factors=DEFAULT_FACTORS,
    n_displacements: int = 20,
    amplitudes=(0.1, 0.2, 0.3),
    seed: int = 0,
) -> ProbeReport:
    """Torsion, stretch and displacement scans of ``atoms`` (see the module docstring)."""
    if not margin > 0:
        raise ValueError(f"margin must be a positive energy (eV), got {margin}")
    report = ProbeReport()
    symbols = atoms.get_chemical_symbols()
    e_start = _energy(calc, atoms.copy())  # every scan is relative to this one energy
    for a, b, moving in rotatable_bonds(atoms):
        e, s = torsion_scan(calc, atoms, a, b, moving, angles, e_start)
        label = f"torsion {symbols[a]}{a}-{symbols[b]}{b}"
        report.scans.append(Scan("torsion", label, np.asarray(angles, float), e, s, margin))
    bond_list = bonds(atoms)
    D = atoms.get_all_distances()
    kinds = sorted(set(symbols))
    pairs = [(x, y) for x, y in itertools.combinations_with_replacement(kinds, 2)]
    for x, y in pairs:
        best = None
        for i, j in itertools.combinations(range(len(atoms)), 2):
            if {symbols[i], symbols[j]} == {x, y} and (best is None or D[i, j] < D[best]):
                best = (i, j)
        if best is None:
            continue
        i, j = best
        moving = _side(atoms, bond_list, i, j) if (min(i, j), max(i, j)) in bond_list else None
        if moving is None or i in moving:
            moving = np.array([j])
        e, s = stretch_scan(calc, atoms, i, j, moving, factors, e_start)
        label = f"stretch {symbols[i]}{i}-{symbols[j]}{j} (r0 {D[i, j]:.2f} Å)"
        report.scans.append(Scan("stretch", label, np.asarray(factors, float), e, s, margin))
    for k, amp in enumerate(amplitudes):
        e, s = displacement_probe(calc, atoms, n_displacements, amp, seed + k, e_start)
        label = f"random displacements σ={amp:g} Å"
        coordinate = np.arange(n_displacements, dtype=float)
        report.scans.append(Scan("displacement", label, coordinate, e, s, margin))
    return report
