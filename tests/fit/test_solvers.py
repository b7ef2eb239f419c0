"""Data reading, streamed assembly, solvers, CLI and an NVE run with a fitted model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from ase import units
from ase.build import molecule
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read, write
from ase.md.verlet import VelocityVerlet

from ace_ref import ACEBasis
from ace_ref.cli import main
from ace_ref.fit.assembly import Weights, assemble
from ace_ref.fit.data import fit_e0, read_configs, read_e0
from ace_ref.fit.solvers import smoothness_prior, solve
from ace_ref.models.linear import LinearACEModel
from ace_ref.models.load import load

EXAMPLE = Path(__file__).resolve().parents[1] / "ace_ref" / "example_data" / "acac"


@pytest.fixture(scope="module")
def small_basis(tmp_path_factory):
    return ACEBasis(
        ["C", "H", "O"],
        order=2,
        max_n=[4, 3],
        max_l=[0, 2],
        r_cut=4.0,
        cache_dir=tmp_path_factory.mktemp("cache"),
    )


def _random_cluster(rng, symbols="C2H2O2", box=3.2, min_distance=0.9):
    from ase import Atoms

    while True:
        atoms = Atoms(symbols, positions=rng.uniform(0, box, size=(6, 3)))
        d = atoms.get_all_distances()[np.triu_indices(6, 1)]
        if d.min() > min_distance:
            return atoms


def _synthetic(model, n, seed, path=None):
    """Random C2H2O2 clusters labelled by ``model``: every species pair and angle occurs."""
    rng = np.random.default_rng(seed)
    frames = []
    for k in range(n):
        atoms = _random_cluster(rng)
        out = model.predict(atoms)
        atoms.calc = SinglePointCalculator(atoms, energy=out["energy"], forces=out["forces"])
        atoms.info["config_type"] = "even" if k % 2 == 0 else "odd"
        frames.append(atoms)
    if path is not None:
        write(path, frames, format="extxyz")
    return frames


def _assert_same_function(coefficients, truth, frames, atol):
    """The fitted function equals the generating one on held-out structures."""
    fitted = LinearACEModel(truth.basis, coefficients, truth.e0)
    for atoms in frames:
        a, b = fitted.predict(atoms), truth.predict(atoms)
        assert a["energy"] == pytest.approx(b["energy"], abs=atol)
        np.testing.assert_allclose(a["forces"], b["forces"], atol=atol)


@pytest.mark.parametrize("method", ["normal", "qr"])
def test_fit_recovers_generating_coefficients(small_basis, tmp_path, method):
    rng = np.random.default_rng(0)
    truth = LinearACEModel(
        small_basis, rng.normal(size=len(small_basis)) * 0.1, {"C": -1.0, "H": -0.3, "O": -2.0}
    )
    _synthetic(truth, 150, 1, tmp_path / "d.xyz")
    configs = read_configs(tmp_path / "d.xyz", require=("energy", "forces"))
    system = assemble(small_basis, configs, truth.e0, Weights(), progress=False, method=method)
    K = len(small_basis)
    assert (system.R if method == "qr" else system.G).shape == (K, K)
    held_out = _synthetic(truth, 5, 99)
    sol = solve(system, "ridge", lam=1e-12)
    _assert_same_function(sol.coefficients, truth, held_out, 1e-6)
    # streaming in small blocks gives the same answer (memory independent of data size)
    system2 = assemble(
        small_basis, configs, truth.e0, Weights(), progress=False, block_rows=50, method=method
    )
    sol2 = solve(system2, "ridge", lam=1e-12)
    _assert_same_function(sol2.coefficients, truth, held_out, 1e-6)
    if method == "qr":
        # the QR summary is independent of the blocking up to round-off, even along
        # directions the data leave undetermined; the Gram summary (squared conditioning)
        # is only claimed to give the same function
        np.testing.assert_allclose(sol2.coefficients, sol.coefficients, atol=1e-8)
    # BLR on noise-free data also recovers the truth and learns a tiny noise variance
    blr = solve(system, "blr", smoothness_prior(small_basis, 2.0), committee_size=4)
    _assert_same_function(blr.coefficients, truth, held_out, 1e-4)
    assert blr.committee.shape == (4, len(small_basis))
    lsqr = solve(system, "lsqr", lam=1e-12)
    _assert_same_function(lsqr.coefficients, truth, held_out, 1e-5)
    with pytest.raises(ValueError, match="validation"):
        solve(system, "tsvd")
    tsvd = solve(system, "tsvd", validation=system)
    _assert_same_function(tsvd.coefficients, truth, held_out, 1e-5)
    with pytest.raises(ValueError, match="unknown solver"):
        solve(system, "magic")
    # the summary reproduces the residual of the full problem
    assert system.squared_error(sol.coefficients) < 1e-10 * system.yy


def test_config_type_weights_change_the_fit(small_basis, tmp_path):
    rng = np.random.default_rng(2)
    truth = LinearACEModel(small_basis, rng.normal(size=len(small_basis)) * 0.1)
    frames = _synthetic(truth, 150, 3)
    for k, a in enumerate(frames):  # inconsistent labels for the "odd" group
        if k % 2:
            a.calc.results["energy"] += 0.5
    write(tmp_path / "d.xyz", frames, format="extxyz")
    configs = read_configs(tmp_path / "d.xyz")
    e0 = {"C": 0.0, "H": 0.0, "O": 0.0}
    w = Weights.parse("energy=30,forces=1,odd=0")
    fit = solve(assemble(small_basis, configs, e0, w, progress=False), "ridge", lam=1e-12)
    _assert_same_function(fit.coefficients, truth, _synthetic(truth, 3, 7), 1e-6)
    # with the odd group weighted in, the inconsistent energies pull the fit away
    fit_all = solve(
        assemble(small_basis, configs, e0, Weights(), progress=False), "ridge", lam=1e-12
    )
    with pytest.raises(AssertionError):
        _assert_same_function(fit_all.coefficients, truth, _synthetic(truth, 3, 7), 1e-6)
    with pytest.raises(ValueError, match="name=value"):
        Weights.parse("energy")
    # observable-specific group weight: only the odd group's (inconsistent) energies are
    # switched off, its forces still count; switching off its forces instead does not help
    w_obs = Weights.parse("energy=30,forces=1,odd:energy=0")
    assert w_obs.factor("odd", "energy") == 0 and w_obs.factor("odd", "forces") == 1
    fit_obs = solve(assemble(small_basis, configs, e0, w_obs, progress=False), "ridge", lam=1e-12)
    _assert_same_function(fit_obs.coefficients, truth, _synthetic(truth, 3, 7), 1e-6)
    w_bad = Weights.parse("odd:forces=0")
    fit_bad = solve(assemble(small_basis, configs, e0, w_bad, progress=False), "ridge", lam=1e-12)
    with pytest.raises(AssertionError):
        _assert_same_function(fit_bad.coefficients, truth, _synthetic(truth, 3, 7), 1e-6)
    with pytest.raises(ValueError, match="CONFIG_TYPE:OBSERVABLE"):
        Weights.parse("odd:stress=1")


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
    e0 = read_e0(EXAMPLE / "isolated_atoms.xyz")
    assert set(e0) == {"H", "C", "O"}
    configs = read_configs(EXAMPLE / "train_300K.xyz")[:50]
    fitted = fit_e0(configs, ["H", "C", "O"])
    # all configurations share one composition, so only Σ N_z E0_z is determined
    total = 8 * fitted["H"] + 5 * fitted["C"] + 2 * fitted["O"]
    assert total == pytest.approx(np.mean([c.energy for c in configs]), abs=1.0)


def test_cli_fit_eval_basis(tmp_path, capsys):
    frames = read(EXAMPLE / "train_300K.xyz", ":60")
    write(tmp_path / "train.xyz", frames[:40], format="extxyz")
    write(tmp_path / "test.xyz", frames[40:], format="extxyz")
    model_path = tmp_path / "m.npz"
    rc = main(
        [
            "fit",
            str(tmp_path / "train.xyz"),
            "--test",
            str(tmp_path / "test.xyz"),
            "--e0",
            str(EXAMPLE / "isolated_atoms.xyz"),
            "--order",
            "2",
            "--max-n",
            "4,3",
            "--max-l",
            "0,2",
            "--rcut",
            "4.0",
            "--quiet",
            "-o",
            str(model_path),
        ]
    )
    assert rc == 0 and model_path.exists()
    out = capsys.readouterr().out
    assert "test.xyz" in out and "meV" in out
    json_path, png = tmp_path / "r.json", tmp_path / "p.png"
    assert (
        main(
            [
                "eval",
                str(model_path),
                str(tmp_path / "test.xyz"),
                "--json",
                str(json_path),
                "--plot",
                str(png),
            ]
        )
        == 0
    )
    result = json.loads(json_path.read_text())
    row = result["files"]["test.xyz"]
    for key in (
        "energy_rmse_meV",
        "energy_rmse_meV_per_atom",
        "forces_rmse_meV_per_A",
        "stress_rmse_GPa",
    ):
        assert key in row
    assert row["forces_rmse_meV_per_A"] > 0
    assert "test.xyz::300K_MD" in result["config_types"]
    assert png.read_bytes()[:4] == b"\x89PNG"
    # the printed table is the model's real error: recompute one number independently
    model = load(model_path)
    test = read_configs(tmp_path / "test.xyz")
    err = [model.predict(c.atoms)["energy"] - c.energy for c in test]
    assert row["energy_rmse_meV"] == pytest.approx(1000 * np.sqrt(np.mean(np.square(err))))
    assert (
        main(["basis", "--elements", "C", "H", "--order", "2", "--max-n", "3,2", "--max-l", "0,1"])
        == 0
    )
    assert "linear coefficients" in capsys.readouterr().out
    assert main(["eval", str(tmp_path / "nothere.npz"), str(tmp_path / "test.xyz")]) == 2


def test_nve_with_fitted_acetylacetone_model(tmp_path):
    configs = read_configs(EXAMPLE / "train_300K.xyz")[:120]
    e0 = read_e0(EXAMPLE / "isolated_atoms.xyz")
    basis = ACEBasis(
        ["H", "C", "O"], order=2, max_n=[6, 4], max_l=[0, 2], r_cut=4.5, cache_dir=tmp_path
    )
    sol = solve(assemble(basis, configs, e0, progress=False), "blr", smoothness_prior(basis))
    model = LinearACEModel(basis, sol.coefficients, e0)
    atoms = configs[0].atoms.copy()
    atoms.calc = model.calculator()
    atoms.set_momenta(np.zeros((len(atoms), 3)))
    dyn = VelocityVerlet(atoms, timestep=0.25 * units.fs)
    e_start = atoms.get_total_energy()
    energies = []
    for _ in range(40):
        dyn.run(5)
        energies.append(atoms.get_total_energy())
    assert atoms.get_kinetic_energy() > 0.05  # it really moved
    assert np.abs(np.array(energies) - e_start).max() < 5e-3


def test_cli_config_file(tmp_path, capsys):
    frames = read(EXAMPLE / "train_300K.xyz", ":20")
    write(tmp_path / "train.xyz", frames, format="extxyz")
    (tmp_path / "fit.toml").write_text(
        'order = 2\nmax-n = [3, 2]\nmax-l = [0, 1]\nrcut = 3.5\nsolver = "ridge"\n'
    )
    model_path = tmp_path / "m.npz"
    assert (
        main(
            [
                "fit",
                str(tmp_path / "train.xyz"),
                "--e0",
                str(EXAMPLE / "isolated_atoms.xyz"),
                "--config",
                str(tmp_path / "fit.toml"),
                "--quiet",
                "-o",
                str(model_path),
            ]
        )
        == 0
    )
    model = load(model_path)
    assert model.basis.order == 2 and model.basis.max_n == [3, 2] and model.basis.max_l == [0, 1]
    assert float(model.basis.r_cut.max()) == 3.5
    assert model.metadata["solver"]["solver"] == "ridge"
    (tmp_path / "bad.toml").write_text("colour = 3\n")
    with pytest.raises(SystemExit, match="unknown option 'colour'"):
        main(
            [
                "fit",
                str(tmp_path / "train.xyz"),
                "--config",
                str(tmp_path / "bad.toml"),
                "-o",
                str(model_path),
            ]
        )


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
