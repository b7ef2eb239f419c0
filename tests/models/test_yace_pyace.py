"""Round trip through ML-PACE: pyace (the C++ evaluator LAMMPS ``pair_style pace`` runs) reads
the exported ``.yace`` and reproduces our energies, forces and stresses to ≤ 1e-8 relative.

Evaluators: ``recursive`` and ``product`` are what ``pair_style pace recursive|product`` run
in LAMMPS; ``ctilde`` is pyace's default. Relative measures: :func:`ace_ref.models.yace_check.
pyace_agreement`. The numbers measured on larger models are in BENCHMARKS.md.
"""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import molecule
from ase.io import read

from ace_ref import ACEBasis
from ace_ref.fit.assembly import Weights, assemble
from ace_ref.fit.data import fit_e0, read_configs, read_e0
from ace_ref.fit.solvers import smoothness_prior, solve
from ace_ref.models.linear import LinearACEModel
from ace_ref.models.yace_check import PYACE_EVALUATORS, pyace_agreement
from tests.paths import ACAC

pytest.importorskip("pyace", reason="pyace (pip install --pre python-ace) not installed")

TOL = 1e-8
EVALUATORS = list(PYACE_EVALUATORS)


def _fit(basis, configs, e0):
    system = assemble(basis, configs, e0, Weights.parse("energy=30,forces=1,virial=1"), False)
    solution = solve(system, "blr", smoothness_prior(basis, 2.0))
    return LinearACEModel(basis, solution.coefficients, e0)


def _check(agreement, periodic=False):
    for key in ("energy", "energies", "forces") + (("stress",) if periodic else ()):
        assert agreement[key] <= TOL, (key, agreement)


@pytest.fixture(scope="module", params=["ace1", "sbessel", "bessel"])
def acac(tmp_path_factory, request):
    train = read_configs(ACAC / "train_300K.xyz")[:20]
    basis = ACEBasis(
        ["H", "C", "O"], 3, max_degree=[6, 6, 5], w_L=1, r_cut=4.5, radial=request.param
    )
    model = _fit(basis, train, read_e0(ACAC / "isolated_atoms.xyz"))
    path = model.export_yace(tmp_path_factory.mktemp("acac") / "acac.yace", report=None).path
    return model, path, read_configs(ACAC / "test_MD_300K.xyz")[:8]


@pytest.fixture(scope="module")
def ta(tmp_path_factory, shared_data):
    TA = shared_data("ta")
    configs = []
    for name in ("Volume_BCC", "Displaced_BCC", "Elastic_BCC", "GSF_110", "Liquid"):
        group = read_configs(TA / f"{name}.xyz", stress_unit="bar", stress_convention="pressure")
        configs += group[:3]
    basis = ACEBasis("Ta", 4, max_degree=[14, 12, 10, 8], w_L=1, r_cut=5.0, radial="ace1")
    model = _fit(basis, configs, fit_e0(configs, ["Ta"]))
    path = model.export_yace(tmp_path_factory.mktemp("ta") / "ta.yace", report=None).path
    return model, path, [c.atoms for c in configs]


@pytest.mark.parametrize("evaluator", EVALUATORS)
def test_acac_fitted_model_round_trip(acac, evaluator):
    model, path, test = acac
    agreement = pyace_agreement(model, path, [c.atoms for c in test], evaluator)
    assert agreement["n_structures"] == 8
    _check(agreement)


@pytest.mark.parametrize("evaluator", EVALUATORS)
def test_periodic_ta_fitted_model_round_trip_with_stress(ta, evaluator):
    model, path, structures = ta
    assert all(s.pbc.all() for s in structures)
    agreement = pyace_agreement(model, path, structures, evaluator)
    assert agreement["stress"] is not None and agreement["abs_stress"] < 1e-10
    _check(agreement, periodic=True)


def test_fitted_model_is_a_fit(acac):
    """The round trip is of a real fit, not of noise: it predicts unseen structures."""
    model, _, test = acac
    f_err = np.concatenate([(model.predict(c.atoms)["forces"] - c.forces).ravel() for c in test])
    f_ref = np.concatenate([c.forces.ravel() for c in test])
    assert np.sqrt(np.mean(f_err**2)) < 0.3 * np.sqrt(np.mean(f_ref**2))


@pytest.mark.parametrize("evaluator", EVALUATORS)
@pytest.mark.parametrize(
    "radial",
    [("ace1", {"q": 3, "envelope_p": 3}), ("sbessel", {}), ("bessel", {}), ("polynomial", {})],
    ids=["ace1", "sbessel", "bessel", "polynomial"],
)
def test_multispecies_per_pair_cutoffs_order4_and_sparse_coefficients(tmp_path, evaluator, radial):
    """Random coefficients (with exact zeros, all of H's among them), order 4, three species
    with different pair cutoffs: the ML-PACE evaluation still agrees."""
    basis = ACEBasis(
        ["H", "C", "O"],
        4,
        max_n=[4, 3, 2, 2],
        max_l=[0, 3, 2, 1],
        r_cut={("H", "H"): 3.2, ("C", "H"): 4.0, ("O", "H"): 3.6, "default": 4.6},
        radial=radial[0],
        radial_options=radial[1],
    )
    rng = np.random.default_rng(5)
    c = rng.normal(size=len(basis))
    K = basis.n_functions_per_species
    c[:K] = 0.0
    c[K + rng.permutation(2 * K)[:K]] = 0.0
    model = LinearACEModel(basis, c, {"H": -13.6, "C": -1029.5, "O": -2041.25})
    out = model.export_yace(tmp_path / "m.yace", report=None)
    assert out.n_functions["H"] == 0
    structures = read(ACAC / "test_MD_300K.xyz", ":4")
    _check(pyace_agreement(model, out.path, structures, evaluator))


@pytest.mark.parametrize(
    "options",
    [
        {"coupling": "chain", "lmax_hidden": 1},
        {"channels": "uvu"},
        {"coupling": "chain", "lmax_hidden": 2, "channels": "uvu"},
    ],
    ids=["chain-L1", "uvu", "linearised-NequIP"],
)
def test_sparsified_single_layer_models_export_exactly(tmp_path, options):
    """A sparsification is another coupling matrix over the same products, so c̃ = Cᵀc and the
    .yace file are exact for it too."""
    basis = ACEBasis(
        ["H", "C", "O"], 3, max_degree=[8, 8, 6], w_L=1, r_cut=4.5, radial="ace1", **options
    )
    c = np.random.default_rng(11).normal(size=len(basis)) * 0.01
    model = LinearACEModel(basis, c, {"H": -13.6, "C": -1029.5, "O": -2041.25})
    path = model.export_yace(tmp_path / "m.yace", report=None).path
    structures = [molecule("CH3COCH3"), molecule("CH3CH2OH")]
    for k, a in enumerate(structures):
        a.rattle(0.05, seed=k)
    r = pyace_agreement(model, path, structures)
    assert r["energy"] < 1e-8 and r["forces"] < 1e-8


def test_model_fitted_by_the_pipeline_with_core_exports(tmp_path):
    """A model of ``ace_ref.fit`` with every default (the Bessel radial basis, written as
    ChebPow; data-driven pair cutoffs, ZBL core, committee, active set) but a smaller degree:
    the ACE part goes to ``.yace`` (pyace agrees to 1e-8 with the core added), the core to a
    LAMMPS table, overlaid by the printed lines."""
    import ace_ref
    from ace_ref.fit.data import pair_cutoffs_from_data

    train = read_configs(ACAC / "train_300K.xyz")[:30]
    elements = ["H", "C", "O"]
    cutoffs = pair_cutoffs_from_data(train, elements, 4.5)
    basis = ACEBasis(elements, 3, max_degree=[6, 6, 5], r_cut=cutoffs)
    assert basis.radial_kind == "bessel"
    model = ace_ref.fit(train, basis, e0=ACAC / "isolated_atoms.xyz").model
    assert model.core is not None
    out = model.export_yace(tmp_path / "m.yace", report=None)
    assert out.core_table == tmp_path / "m.core.table" and out.core_table.exists()
    assert out.pair_style == "pair_style hybrid/overlay pace recursive table spline 20000"
    assert out.pair_coeff.splitlines()[0] == f"pair_coeff * * pace {out.path} H C O"
    # test structures, and one squeezed so that an O–H pair sits inside the core's range
    structures = [c.atoms for c in read_configs(ACAC / "test_MD_300K.xyz")[:4]]
    squeezed = structures[0].copy()
    o, h = 3, 11  # an O and its enol H in these files
    assert squeezed.get_chemical_symbols()[o] == "O" and squeezed.get_chemical_symbols()[h] == "H"
    bond = squeezed.positions[h] - squeezed.positions[o]
    r_core = 0.5 * (model.core.inner[0, 2] + model.core.outer[0, 2])
    squeezed.positions[h] = squeezed.positions[o] + bond / np.linalg.norm(bond) * r_core
    core_energy = model.core.energy_forces(model.basis.pairs(squeezed), len(squeezed))[0].sum()
    assert core_energy > 0.1  # the core is active there
    _check(pyace_agreement(model, out.path, [*structures, squeezed]))


@pytest.mark.parametrize("evaluator", EVALUATORS)
def test_per_element_degree_budgets_export_exactly(tmp_path, evaluator):
    """A budgeted basis is the union list with the left-out coefficients zero: c̃ = Cᵀc over
    the union's products, and ML-PACE gives each element only the functions it keeps."""
    basis = ACEBasis(
        ["H", "C", "O"], 3, max_degree=[7, 7, 5], w_L=1, r_cut=4.5,
        element_degree_scale={"H": 0.8, "C": 1.2},
    )  # fmt: skip
    widths = {len(basis.species_columns(s)) for s in range(3)}
    assert len(widths) == 3  # three different function lists
    train = read_configs(ACAC / "train_300K.xyz")[:20]
    model = _fit(basis, train, read_e0(ACAC / "isolated_atoms.xyz"))
    path = model.export_yace(tmp_path / "budget.yace", report=None).path
    structures = [c.atoms for c in read_configs(ACAC / "test_MD_300K.xyz")[:6]]
    _check(pyace_agreement(model, path, structures, evaluator=evaluator))


@pytest.mark.parametrize("evaluator", EVALUATORS)
def test_greedily_selected_basis_exports_exactly(tmp_path, evaluator):
    """A basis of selected functions (``with_columns`` after greedy selection) is the union
    list with the coefficients of the functions left out zero, as for degree budgets."""
    from ace_ref.fit.selection import greedy_columns

    pool = ACEBasis(
        ["H", "C", "O"], 3, max_degree=[7, 7, 5], w_L=1, r_cut=4.5,
        element_degree_scale={"H": 0.8, "C": 1.2},
    )  # fmt: skip
    train = read_configs(ACAC / "train_300K.xyz")[:20]
    e0 = read_e0(ACAC / "isolated_atoms.xyz")
    system = assemble(pool, train, e0, Weights.parse("energy=30,forces=1,virial=1"), False)
    gamma = smoothness_prior(pool, 2.0)
    picked = greedy_columns(system, len(pool) // 3, 1e-8, gamma)
    basis = pool.with_columns(picked.order)
    model = _fit(basis, train, e0)
    path = model.export_yace(tmp_path / "selected.yace", report=None).path
    structures = [c.atoms for c in read_configs(ACAC / "test_MD_300K.xyz")[:6]]
    _check(pyace_agreement(model, path, structures, evaluator=evaluator))
