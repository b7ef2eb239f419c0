"""NequIP-style sparsified bases: chain tree, hidden-L cap, uvu channels; sizes, dependent
paths, model files and CLI. The chain blocks themselves: coupling/test_chain.py; span
inclusion: verify/test_span.py."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import molecule

from ace_ref import ACEBasis
from ace_ref.cli import main
from ace_ref.fit.assembly import Weights, assemble
from ace_ref.fit.solvers import solve
from ace_ref.models.linear import LinearACEModel
from ace_ref.models.load import load
from ace_ref.verify.span import coefficient_inclusion
from tests.structures import random_cluster


def test_default_basis_unchanged_and_sparsified_sizes(ho_full_basis, ho_sparsified_bases):
    full, sparse = ho_full_basis, ho_sparsified_bases
    assert "coupling" not in full.to_dict() and "channels" not in full.to_dict()
    assert not full.is_sparsified
    assert len(sparse["chain"]) == len(full)
    assert sparse["chain"].n_paths(0) > full.n_paths(0) == full.n_functions_per_species
    assert len(sparse["chain_L0"]) < len(sparse["chain_L1"]) < len(full)
    # L_max = 0: only products of l = 0 factors (distances only)
    assert all(l == 0 for lab in sparse["chain_L0"].tables(0).labels for _, _, l in lab["nl"])
    # uvu: one radial index per product
    for lab in sparse["uvu"].tables(0).labels:
        assert len({n for _, n, _ in lab["nl"]}) == 1
    for lab in sparse["chain_L1"].tables(0).labels:
        nu = lab["order"]
        assert max(lab["path"][: nu - 1], default=0) <= 1
    assert "NequIP paths" in sparse["chain_L1_uvu"].describe()


def test_dependent_paths_fit_like_independent(coupling_cache):
    """independent=False keeps every NequIP path (dependent columns); the SVD solvers fit the
    same function as with the independent basis of the same span."""
    kw = dict(
        order=2, max_n=[3, 3], max_l=[0, 2], r_cut=3.5, coupling="chain", cache_dir=coupling_cache
    )
    basis = ACEBasis(["H", "O"], **kw)
    paths = ACEBasis(["H", "O"], **kw, independent=False)
    assert len(paths) > len(basis)
    assert coefficient_inclusion(paths, basis)["equal_span"]
    rng = np.random.default_rng(0)
    truth = LinearACEModel(basis, rng.normal(size=len(basis)) * 0.1, {"H": -0.5, "O": -2.0})
    from ase.calculators.singlepoint import SinglePointCalculator

    from ace_ref.fit.data import Config

    def cluster():
        return random_cluster(rng, "H3O2", box=2.6, min_distance=0.8)

    configs = []
    for _ in range(60):
        atoms = cluster()
        out = truth.predict(atoms)
        atoms.calc = SinglePointCalculator(atoms, energy=out["energy"], forces=out["forces"])
        configs.append(Config(atoms, out["energy"], out["forces"], None))
    system = assemble(paths, configs, truth.e0, Weights(), progress=False)
    sol = solve(system, "ridge", lam=1e-12)
    fitted = LinearACEModel(paths, sol.coefficients, truth.e0)
    for _ in range(5):
        atoms = cluster()
        a, b = fitted.predict(atoms), truth.predict(atoms)
        assert a["energy"] == pytest.approx(b["energy"], abs=1e-6)
        np.testing.assert_allclose(a["forces"], b["forces"], atol=1e-6)


def test_sparsified_model_round_trip(ho_sparsified_bases, ho_full_basis, tmp_path):
    full, sparse = ho_full_basis, ho_sparsified_bases
    basis = sparse["chain_L1_uvu"]
    d = basis.to_dict()
    assert d["coupling"] == "chain" and d["lmax_hidden"] == 1 and d["channels"] == "uvu"
    assert basis.fingerprint() != full.fingerprint()
    model = LinearACEModel(basis, np.linspace(-1, 1, len(basis)), {"H": -0.5, "O": -2.0})
    path = model.save(tmp_path / "m.npz")
    back = load(path)
    assert back.basis.to_dict() == d and back.basis.fingerprint() == basis.fingerprint()
    atoms = molecule("H2O")
    np.testing.assert_allclose(back.predict(atoms)["forces"], model.predict(atoms)["forces"])


def test_bad_sparsification_options():
    with pytest.raises(ValueError, match="coupling='chain'"):
        ACEBasis("H", order=2, max_n=2, max_l=1, lmax_hidden=1, cache_dir=None)
    with pytest.raises(ValueError, match="unknown channels"):
        ACEBasis("H", order=2, max_n=2, max_l=1, channels="uuu", cache_dir=None)
    with pytest.raises(ValueError, match="unknown coupling"):
        ACEBasis("H", order=2, max_n=2, max_l=1, coupling="tree", cache_dir=None)
    with pytest.raises(ValueError, match="lmax_hidden"):
        ACEBasis("H", order=2, max_n=2, max_l=1, coupling="chain", lmax_hidden=-1)
    # high-degree uvu bases reach l beyond the tabulated Y_lm: an error, not a crash
    with pytest.raises(ValueError, match="tabulated only up to l = 12"):
        ACEBasis("H", order=2, max_degree=30, w_L=1, channels="uvu", cache_dir=None)


def test_cli_basis_side_by_side(capsys):
    code = main(
        ["basis", "--elements", "H", "O", "--order", "3", "--degree", "7,7,6", "--wl", "1",
         "--lmax-hidden", "1", "--channels", "uvu"]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "full ACE" in out and "chain L≤1 uvu" in out and "sparsified" in out


def test_cli_fit_sparsified(tmp_path, capsys):
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import write

    rng = np.random.default_rng(7)
    basis = ACEBasis(["H", "O"], order=2, max_n=[3, 2], max_l=[0, 1], r_cut=3.5, cache_dir=None)
    truth = LinearACEModel(basis, rng.normal(size=len(basis)) * 0.1, {"H": -0.5, "O": -2.0})
    frames = []
    for _ in range(15):
        atoms = molecule("H2O")
        atoms.rattle(0.2, seed=int(rng.integers(1000)))
        out = truth.predict(atoms)
        atoms.calc = SinglePointCalculator(atoms, energy=out["energy"], forces=out["forces"])
        frames.append(atoms)
    write(tmp_path / "d.xyz", frames, format="extxyz")
    out_path = tmp_path / "m.npz"
    code = main(
        ["fit", str(tmp_path / "d.xyz"), "--elements", "H", "O", "--order", "2", "--max-n",
         "3,2", "--max-l", "0,1", "--rcut", "3.5", "--coupling", "chain", "--lmax-hidden", "0",
         "--channels", "uvu", "--e0", "H=-0.5,O=-2.0", "--quiet", "-o", str(out_path)]
    )  # fmt: skip
    assert code == 0
    assert "coupling 'chain', hidden L ≤ 0, channels 'uvu'" in capsys.readouterr().out
    spec = load(out_path).basis.to_dict()
    assert spec["coupling"] == "chain" and spec["lmax_hidden"] == 0 and spec["channels"] == "uvu"
