"""LinearACEModel: fast predict path == design rows, files, ASE calculator and MD."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from ase import units
from ase.build import bulk, molecule
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
from ase.md.verlet import VelocityVerlet
from ase.optimize import BFGS

import ace_ref
from ace_ref import ACEBasis
from ace_ref.models.files import ModelFileError, header_digest
from ace_ref.models.linear import LinearACEModel
from ace_ref.models.load import load


@pytest.fixture(scope="module")
def chon_model(coupling_cache):
    basis = ACEBasis(
        ["C", "H", "O"],
        order=3,
        max_n=[6, 4, 2],
        max_l=[0, 3, 2],
        r_cut=4.5,
        cache_dir=coupling_cache,
    )
    c = np.random.default_rng(0).normal(size=len(basis)) * 0.01
    return LinearACEModel(basis, c, {"C": -1.5, "H": -0.5, "O": -2.0})


@pytest.fixture(scope="module")
def si_model(coupling_cache):
    basis = ACEBasis(
        "Si",
        order=4,
        max_n=[5, 4, 3, 2],
        max_l=[0, 3, 2, 1],
        r_cut=4.2,
        cache_dir=coupling_cache,
    )
    c = np.random.default_rng(1).normal(size=len(basis)) * 0.05
    return LinearACEModel(basis, c, {"Si": -3.0})


def test_predict_equals_design_rows_molecule(chon_model):
    atoms = molecule("CH3COCH3")
    atoms.rattle(0.1, seed=2)
    out = chon_model.predict(atoms)
    rows = chon_model.basis.design_rows(atoms)
    e0 = sum(chon_model.e0[s] for s in atoms.get_chemical_symbols())
    c = chon_model.coefficients
    assert out["energy"] == pytest.approx(rows.energy @ c + e0, abs=1e-10)
    np.testing.assert_allclose(out["forces"], rows.forces @ c, atol=1e-10)
    assert "stress" not in out


def test_predict_equals_design_rows_periodic_with_stress(si_model):
    atoms = bulk("Si", "diamond", a=5.43).repeat((2, 1, 1))
    atoms.rattle(0.1, seed=3)
    out = si_model.predict(atoms)
    rows = si_model.basis.design_rows(atoms)
    c = si_model.coefficients
    np.testing.assert_allclose(out["forces"], rows.forces @ c, atol=1e-10)
    W = rows.virial @ c
    np.testing.assert_allclose(out["stress"], 0.5 * (W + W.T) / atoms.get_volume(), atol=1e-12)
    # stress against a finite-difference strain derivative of the predicted energy
    h = 1e-6
    for a, b in [(0, 0), (1, 2), (2, 1)]:
        eps = np.zeros((3, 3))
        eps[a, b] = eps[b, a] = h / (1 if a == b else 2)
        p, m = atoms.copy(), atoms.copy()
        p.set_cell(atoms.cell.array @ (np.eye(3) + eps), scale_atoms=True)
        m.set_cell(atoms.cell.array @ (np.eye(3) - eps), scale_atoms=True)
        fd = (si_model.predict(p)["energy"] - si_model.predict(m)["energy"]) / (2 * h)
        # E(ε) ≈ E + V Σ σ_ab ε_ab, so dE/dh = V σ_ab for both diagonal and symmetric shear
        assert out["stress"][a, b] * atoms.get_volume() == pytest.approx(fd, abs=1e-6)


def test_save_load_round_trip(chon_model, tmp_path):
    path = chon_model.save(tmp_path / "m.npz")
    again = ace_ref.load(path)  # the top-level API the docs use
    assert isinstance(again, ace_ref.LinearACEModel)
    assert isinstance(ace_ref.ACECalculator(again), ace_ref.models.calculator.ACECalculator)
    atoms = molecule("CH3OH")
    np.testing.assert_array_equal(again.coefficients, chon_model.coefficients)
    assert again.predict(atoms)["energy"] == chon_model.predict(atoms)["energy"]
    with np.load(path, allow_pickle=False) as f:
        header = json.loads(str(f["header"]))
    assert header["version"] == 3 and header["format"] == "ace_ref.LinearACEModel"


def test_version_1_files_still_load(chon_model, tmp_path):
    """Version 1 (no uncertainty arrays) is read by this version, with no uncertainty."""
    from ace_ref.models.files import write_model_file
    from ace_ref.models.linear import FORMAT_NAME

    bare = ace_ref.LinearACEModel(chon_model.basis, chon_model.coefficients, chon_model.e0)
    path = write_model_file(tmp_path / "v1.npz", FORMAT_NAME, 1, bare)
    again = ace_ref.load(path)
    assert again.uncertainty is None
    np.testing.assert_array_equal(again.coefficients, chon_model.coefficients)


def test_corrupt_and_tampered_files(chon_model, tmp_path):
    path = chon_model.save(tmp_path / "m.npz")
    raw = path.read_bytes()
    (tmp_path / "trunc.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ModelFileError, match="not a readable"):
        load(tmp_path / "trunc.npz")
    with pytest.raises(ModelFileError, match="does not exist"):
        load(tmp_path / "missing.npz")
    # valid archive, altered coefficients
    with np.load(path) as f:
        header, coeffs = str(f["header"]), f["coefficients"].copy()
    coeffs[3] += 1e-9
    np.savez(tmp_path / "tampered.npz", header=np.array(header), coefficients=coeffs)
    with pytest.raises(ModelFileError, match="checksum"):
        load(tmp_path / "tampered.npz")
    # future version
    h = json.loads(header)
    h["version"] = 99
    np.savez(
        tmp_path / "future.npz",
        header=np.array(json.dumps(h)),
        coefficients=chon_model.coefficients,
    )
    with pytest.raises(ModelFileError, match="version 99"):
        load(tmp_path / "future.npz")
    # a basis that no longer matches the coefficients' functions is refused
    h = json.loads(header)
    h["basis_fingerprint"] = "0" * 64
    h["header_sha256"] = header_digest(h)  # re-signed: only the fingerprint can tell
    np.savez(
        tmp_path / "other_basis.npz",
        header=np.array(json.dumps(h)),
        coefficients=chon_model.coefficients,
    )
    with pytest.raises(ModelFileError, match="fingerprint"):
        load(tmp_path / "other_basis.npz")
    # a pickled object array is refused, not executed
    with zipfile.ZipFile(tmp_path / "pickle.npz", "w") as z:
        z.writestr("header.npy", b"\x93NUMPY garbage")
    with pytest.raises(ModelFileError):
        load(tmp_path / "pickle.npz")


def _resave(path, header: dict, coefficients, sign: bool = False):
    if sign:
        header["header_sha256"] = header_digest(header)
    np.savez(path, header=np.array(json.dumps(header)), coefficients=coefficients)
    return path


def test_e0_is_checksummed_and_validated(chon_model, tmp_path):
    # issue 21: a deleted E0 entry became 0.0, NaN was accepted, energies came out wrong
    path = chon_model.save(tmp_path / "m.npz")
    with np.load(path) as f:
        header, coeffs = json.loads(str(f["header"])), f["coefficients"].copy()
    for change in ("delete", "nan", "shift"):
        h = json.loads(json.dumps(header))
        if change == "delete":
            del h["e0"]["H"]
        elif change == "nan":
            h["e0"]["O"] = float("nan")
        else:
            h["e0"]["C"] += 1.0
        with pytest.raises(
            ModelFileError, match=r"header \(E0, basis.*does not match its checksum"
        ):
            load(_resave(tmp_path / f"{change}.npz", h, coeffs))
    # a header re-signed after the change is still checked for meaning
    h = json.loads(json.dumps(header))
    del h["e0"]["H"]
    with pytest.raises(ModelFileError, match=r"invalid model header \(E0 has no entry for H\)"):
        load(_resave(tmp_path / "signed_delete.npz", h, coeffs, sign=True))
    h = json.loads(json.dumps(header))
    h["e0"]["O"] = float("nan")
    with pytest.raises(ModelFileError, match=r"E0 of O is not finite"):
        load(_resave(tmp_path / "signed_nan.npz", h, coeffs, sign=True))
    h["e0"]["O"] = "-2040"
    with pytest.raises(ModelFileError, match=r"E0 of O must be a number"):
        load(_resave(tmp_path / "signed_str.npz", h, coeffs, sign=True))
    # a file of an older version (no header checksum) still loads
    h = json.loads(json.dumps(header))
    del h["header_sha256"]
    with pytest.raises(ModelFileError, match="checksum"):
        load(_resave(tmp_path / "unsigned_v3.npz", h, coeffs))
    h["version"] = 2
    old = load(_resave(tmp_path / "v2.npz", h, coeffs))
    assert old.e0 == chon_model.e0


def test_model_files_that_are_not_models(chon_model, tmp_path):
    (tmp_path / "text.npz").write_text("hello world\n")
    with pytest.raises(ModelFileError, match=r"not an ace_ref model file \(a model is a \.npz"):
        load(tmp_path / "text.npz")
    with pytest.raises(ModelFileError, match="is a directory"):
        load(tmp_path)
    # issue 21: valid JSON that is not an object gave an AttributeError traceback
    np.savez(tmp_path / "list.npz", header=np.array("[1, 2]"), coefficients=np.zeros(3))
    with pytest.raises(ModelFileError, match=r"header is JSON but not an object \(got list\)"):
        load(tmp_path / "list.npz")
    np.savez(tmp_path / "bad.npz", header=np.array("{not json"), coefficients=np.zeros(3))
    with pytest.raises(ModelFileError, match="header is not valid JSON"):
        load(tmp_path / "bad.npz")


def test_a_poisoned_coupling_cache_is_blamed_on_the_cache(chon_model, tmp_path):
    from ace_ref.coupling.cache import CouplingCache
    from ace_ref.models.files import CouplingCacheError

    cache = tmp_path / "cache"
    path = chon_model.save(tmp_path / "m.npz")
    load(path, cache_dir=cache)  # fills the cache
    entries = sorted((cache / "coupling").glob("*.npz"))
    assert entries
    # poison one entry consistently (its own checksum re-computed), as a buggy writer would
    victim = max(entries, key=lambda e: e.stat().st_size)
    with np.load(victim) as f:
        meta = json.loads(str(f["meta"]))
        arrays = {k: f[k].copy() for k in ("m_tuples", "coeffs", "paths")}
    arrays["coeffs"] = arrays["coeffs"] * 1.5
    meta["digest"] = CouplingCache._digest(meta["request"], arrays)
    np.savez(victim, meta=np.array(json.dumps(meta)), **arrays)
    with pytest.raises(CouplingCacheError, match=r"coupling cache .* delete that directory"):
        load(path, cache_dir=cache)


def test_ase_optimiser_and_nve_energy_conservation(chon_model):
    atoms = molecule("CH3CH2OH")
    # a smooth, bounded potential: small random coefficients on a modest basis
    atoms.calc = chon_model.calculator()
    BFGS(atoms, logfile=None).run(fmax=0.05, steps=50)
    MaxwellBoltzmannDistribution(atoms, temperature_K=300, rng=np.random.default_rng(0))  # noqa
    dyn = VelocityVerlet(atoms, timestep=0.25 * units.fs)
    energies = []
    for _ in range(40):
        dyn.run(5)
        energies.append(atoms.get_potential_energy() + atoms.get_kinetic_energy())
    energies = np.array(energies)
    drift = np.abs(energies - energies[0]).max()
    ekin = atoms.get_kinetic_energy()
    assert drift < 1e-3 * max(ekin, 0.05), f"total energy drifted by {drift} eV"


def test_atomic_path_leaves_old_file_and_no_temporary_on_error(tmp_path):
    from ace_ref._atomic_write import atomic_path

    target = tmp_path / "out.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("writer failed")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]
