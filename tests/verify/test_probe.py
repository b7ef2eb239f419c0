"""Hole probes find a planted hole, and only that: torsions, stretches, random displacements."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes

from ace_ref.verify.probe import bonds, probe, rotatable_bonds

# H-O-O-H (hydrogen peroxide), dihedral about 112°
H2O2 = Atoms(
    "HOOH",
    positions=[[0.84, 0.54, -0.42], [0.0, 0.73, 0.0], [0.0, -0.73, 0.0], [-0.84, -0.54, -0.42]],
)


class BondsAndTorsionWell(Calculator):
    """Harmonic bonds (the start is their minimum) plus a Gaussian well of ``depth`` eV at
    dihedral ``phi0`` of H0-O1-O2-H3: a hole one torsion away."""

    implemented_properties = ["energy"]

    def __init__(self, depth: float, phi0: float = 300.0, start: Atoms = H2O2):
        super().__init__()
        self.depth, self.phi0 = depth, phi0
        self.pairs = bonds(start)
        self.r0 = {p: start.get_distance(*p) for p in self.pairs}
        self.repulsion = [
            (i, j) for i in range(4) for j in range(i + 1, 4) if (i, j) not in self.r0
        ]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        a = self.atoms
        e = sum(20.0 * (a.get_distance(*p) - r0) ** 2 for p, r0 in self.r0.items())
        e += sum(0.5 / a.get_distance(i, j) ** 6 for i, j in self.repulsion)
        e -= sum(0.5 / H2O2.get_distance(i, j) ** 6 for i, j in self.repulsion)
        phi = a.get_dihedral(0, 1, 2, 3)
        delta = (phi - self.phi0 + 180.0) % 360.0 - 180.0
        e -= self.depth * np.exp(-((delta / 20.0) ** 2))
        self.results = {"energy": float(e)}


def test_topology_of_hydrogen_peroxide():
    assert bonds(H2O2) == [(0, 1), (1, 2), (2, 3)]
    ((a, b, moving),) = rotatable_bonds(H2O2)
    assert {a, b} == {1, 2} and len(moving) == 2 and b in moving


def test_a_planted_torsion_hole_is_found_where_it_is():
    report = probe(BondsAndTorsionWell(depth=2.0), H2O2, margin=0.5)
    torsion = next(s for s in report.scans if s.kind == "torsion")
    assert torsion.hole and torsion.min_energy < -1.5
    start = H2O2.get_dihedral(0, 1, 2, 3)
    found = (start + torsion.at_min) % 360.0  # the scan turns the moving side by at_min
    assert (
        min(abs(found - 300.0), 360 - abs(found - 300.0)) <= 30.0
        or min(
            abs((start - torsion.at_min) % 360.0 - 300.0),
            360 - abs((start - torsion.at_min) % 360.0 - 300.0),
        )
        <= 30.0
    )
    assert [s.label for s in report.holes] == [torsion.label]
    assert "HOLE" in report.format() and report.to_dict()["n_holes"] == 1


def test_no_hole_without_the_well():
    report = probe(BondsAndTorsionWell(depth=0.0), H2O2, margin=0.5)
    kinds = {s.kind for s in report.scans}
    assert kinds == {"torsion", "stretch", "displacement"}
    assert report.holes == []
    stretches = [s for s in report.scans if s.kind == "stretch"]
    assert len(stretches) == 3  # H-H, H-O, O-O
    for s in stretches:  # compressing or pulling a harmonic bond only costs energy
        assert s.min_energy >= -1e-9 and s.energies[0] > 0.5 and s.energies[-1] > 0.5
    assert "no hole found" in report.format()


def test_a_shallower_well_than_the_margin_is_no_hole():
    assert probe(BondsAndTorsionWell(depth=0.3), H2O2, margin=0.5).holes == []
    with pytest.raises(ValueError, match="margin"):
        probe(BondsAndTorsionWell(depth=0.3), H2O2, margin=0.0)
