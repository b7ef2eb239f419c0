"""NequIP-style sparsifications: chain tree, hidden-L cap, uvu channels, span inclusion."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import molecule

from ace_ref import ACEBasis
from ace_ref.cli import main
from ace_ref.coupling.cache import coupled_block
from ace_ref.coupling.chain import chain_block
from ace_ref.coupling.rotations import random_o3, wigner_d_real
from ace_ref.fit.assembly import Weights, assemble
from ace_ref.fit.solvers import solve
from ace_ref.models.linear import LinearACEModel
from ace_ref.models.load import load
from ace_ref.verify.span import coefficient_inclusion, span_inclusion

SPEC = dict(order=3, max_degree=[7, 7, 6], w_L=1, r_cut=4.0)
SPARSIFICATIONS = {
    "chain": dict(coupling="chain"),
    "chain_L1": dict(coupling="chain", lmax_hidden=1),
    "chain_L0": dict(coupling="chain", lmax_hidden=0),
    "uvu": dict(channels="uvu"),
    "chain_L1_uvu": dict(coupling="chain", lmax_hidden=1, channels="uvu"),
}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def full(cache):
    return ACEBasis(["H", "O"], **SPEC, cache_dir=cache)


@pytest.fixture(scope="module")
def sparse(cache):
    return {
        k: ACEBasis(["H", "O"], **SPEC, **kw, cache_dir=cache) for k, kw in SPARSIFICATIONS.items()
    }


def _canonical_rows(block):
    """Coefficient vectors of a block keyed by canonical m-tuple (for span comparisons)."""
    return {tuple(t): k for k, t in enumerate(block.m_tuples.tolist())}


@pytest.mark.parametrize(
    "ls,groups,L",
    [((1, 1, 2), (1, 1, 1), 0), ((2, 2, 2), (3,), 0), ((1, 1, 1, 1), (2, 2), 0),
     ((1, 2, 3, 4), (1, 1, 1, 1), 0), ((2, 2, 2, 2), (2, 2), 2), ((1, 2, 2), (1, 2), 1)],
)  # fmt: skip
def test_uncapped_chain_spans_the_full_block(ls, groups, L):
    """All orderings × chain paths, symmetrised, span every invariant: rank = character
    formula, and the row spaces of chain and symmetric couplings coincide."""
    chain = chain_block(ls, groups, L)
    full = coupled_block(ls, groups, L)
    assert chain.n_functions == full.n_functions == chain.multiplicity > 0
    keys = sorted({tuple(t) for b in (chain, full) for t in b.m_tuples.tolist()})

    def dense(block):
        index = _canonical_rows(block)
        out = np.zeros((block.n_functions, len(keys), 2 * L + 1))
        for j, key in enumerate(keys):
            if key in index:
                out[:, j] = block.coeffs[:, index[key]]
        return out.reshape(block.n_functions, -1)

    stacked = np.vstack([dense(chain), dense(full)])
    sv = np.linalg.svd(stacked / np.linalg.norm(stacked, axis=1)[:, None], compute_uv=False)
    assert int(np.sum(sv > 1e-9 * sv[0])) == full.n_functions
    # capped chains keep only paths with every hidden L ≤ L_max
    for cap in range(3):
        capped = chain_block(ls, groups, L, lmax_hidden=cap, independent=False)
        assert np.all(capped.paths[:, : len(ls) - 1] <= cap)
        assert chain_block(ls, groups, L, lmax_hidden=cap).n_functions <= full.n_functions


def test_default_basis_unchanged_and_sparsified_sizes(full, sparse):
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


@pytest.mark.parametrize("name", list(SPARSIFICATIONS))
def test_span_inclusion_numerical_matches_exact(full, sparse, name):
    """Every single-layer sparsification lies in the full span; the numerical rank test and
    the algebraic one agree on inclusion and on the unreachable blocks."""
    basis = sparse[name]
    exact = coefficient_inclusion(basis, full)
    report = span_inclusion(basis, full, seed=1)
    assert exact["included"] and report.included
    assert report.equal_span == exact["equal_span"] == (name == "chain")
    assert report.n_unreachable == exact["n_unreachable"]
    # per-block counts (first central species) equal the algebraic ones
    el = full.elements[0]
    for b in report.unreachable:
        key = tuple(sorted((full.elements.index(s), n, l) for s, n, l in b["nl"]))
        assert b["n_unreachable"] == exact["blocks"][key][0], b
    assert sum(b["n_unreachable"] for b in report.unreachable) == report.n_unreachable
    for s in report.species:
        assert s.rank_full == s.n_full  # the full basis is independent on the environments
        assert s.excess < 1e-2 and s.margin > 1e4  # clear verdicts
        assert s.element in full.elements
    assert el in report.summary()
    if name == "chain_L0":
        lost = report.unreachable_by_l()
        assert lost[(2, (1, 1))][0] == lost[(2, (1, 1))][1] > 0  # no angular 3-body term
    if name == "chain_L1":
        lost = {k: v for k, v in report.unreachable_by_l().items() if v[0]}
        assert set(lost) == {(2, (2, 2))}  # only the l = 2 pair correlations are lost


def test_equivariant_outputs_included(full, sparse):
    report = span_inclusion(sparse["chain_L1"], full, L=1, seed=2)
    assert report.included and not report.equal_span
    assert (
        report.n_unreachable
        == coefficient_inclusion(sparse["chain_L1"], full, L=1)["n_unreachable"]
    )
    # the sparsified L = 1 features transform with D^1
    atoms = molecule("H2O")
    atoms.rattle(0.2, seed=3)
    F = sparse["chain_L1"].features(atoms, L=1)
    Q = random_o3(np.random.default_rng(0), improper=True)
    moved = atoms.copy()
    moved.positions = atoms.positions @ Q.T
    np.testing.assert_allclose(
        sparse["chain_L1"].features(moved, L=1),
        F @ wigner_d_real(1, Q).T,
        atol=1e-10 * np.abs(F).max(),
    )


@pytest.mark.parametrize(
    "wrong",
    [dict(radial="polynomial", coupling="chain", lmax_hidden=1), dict(r_cut=4.3, channels="uvu")],
)
def test_wrong_sparsification_is_detected(full, cache, wrong):
    """A 'sparsification' on another radial basis or cutoff is not in the full span."""
    spec = {**SPEC, **wrong}
    basis = ACEBasis(["H", "O"], **spec, cache_dir=cache)
    report = span_inclusion(basis, full, seed=4)
    assert not report.included
    for s in report.species:
        assert s.excess > 1e6  # far above the round-off bound, not a borderline call
    with pytest.raises(ValueError, match="same atomic base"):
        coefficient_inclusion(basis, full)


def test_dependent_paths_fit_like_independent(cache):
    """independent=False keeps every NequIP path (dependent columns); the SVD solvers fit the
    same function as with the independent basis of the same span."""
    kw = dict(order=2, max_n=[3, 3], max_l=[0, 2], r_cut=3.5, coupling="chain", cache_dir=cache)
    basis = ACEBasis(["H", "O"], **kw)
    paths = ACEBasis(["H", "O"], **kw, independent=False)
    assert len(paths) > len(basis)
    assert coefficient_inclusion(paths, basis)["equal_span"]
    rng = np.random.default_rng(0)
    truth = LinearACEModel(basis, rng.normal(size=len(basis)) * 0.1, {"H": -0.5, "O": -2.0})
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator

    from ace_ref.fit.data import Config

    def cluster():
        while True:
            pos = rng.uniform(0, 2.6, size=(5, 3))
            d = np.linalg.norm(pos[:, None] - pos[None], axis=-1)[np.triu_indices(5, 1)]
            if d.min() > 0.8:
                return Atoms("H3O2", positions=pos)

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


def test_sparsified_model_round_trip(sparse, full, tmp_path):
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
         "--channels", "uvu", "--quiet", "-o", str(out_path)]
    )  # fmt: skip
    assert code == 0
    assert "coupling 'chain', hidden L ≤ 0, channels 'uvu'" in capsys.readouterr().out
    spec = load(out_path).basis.to_dict()
    assert spec["coupling"] == "chain" and spec["lmax_hidden"] == 0 and spec["channels"] == "uvu"
