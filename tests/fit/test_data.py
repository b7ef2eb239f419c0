"""Reading training data (ace_ref.fit.data): errors name the file and configuration, E0 from a
file or by least squares, stress units and the pressure convention."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import molecule
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

from ace_ref.fit.data import fit_e0, mean_e0, read_configs, read_e0
from tests.paths import ACAC


def test_data_errors(tmp_path):
    atoms = molecule("H2O")
    write(tmp_path / "noenergy.xyz", atoms, format="extxyz")
    with pytest.raises(ValueError, match=r"noenergy.xyz, configuration 0: no energy"):
        read_configs(tmp_path / "noenergy.xyz")
    (tmp_path / "broken.xyz").write_text("3\nProperties=species:S:1:pos:R:3\nH 0 0\n")
    with pytest.raises(ValueError, match="broken.xyz: cannot be read"):
        read_configs(tmp_path / "broken.xyz")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_configs(tmp_path / "nothere.xyz")
    atoms.calc = SinglePointCalculator(atoms, energy=1.0, forces=np.zeros((3, 3)))
    write(tmp_path / "ok.xyz", atoms, format="extxyz")
    with pytest.raises(ValueError, match="atom 0 is O"):
        read_configs(tmp_path / "ok.xyz", elements=["H"])
    nan = atoms.copy()
    nan.calc = SinglePointCalculator(nan, energy=float("nan"), forces=np.zeros((3, 3)))
    write(tmp_path / "nan.xyz", nan, format="extxyz")
    with pytest.raises(ValueError, match="energy is nan"):
        read_configs(tmp_path / "nan.xyz")
    with pytest.raises(ValueError, match="unknown stress unit"):
        read_configs(tmp_path / "ok.xyz", stress_unit="psi")


def test_e0_from_file_and_least_squares():
    e0 = read_e0(ACAC / "isolated_atoms.xyz")
    assert set(e0) == {"H", "C", "O"}
    configs = read_configs(ACAC / "train_300K.xyz")[:50]
    # issue 21: all configurations share one composition, so only Σ N_z E0_z is determined;
    # a least-squares split gave E0(H) = −808 eV. It is refused, naming the way out.
    with pytest.raises(ValueError, match=r"span only 1 composition \(e.g. C5H8O2\).*--e0 mean"):
        fit_e0(configs, ["H", "C", "O"])
    with pytest.raises(ValueError, match=r"N never occurs"):
        fit_e0(configs, ["H", "C", "N", "O"])
    mean = mean_e0(configs, ["H", "C", "O"])
    assert list(mean.values()) == [pytest.approx(np.mean([c.energy / 15 for c in configs]))] * 3
    # two compositions of two elements determine both E0 exactly
    from ase import Atoms

    from ace_ref.fit.data import Config

    h2 = Config(Atoms("H2", positions=[[0, 0, 0], [0.74, 0, 0]]), -31.0, None, None)
    h2o = Config(
        Atoms("H2O", positions=[[0, 0, 0], [0.96, 0, 0], [0, 0.96, 0]]), -2081.0, None, None
    )
    fitted = fit_e0([h2, h2o], ["H", "O"])
    assert fitted == {"H": pytest.approx(-15.5), "O": pytest.approx(-2050.0)}


def test_stress_units_and_pressure_convention(tmp_path):
    """A file storing the pressure tensor in bar is converted so that σ_xx = dE/dV (ASE)."""
    from ase.build import bulk
    from ase.calculators.emt import EMT
    from ase.units import bar

    frames = []
    for a in (3.795, 3.8, 3.805):
        atoms = bulk("Cu", "fcc", a=a, cubic=True)
        atoms.calc = EMT()
        sigma = atoms.get_stress(voigt=False)
        atoms.calc = SinglePointCalculator(
            atoms,
            energy=atoms.get_potential_energy(),
            forces=atoms.get_forces(),
            stress=-sigma / bar,
        )
        frames.append(atoms)
    write(tmp_path / "p.xyz", frames, format="extxyz")
    configs = read_configs(
        tmp_path / "p.xyz",
        stress_unit="bar",
        stress_convention="pressure",
        require=("energy", "forces", "stress"),
    )
    V = np.array([c.atoms.get_volume() for c in configs])
    E = np.array([c.energy for c in configs])
    dEdV = (E[2] - E[0]) / (V[2] - V[0])
    assert configs[1].stress[0, 0] == pytest.approx(dEdV, rel=1e-3)
    with pytest.raises(ValueError, match="unknown stress convention"):
        read_configs(tmp_path / "p.xyz", stress_convention="lammps")


def test_pair_cutoffs_from_data_cut_only_pairs_the_data_do_not_reach():
    from ase import Atoms

    from ace_ref.fit.data import Config, pair_cutoffs_from_data

    def config(d_oo):
        atoms = Atoms("OOH", positions=[[0, 0, 0], [d_oo, 0, 0], [0, 4.3, 0]])
        return Config(atoms, 0.0, None, None, source="x")

    cut = pair_cutoffs_from_data([config(2.4), config(2.9)], ["H", "O"], 4.5, margin=0.3)
    assert cut["default"] == 4.5
    assert cut[("O", "O")] == pytest.approx(3.2)
    assert ("H", "O") not in cut  # H-O reaches 4.3 (> 4.5 - 0.3): keeps r_cut
    assert ("H", "H") not in cut  # never seen: keeps r_cut
    with pytest.raises(ValueError, match="margin must be positive"):
        pair_cutoffs_from_data([config(2.4)], ["H", "O"], 4.5, margin=0.0)


def test_pair_cutoffs_drop_a_sparse_tail_beyond_a_gap():
    from ase import Atoms

    from ace_ref.fit.data import Config, pair_cutoffs_from_data

    def config(d):
        return Config(Atoms("OH", positions=[[0, 0, 0], [d, 0, 0]]), 0.0, None, None, source="x")

    near = [config(1.0 + 0.01 * k) for k in range(99)]  # 1.00 … 1.98 Å
    data = near + [config(4.3)]  # one far pair: 1 % beyond a 2.3 Å gap
    assert ("H", "O") not in pair_cutoffs_from_data(data, ["H", "O"], 4.5, margin=0.3)
    cut = pair_cutoffs_from_data(data, ["H", "O"], 4.5, margin=0.3, max_gap=0.5)
    assert cut[("H", "O")] == pytest.approx(1.98 + 0.3)
    kept = pair_cutoffs_from_data(data, ["H", "O"], 4.5, margin=0.3, max_gap=0.5, sparse_tail=0.005)
    assert ("H", "O") not in kept  # 1 % is not below a 0.5 % tail
