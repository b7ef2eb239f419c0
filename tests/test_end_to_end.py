"""The workflow end to end: ``ace-ref fit / eval / basis`` on the example data (with a
config file too), and NVE molecular dynamics with a model fitted in Python."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase import units
from ase.io import read, write
from ase.md.verlet import VelocityVerlet

from ace_ref import ACEBasis
from ace_ref.cli import main
from ace_ref.fit.assembly import assemble
from ace_ref.fit.data import read_configs, read_e0
from ace_ref.fit.solvers import smoothness_prior, solve
from ace_ref.models.linear import LinearACEModel
from ace_ref.models.load import load
from tests.paths import ACAC


def test_cli_fit_eval_basis(tmp_path, capsys):
    frames = read(ACAC / "train_300K.xyz", ":60")
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
            str(ACAC / "isolated_atoms.xyz"),
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


def test_nve_with_fitted_acetylacetone_model(coupling_cache):
    configs = read_configs(ACAC / "train_300K.xyz")[:120]
    e0 = read_e0(ACAC / "isolated_atoms.xyz")
    basis = ACEBasis(
        ["H", "C", "O"], order=2, max_n=[6, 4], max_l=[0, 2], r_cut=4.5, cache_dir=coupling_cache
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
    frames = read(ACAC / "train_300K.xyz", ":20")
    write(tmp_path / "train.xyz", frames, format="extxyz")
    (tmp_path / "fit.toml").write_text(
        'order = 2\nmax-n = [3, 2]\nmax-l = [0, 1]\nrcut = 3.5\nsolver = "ridge"\n'
        "order-weights = [5, 1]\n"
    )
    model_path = tmp_path / "m.npz"
    assert (
        main(
            [
                "fit",
                str(tmp_path / "train.xyz"),
                "--e0",
                str(ACAC / "isolated_atoms.xyz"),
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
    assert model.metadata["order_weights"] == [5.0, 1.0]  # from the file, into the prior
    (tmp_path / "bad.toml").write_text("colour = 3\n")
    base = ["fit", str(tmp_path / "train.xyz"), "-o", str(tmp_path / "never.npz")]
    assert main([*base, "--config", str(tmp_path / "bad.toml")]) == 2
    assert "bad.toml: unknown option 'colour'" in capsys.readouterr().err
    # issue 21: a config value of the wrong type is refused by the option's own type check,
    # before any data is read (it was a TypeError after assembly)
    (tmp_path / "lam.toml").write_text('lam = "x"\nsolver = "ridge"\n')
    assert main([*base, "--config", str(tmp_path / "lam.toml")]) == 2
    assert "lam.toml: argument --lam: invalid float value: 'x'" in capsys.readouterr().err
    (tmp_path / "choice.toml").write_text('solver = "magic"\n')
    assert main([*base, "--config", str(tmp_path / "choice.toml")]) == 2
    assert "invalid choice: 'magic'" in capsys.readouterr().err
    assert not (tmp_path / "never.npz").exists()
    # the command line wins over the config file
    (tmp_path / "order.toml").write_text("order = 3\nmax-n = [3, 2, 1]\nmax-l = [0, 1, 1]\n")
    from ace_ref.cli import parse_arguments

    args = parse_arguments([*base, "--config", str(tmp_path / "order.toml"), "--order", "2"])
    assert args.order == 2 and args.max_n == "3,2,1"
    # several weight settings separated by ';' are a grid, each setting a tuple
    args = parse_arguments([*base, "--order-weights", "30,3,1;1"])
    assert args.order_weights == [(30.0, 3.0, 1.0), (1.0,)]


def test_cli_reliability_eval_and_probe(tmp_path, capsys):
    """fit (data cutoffs, core, committee) → eval --uncertainty → probe, on a small acac model."""
    frames = read(ACAC / "train_300K.xyz", ":50")
    write(tmp_path / "train.xyz", frames[:40], format="extxyz")
    write(tmp_path / "test.xyz", frames[40:], format="extxyz")
    write(tmp_path / "start.xyz", frames[45], format="extxyz")
    model_path = tmp_path / "m.npz"
    args = ["fit", str(tmp_path / "train.xyz"), "--e0", str(ACAC / "isolated_atoms.xyz")]
    args += ["--order", "2", "--max-n", "4,3", "--max-l", "0,2", "--rcut", "4.0", "--quiet"]
    args += ["--pair-cutoffs", "data", "--committee", "8", "-o", str(model_path)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "O-O" in out and "environments: H 320, C 200, O 80" in out  # the coverage table
    model = load(model_path)
    assert model.basis.r_cut[2, 2] < 4.0  # O-O cut off just beyond its largest distance
    assert model.core is not None and model.uncertainty.committee.coefficients.shape[0] == 8
    json_path = tmp_path / "r.json"
    rc = main(["eval", str(model_path), str(tmp_path / "test.xyz"), "--uncertainty",
               "--json", str(json_path)])  # fmt: skip
    assert rc == 0
    out = capsys.readouterr().out
    assert "Spearman" in out and "extrapolation grade" in out
    rel = json.loads(json_path.read_text())["reliability"]["test.xyz"]
    assert len(rel["configurations"]) == 10
    row = rel["configurations"][0]
    for key in ("energy_error_meV", "energy_std_meV", "max_extrapolation_grade", "n_pairs_outside"):
        assert key in row
    assert set(rel["ranking"]) == {
        "energy_std_meV vs energy_error_meV",
        "forces_std_max_meV_per_A vs forces_rmse_meV_per_A",
        "max_extrapolation_grade vs forces_rmse_meV_per_A",
    }
    probe_json = tmp_path / "p.json"
    rc = main(["probe", str(model_path), str(tmp_path / "start.xyz"), "--json", str(probe_json)])
    report = json.loads(probe_json.read_text())
    assert rc == (1 if report["n_holes"] else 0)
    assert {s["kind"] for s in report["scans"]} == {"torsion", "stretch", "displacement"}
    assert main(["probe", str(model_path), str(tmp_path / "none.xyz")]) == 2


def test_cli_pair_part_next_to_a_short_many_body_part(tmp_path, capsys):
    frames = read(ACAC / "train_300K.xyz", ":30")
    write(tmp_path / "train.xyz", frames, format="extxyz")
    args = ["fit", str(tmp_path / "train.xyz"), "--e0", str(ACAC / "isolated_atoms.xyz")]
    args += ["--order", "2", "--max-n", "3,2", "--max-l", "0,1", "--rcut", "3.0", "--quiet"]
    args += ["--pair-rcut", "4.5", "--pair-max-n", "6", "-o", str(tmp_path / "m.npz")]
    assert main(args) == 0
    assert "sum of 2 bases" in capsys.readouterr().out
    model = load(tmp_path / "m.npz")
    pair, many = model.basis.parts
    assert pair.order == 1 and pair.r_cut.max() == 4.5 and many.r_cut.max() == 3.0
    assert main(args[:-2] + ["--layers", "2", "-o", str(tmp_path / "x.npz")]) == 2


def test_cli_fit_purified_and_its_model(tmp_path, capsys):
    frames = read(ACAC / "train_300K.xyz", ":40")
    write(tmp_path / "train.xyz", frames[:30], format="extxyz")
    write(tmp_path / "test.xyz", frames[30:], format="extxyz")
    args = ["fit", str(tmp_path / "train.xyz"), "--e0", str(ACAC / "isolated_atoms.xyz")]
    args += ["--order", "3", "--degree", "6,6,5", "--rcut", "4.0", "--purify"]
    assert main([*args, "--test", str(tmp_path / "test.xyz"), "-o", str(tmp_path / "p.npz")]) == 0
    assert "purified (self-interaction-free)" in capsys.readouterr().out
    model = load(tmp_path / "p.npz")
    assert model.basis.purify and len(model.basis.extra_slots) > 0
    # the model's prediction is the purified polynomial, its design rows contracted
    atoms = read(tmp_path / "test.xyz", 0)
    rows = model.basis.design_rows(atoms)
    out = model.predict(atoms)
    np.testing.assert_allclose(out["forces"], rows.forces @ model.coefficients, atol=1e-10)
    assert main(["export", str(tmp_path / "p.npz"), "-o", str(tmp_path / "p.yace")]) == 2
    assert not (tmp_path / "p.yace").exists()
    assert main([*args, "--layers", "2", "-o", str(tmp_path / "x.npz")]) == 2
    assert "first layer must not be purified" in capsys.readouterr().err
