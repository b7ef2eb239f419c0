"""Per-element degree budgets (``ACEBasis(element_degree_scale=...)``) are exact column subsets.

A budgeted basis must be *the same functions* as the union basis (every element at the largest
scale), restricted per central element to the degrees within its budget: its design rows,
features, prior columns, assembled summary and fitted model are those of the union basis on
those columns, to the last bit where no arithmetic differs.
"""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest
from ase import Atoms
from hypothesis import given, settings
from hypothesis import strategies as st

import ace_ref
from ace_ref import ACEBasis
from ace_ref.basis import pair_and_many_body
from ace_ref.basis.two_layer import TwoLayerBasis
from ace_ref.fit.assembly import Weights, assemble
from ace_ref.fit.solvers import smoothness_prior
from ace_ref.models.load import load as load_model
from ace_ref.verify import check_forces, check_invariance, span_inclusion
from ace_ref.verify.span import coefficient_inclusion
from tests.structures import emt_configs, random_cluster, write_labelled_xyz

ELEMENTS = ["Al", "Cu"]
DEGREE = [Fraction(6), Fraction(6), Fraction(5)]


def _pair(scales: dict, coupling_cache):
    """The budgeted basis and its union basis (every element at the largest scale)."""
    top = max(Fraction(scales.get(el, 1)) for el in ELEMENTS)
    budgeted = ACEBasis(
        ELEMENTS,
        3,
        max_degree=DEGREE,
        r_cut=4.0,
        element_degree_scale=scales,
        cache_dir=coupling_cache,
    )
    union = ACEBasis(
        ELEMENTS, 3, max_degree=[top * d for d in DEGREE], r_cut=4.0, cache_dir=coupling_cache
    )
    return budgeted, union


def _degree(label, w_L) -> Fraction:
    return sum((Fraction(n) + w_L * l for _, n, l in label["nl"]), Fraction(0))


@pytest.fixture(scope="module")
def budgeted(coupling_cache):
    return _pair({"Al": Fraction(4, 5), "Cu": Fraction(11, 10)}, coupling_cache)


def test_each_element_keeps_exactly_the_functions_within_its_budget(budgeted):
    basis, union = budgeted
    assert basis.n_functions_per_species == union.n_functions_per_species
    labels = basis.tables(0).labels
    for s, el in enumerate(basis.elements):
        bound = [basis.element_degree_scale[el] * d for d in DEGREE]
        kept = set(basis.species_functions(s).tolist())
        for k, lab in enumerate(labels):
            assert (k in kept) == (_degree(lab, basis.w_L) <= bound[lab["order"] - 1])
    widths = [len(basis.species_columns(s)) for s in range(2)]
    assert widths[0] < widths[1] == union.n_functions_per_species
    assert len(basis) == sum(widths)
    sizes = ACEBasis.size(
        ELEMENTS, 3, max_degree=DEGREE, element_degree_scale={"Al": 0.8, "Cu": 1.1}
    )
    assert sizes == len(basis)
    assert f"central Al: {widths[0]} functions" in basis.describe()


def test_rows_features_and_prior_are_the_union_columns(budgeted):
    basis, union = budgeted
    cols = basis.packed_columns()
    rng = np.random.default_rng(3)
    bulk = random_cluster(
        rng, "Cu3Al2", box=4.2, min_distance=2.0, cell=np.diag([4.2, 4.3, 4.4]), pbc=True
    )
    for atoms in (random_cluster(rng, "Cu4Al3", box=3.5, min_distance=1.9), bulk):
        rows, full = basis.design_rows(atoms), union.design_rows(atoms)
        np.testing.assert_array_equal(rows.energy, full.energy[cols])
        np.testing.assert_array_equal(rows.forces, full.forces[..., cols])
        np.testing.assert_array_equal(rows.virial, full.virial[..., cols])
        np.testing.assert_array_equal(basis.features(atoms), union.features(atoms)[:, cols])
        buffer = np.full((3 * len(atoms), len(basis)), np.nan)  # the assembly's path
        out = basis.design_rows(atoms, force_rows=buffer)
        assert out.forces is buffer
        np.testing.assert_array_equal(buffer, full.forces[..., cols].reshape(3 * len(atoms), -1))
    np.testing.assert_array_equal(basis.column_degrees(), union.column_degrees()[cols])
    np.testing.assert_array_equal(basis.column_orders(), union.column_orders()[cols])
    np.testing.assert_array_equal(
        smoothness_prior(basis, 2, (30, 3, 1)), smoothness_prior(union, 2, (30, 3, 1))[cols]
    )


@settings(max_examples=12, deadline=None)
@given(
    st.fractions(Fraction(1, 2), Fraction(6, 5)).map(lambda f: f.limit_denominator(20)),
    st.fractions(Fraction(1, 2), Fraction(6, 5)).map(lambda f: f.limit_denominator(20)),
)
def test_any_budgets_are_a_column_subset_with_the_right_sizes(a, b):
    scales = {"Al": a, "Cu": b}
    try:
        basis, union = _pair(scales, None)
    except ValueError as err:  # a budget so small that an element keeps nothing
        assert "leaves no function" in str(err)
        return
    assert len(basis) == ACEBasis.size(ELEMENTS, 3, max_degree=DEGREE, element_degree_scale=scales)
    for s, el in enumerate(ELEMENTS):  # each element: the functions of its own scaled basis
        own = ACEBasis.size(ELEMENTS, 3, max_degree=[scales[el] * d for d in DEGREE])
        assert len(basis.species_functions(s)) == own // len(ELEMENTS)
    atoms = random_cluster(np.random.default_rng(1), "Cu3Al3", box=3.4, min_distance=1.9)
    np.testing.assert_array_equal(
        basis.design_rows(atoms).forces,
        union.design_rows(atoms).forces[..., basis.packed_columns()],
    )


def test_all_scales_one_is_the_plain_basis(coupling_cache):
    plain = ACEBasis(ELEMENTS, 3, max_degree=DEGREE, r_cut=4.0, cache_dir=coupling_cache)
    ones = ACEBasis(
        ELEMENTS, 3, max_degree=DEGREE, r_cut=4.0, cache_dir=coupling_cache,
        element_degree_scale={"Al": 1, "Cu": 1.0},
    )  # fmt: skip
    assert ones.element_degree_scale is None and len(ones) == len(plain)
    assert ones.fingerprint() == plain.fingerprint()  # existing model files keep loading


@pytest.mark.parametrize(
    ("scales", "message"),
    [
        ({"Zn": 0.8}, "names 'Zn', not one of the basis elements"),
        ({"Al": 0}, r"element_degree_scale\['Al'\] must be a positive number"),
        ({"Al": float("nan")}, "must be a positive number"),
        ({"Al": "abc"}, "must be a positive number"),
        ({"Al": 0.05}, r"leaves no function for \['Al'\]"),
        ([("Al", 0.8)], "must be a dict"),
    ],
)
def test_bad_budgets_are_refused_by_name(scales, message, coupling_cache):
    with pytest.raises(ValueError, match=message):
        ACEBasis(ELEMENTS, 3, max_degree=DEGREE, element_degree_scale=scales,
                 cache_dir=coupling_cache)  # fmt: skip


def test_budgets_need_a_total_degree(coupling_cache):
    with pytest.raises(ValueError, match="give max_degree"):
        ACEBasis(ELEMENTS, 2, max_n=4, max_l=2, element_degree_scale={"Al": 0.8},
                 cache_dir=coupling_cache)  # fmt: skip


@pytest.fixture(scope="module")
def fitted(budgeted):
    basis, union = budgeted
    configs = emt_configs(np.random.default_rng(4), 40, "CuCuCuAlAl", box=3.5, min_distance=2.0)
    result = ace_ref.fit(
        configs, basis, e0={"Al": 0.0, "Cu": 0.0}, committee_size=6, active_set_size=30
    )
    return basis, union, configs, result


def test_assembled_summary_is_the_union_summary_on_those_columns(fitted):
    """``AᵀA`` of the budgeted basis equals the union's restricted to the kept columns."""
    basis, union, configs, _ = fitted
    weights = Weights.parse(ace_ref.defaults.WEIGHTS)
    e0 = {"Al": 0.0, "Cu": 0.0}
    small = assemble(basis, configs[:12], e0, weights, False)
    big = assemble(union, configs[:12], e0, weights, False)
    cols = basis.packed_columns()
    gram_small = small.R.T @ small.R
    gram_big = (big.R.T @ big.R)[np.ix_(cols, cols)]
    scale = np.abs(gram_big).max()
    assert np.abs(gram_small - gram_big).max() <= 1e-12 * scale
    np.testing.assert_allclose(
        small.R.T @ small.z, (big.R.T @ big.z)[cols], rtol=0, atol=1e-12 * scale
    )


def test_fitted_model_predicts_exactly_and_symmetrically(fitted):
    basis, _, configs, result = fitted
    model = result.model
    atoms = configs[-1].atoms
    rows = basis.design_rows(atoms)
    out = model.predict(atoms)
    c = model.coefficients
    assert len(c) == len(basis)
    assert out["energy"] == pytest.approx(rows.energy @ c, rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(out["forces"], rows.forces @ c, atol=1e-11)
    calc = model.calculator()
    assert all(r.passed for r in check_invariance(calc, atoms))  # rotations and reflections
    assert all(r.passed for r in check_forces(calc, atoms))
    bulk = Atoms("Cu2Al", cell=np.diag([3.0, 3.1, 3.2]), pbc=True,
                 scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.1], [0.3, 0.0, 0.5]])  # fmt: skip
    checks = check_forces(calc, bulk)
    assert any("stress" in (r.check + r.name) for r in checks) and all(r.passed for r in checks)


def test_uncertainty_uses_each_elements_own_columns(fitted):
    basis, _, configs, result = fitted
    unc = result.model.uncertainty
    assert unc.active_set is not None and unc.committee is not None
    for el, s in (("Al", 0), ("Cu", 1)):
        assert unc.active_set.columns[el].max() < len(basis.species_columns(s))
    # maxvol: every training environment's extrapolation grade is at most 1 (round-off)
    atoms = configs[0].atoms
    grades = unc.active_set.grades(basis, basis.features(atoms), atoms.get_chemical_symbols())
    assert np.all(grades <= 1 + 1e-6)


def test_save_and_load_keep_the_budgets(fitted, tmp_path):
    basis, _, configs, result = fitted
    path = result.model.save(tmp_path / "budgeted.npz")
    loaded = load_model(path)
    assert loaded.basis.element_degree_scale == basis.element_degree_scale
    assert loaded.basis.fingerprint() == basis.fingerprint()
    atoms = configs[3].atoms
    a, b = result.model.predict(atoms), loaded.predict(atoms)
    assert a["energy"] == b["energy"]
    np.testing.assert_array_equal(a["forces"], b["forces"])


def test_sum_basis_with_a_budgeted_part(budgeted, coupling_cache):
    many, _ = budgeted
    basis = pair_and_many_body(
        ELEMENTS, pair_r_cut=5.0, pair_max_n=6, many_body=many, cache_dir=coupling_cache
    )
    pair = basis.parts[0]
    w = len(pair) // 2  # the pair part: the same functions for both elements
    assert len(basis) == len(many) + len(pair)
    atoms = random_cluster(np.random.default_rng(5), "Cu3Al3", box=3.6, min_distance=1.9)
    B = basis.features(atoms)
    for k, part in enumerate(basis.parts):
        np.testing.assert_array_equal(B[:, basis.columns(k)], part.features(atoms))
    for s in range(2):  # species s's block: its pair functions, then its many-body functions
        block = basis.species_columns(s)
        parts = [basis.columns(0)[w * s : w * (s + 1)], basis.columns(1)[many.species_columns(s)]]
        np.testing.assert_array_equal(np.concatenate(parts), block)


def test_checks_that_compare_function_lists_refuse_budgets(budgeted):
    basis, union = budgeted
    with pytest.raises(ValueError, match="span_inclusion needs the same function list"):
        span_inclusion(basis, union)
    with pytest.raises(ValueError, match="coefficient_inclusion needs the same function list"):
        coefficient_inclusion(basis, union)
    with pytest.raises(ValueError, match="first layer needs the same function list"):
        TwoLayerBasis(basis, lmax_hidden=1, max_n=2, order=2)


def test_cli_fit_with_element_degrees(tmp_path):
    configs = emt_configs(np.random.default_rng(6), 12, "CuCuAl", box=3.2, min_distance=2.0)
    write_labelled_xyz(tmp_path / "train.xyz", configs)
    common = [sys.executable, "-m", "ace_ref.cli", "fit", str(tmp_path / "train.xyz"),
              "--e0", "Al=0,Cu=0", "--degree", "5,5,3", "--rcut", "4.0",
              "--core", "none"]  # fmt: skip
    out = subprocess.run(
        [*common, "--element-degrees", "Al=4/5", "-o", str(tmp_path / "m.npz")],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "per-element degree budgets (of the list above): Al × 4/5, Cu × 1" in out.stdout
    model = load_model(tmp_path / "m.npz")
    assert model.basis.element_degree_scale == {"Al": Fraction(4, 5), "Cu": Fraction(1)}
    bad = subprocess.run(
        [*common, "--element-degrees", "Al0.8", "-o", str(tmp_path / "bad.npz")],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert bad.returncode == 2
    assert "--element-degrees takes ELEMENT=SCALE pairs" in bad.stderr
    assert "Traceback" not in bad.stderr and not (tmp_path / "bad.npz").exists()
