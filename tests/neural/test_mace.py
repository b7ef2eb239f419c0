"""MACE layer 1 is an ACE model: span of the node features and the linear-readout energy.

Random-weight float64 mace-torch models (``conftest.make_mace``); ace_ref is given the
model's own layer-1 radials (``ace_ref.neural.mace_radials``), species-embedded, ``uvu``.
"""

from __future__ import annotations

import numpy as np
import pytest

from ace_ref import ACEBasis
from ace_ref.neural import mace as am
from tests.neural.conftest import make_mace

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def twin(mace_one_layer, coupling_cache):
    return am.mace_basis(mace_one_layer, cache_dir=coupling_cache)


def test_the_twin_has_the_models_shape(mace_one_layer, twin):
    assert twin.elements == ["H", "C", "O"]
    assert twin.order == 3 and twin.channels == "uvu" and twin.n_neighbour_slots == 1
    assert twin.n_max == 4 and twin.l_max == 2
    assert twin.counts_by_order() == {1: 4, 2: 12, 3: 20}  # per channel: 1, 3, 5 invariants


def test_radial_derivatives_are_exact(mace_one_layer):
    radials = am.mace_radials(mace_one_layer)
    r = np.array([0.7, 1.3, 2.2, 3.1, 3.9])
    R, dR = radials.evaluate(r, "C", "O")
    h = 1e-6
    Rp, _ = radials.evaluate(r + h, "C", "O")
    Rm, _ = radials.evaluate(r - h, "C", "O")
    np.testing.assert_allclose(dR, (Rp - Rm) / (2 * h), rtol=1e-6, atol=1e-8 * np.abs(R).max())
    # pairs of mixed species in one call give the same values
    Rb, _ = radials.evaluate_pairs(r, np.array(["C"] * 5), np.array(["O"] * 5))
    np.testing.assert_allclose(Rb, R, rtol=1e-13, atol=1e-15)
    assert np.all(radials.evaluate(np.array([4.0, 4.5]), "H", "H")[0] == 0.0)


def test_layer1_node_features_lie_in_the_span(
    mace_one_layer, twin, train_structures, test_structures
):
    res = am.span_residual(
        lambda a: am.mace_node_features(mace_one_layer, a), twin, train_structures,
        test_structures,
    )  # fmt: skip
    for el, (_, _, n_atoms, n_cols, _) in res["per_species"].items():
        assert n_atoms > n_cols, f"{el}: too few training atoms to test a span"
    assert res["test_relative"] <= 1e-10, res


@pytest.mark.parametrize("nu", [1, 2, 3])
def test_each_correlation_order_lies_in_its_own_order(
    nu, mace_one_layer, twin, train_structures, test_structures
):
    """The ν-th contraction alone is in the span of the order-ν ACE functions only."""
    cols = [k for k, lab in enumerate(twin.tables(0).labels) if lab["order"] == nu]
    res = am.span_residual(
        lambda a: am.mace_node_features(mace_one_layer, a, nu=nu), twin, train_structures,
        test_structures, columns=np.array(cols), constant=False,
    )  # fmt: skip
    assert res["test_relative"] <= 1e-10, res
    if nu > 1:  # and not in the span of the orders below it
        lower = [k for k, lab in enumerate(twin.tables(0).labels) if lab["order"] < nu]
        res = am.span_residual(
            lambda a: am.mace_node_features(mace_one_layer, a, nu=nu), twin,
            train_structures, test_structures, columns=np.array(lower),
        )  # fmt: skip
        assert res["test_relative"] > 1e-3


def test_with_acerefs_own_radials_the_span_fails(
    mace_one_layer, train_structures, test_structures, coupling_cache
):
    """The span statement needs MACE's radials: ace_ref's Bessel radials do not reach it."""
    bessel = ACEBasis(
        ["H", "C", "O"], 3, max_n=4, max_l=2, r_cut=4.0, channels="uvu", cache_dir=coupling_cache
    )
    res = am.span_residual(
        lambda a: am.mace_node_features(mace_one_layer, a), bessel, train_structures[:18],
        test_structures,
    )  # fmt: skip
    assert res["test_relative"] > 1e-4


def test_residual_first_block(train_structures, test_structures, coupling_cache):
    """A residual first block adds a species constant (its self-connection): still in the
    span once a constant column is allowed."""
    model = make_mace(correlation=2, residual_first=True, seed=3)
    basis = am.mace_basis(model, cache_dir=coupling_cache)
    res = am.span_residual(
        lambda a: am.mace_node_features(model, a), basis, train_structures, test_structures
    )
    assert res["test_relative"] <= 1e-10, res


def test_one_layer_mace_is_a_linear_ace_model(mace_one_layer, twin, train_structures,
                                              test_structures):  # fmt: skip
    res = am.fit_linear_twin(mace_one_layer, train_structures[:12], test_structures, basis=twin)
    assert res["energy_relative"] <= 1e-10, res
    assert res["force_relative"] <= 1e-10, res


def test_two_layers_are_refused_as_linear_and_float32_is_refused():
    two = make_mace(correlation=2, interactions=2, seed=5)
    with pytest.raises(ValueError, match="only a one-layer"):
        am.fit_linear_twin(two, [], [])
    with pytest.raises(ValueError, match="float64"):
        am.mace_radials(make_mace(seed=6).float())


def test_calculator_reports_its_cutoff(mace_one_layer, test_structures):
    calc = am.MACEModelCalculator(mace_one_layer)
    assert calc.cutoff == 4.0
    atoms = test_structures[0].copy()
    atoms.calc = calc
    F = atoms.get_forces()
    h = 1e-5
    p, m = atoms.copy(), atoms.copy()
    p.positions[2, 1] += h
    m.positions[2, 1] -= h
    p.calc = m.calc = calc
    fd = -(p.get_potential_energy() - m.get_potential_energy()) / (2 * h)
    assert F[2, 1] == pytest.approx(fd, rel=1e-6, abs=1e-9)


def test_verify_body_order_claims_on_mace(mace_one_layer, test_structures):
    """One layer (ν = 3) has body order 4 exactly under the float64 threshold; two layers
    do not (message passing and a nonlinear readout)."""
    from ace_ref import verify as V

    cluster = test_structures[1][:6]
    one = V.body_order(am.MACEModelCalculator(mace_one_layer), cluster, progress=False)
    assert one.apparent_body_order() == 4 and one.check(4).passed
    assert not one.check(3).passed
    two = make_mace(correlation=3, interactions=2, seed=1)
    spec = V.body_order(am.MACEModelCalculator(two), cluster, progress=False)
    assert spec.apparent_body_order() > 4 and not spec.check(4).passed
    rows = V.verify_report(
        am.MACEModelCalculator(mace_one_layer), cluster, expected_body_order=4, n_trials=1,
    )  # fmt: skip
    assert all(r.passed for r in rows), V.format_report(rows)
    smooth = [r for r in rows if r.check == "smoothness"]
    assert smooth and all(r.details["r_cut"] == 4.0 for r in smooth)
