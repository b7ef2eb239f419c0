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


def _bessel_like_twin(max_output_L=0, cache_dir="default"):
    """Control basis: the twin's exact shape (species-embedded, one neighbour slot, 4 channels,
    l ≤ 2, ν ≤ 3, ``uvu``: the same columns) on ace_ref's species-blind Bessel radials
    (``BesselRadial(4, 4 Å)``) instead of MACE's."""
    from ace_ref.one_particle.pair_radials import CallableRadials
    from ace_ref.one_particle.radial import BesselRadial

    bessel = BesselRadial(4, 4.0)
    radials = CallableRadials(
        ["H", "C", "O"], 4, 2, 4.0, lambda r, c, n: bessel(r), species_embedded=True
    )
    return ACEBasis(
        ["H", "C", "O"], 3, max_n=4, max_l=2, radial=radials, channels="uvu",
        max_output_L=max_output_L, cache_dir=cache_dir,
    )  # fmt: skip


def test_with_acerefs_own_radials_the_span_fails(
    mace_one_layer, twin, train_structures, test_structures, coupling_cache
):
    """The span statement needs MACE's radials: on ace_ref's Bessel radials, in the twin's
    exact shape (36 functions + a constant per species, overdetermined by ~2x), the fit fails
    on the training atoms themselves, not only on held-out ones."""
    control = _bessel_like_twin(cache_dir=coupling_cache)
    assert control.n_neighbour_slots == twin.n_neighbour_slots == 1
    assert control.n_functions_per_species == twin.n_functions_per_species == 36
    res = am.span_residual(
        lambda a: am.mace_node_features(mace_one_layer, a), control, train_structures,
        test_structures,
    )  # fmt: skip
    for el, (_, _, n_rows, n_cols, rank) in res["per_species"].items():
        assert n_cols == 37 and n_rows > 1.5 * n_cols and rank == n_cols, (el, res)
    assert res["train_relative"] > 0.1 and res["test_relative"] > 0.1, res


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


# --------------------------------------------------------------------- L = 1: vectors, parity
# Layer 1 of a two-layer model with hidden irreps 4x0e + 4x1o + 4x1e (conftest). e3nn's l = 1
# components are (x, y, z), ace_ref's (y, z, x) (m = −1, 0, 1): mace_node_features converts with
# ace_ref.one_particle.spherical.from_e3nn, a fixed permutation derived from the two harmonic
# tables, never fitted. span_residual(L=1) then fits ONE coefficient matrix per central species
# (n_functions × 4 channels) shared by the three m components.

_FEATURES: dict = {}


def _node(model, atoms, nu=None, irrep="1o", convention="ace_ref"):
    """mace_node_features, memoised (the structures are session fixtures)."""
    key = (id(model), id(atoms), nu, irrep, convention)
    if key not in _FEATURES:
        _FEATURES[key] = am.mace_node_features(model, atoms, nu, irrep, convention)
    return _FEATURES[key]


@pytest.fixture(scope="module")
def vector_twin(mace_vector_layer, coupling_cache):
    return am.mace_basis(mace_vector_layer, max_output_L=1, cache_dir=coupling_cache)


def _cols(basis, nu, parity=None, below=False):
    labels = basis.tables(1, **({} if parity is None else {"parity": parity})).labels
    return np.array([k for k, lab in enumerate(labels) if (lab["order"] < nu if below
                                                            else lab["order"] == nu)])  # fmt: skip


def test_layer1_vectors_transform_with_acerefs_wigner_matrices(mace_vector_layer, test_structures):
    """The m-map is right before anything is fitted: under a rotation Q, 1o and 1e in ace_ref's
    order transform with ace_ref's D¹(Q); under inversion 1o changes sign and 1e does not. In
    e3nn's own order the same check fails."""
    from scipy.spatial.transform import Rotation

    from ace_ref.coupling.rotations import wigner_d_real

    model, atoms = mace_vector_layer, test_structures[0]
    Q = Rotation.random(random_state=7).as_matrix()
    moved = atoms.copy()
    moved.positions = atoms.positions @ Q.T
    inverted = atoms.copy()
    inverted.positions = -atoms.positions
    D = wigner_d_real(1, Q)
    for irrep, sign in (("1o", -1.0), ("1e", 1.0)):
        h = am.mace_node_features(model, atoms, irrep=irrep)
        assert h.shape == (len(atoms), 4, 3) and np.abs(h).max() > 1e-4
        scale = np.abs(h).max()
        np.testing.assert_allclose(
            am.mace_node_features(model, moved, irrep=irrep), h @ D.T, rtol=0, atol=1e-12 * scale
        )
        np.testing.assert_allclose(
            am.mace_node_features(model, inverted, irrep=irrep), sign * h, rtol=0,
            atol=1e-12 * scale,
        )  # fmt: skip
        raw = am.mace_node_features(model, atoms, irrep=irrep, convention="e3nn")
        # a permutation, no sign (from_e3nn's matrix is a quadrature: exact to ~2e-16)
        np.testing.assert_allclose(raw[..., [1, 2, 0]], h, rtol=0, atol=1e-15 * scale)
        raw_moved = am.mace_node_features(model, moved, irrep=irrep, convention="e3nn")
        assert np.abs(raw_moved - raw @ D.T).max() > 1e-2 * scale
    with pytest.raises(ValueError, match="no 2e"):
        am.mace_node_features(model, atoms, irrep="2e")


def test_layer1_vectors_lie_in_the_span(
    mace_vector_layer, vector_twin, train_structures, test_structures, coupling_cache
):
    """MACE's 1o node features of layer 1 are linear in ace_ref's L = 1 features (default
    parity −1), with one coefficient matrix per species for all m; e3nn's m order, or
    ace_ref's Bessel radials, do not reach it."""
    model = mace_vector_layer
    res = am.span_residual(
        lambda a: _node(model, a), vector_twin, train_structures, test_structures, L=1
    )
    for el, (_, _, n_rows, n_cols, rank) in res["per_species"].items():
        assert n_rows > 3 * n_cols and rank == n_cols, f"{el}: {res['per_species'][el]}"
    assert res["test_relative"] <= 1e-10, res
    wrong_m = am.span_residual(
        lambda a: _node(model, a, convention="e3nn"), vector_twin, train_structures,
        test_structures, L=1,
    )  # fmt: skip
    assert wrong_m["test_relative"] > 0.1, wrong_m
    # control: the twin's shape exactly (species-embedded, 4 channels, l ≤ 2, uvu: the same
    # 32 columns, overdetermined) on ace_ref's Bessel radials instead of MACE's
    control = _bessel_like_twin(max_output_L=1, cache_dir=coupling_cache)
    assert control.tables(1).n_functions == vector_twin.tables(1).n_functions
    res = am.span_residual(lambda a: _node(model, a), control, train_structures, test_structures,
                           L=1)  # fmt: skip
    assert res["train_relative"] > 0.1 and res["test_relative"] > 0.1, res


@pytest.mark.parametrize("nu", [1, 2, 3])
def test_each_vector_order_lies_in_its_own_order(
    nu, mace_vector_layer, vector_twin, train_structures, test_structures
):
    model = mace_vector_layer
    res = am.span_residual(
        lambda a: _node(model, a, nu=nu), vector_twin, train_structures, test_structures,
        columns=_cols(vector_twin, nu), L=1,
    )  # fmt: skip
    assert res["test_relative"] <= 1e-10, res
    if nu > 1:
        res = am.span_residual(
            lambda a: _node(model, a, nu=nu), vector_twin, train_structures, test_structures,
            columns=_cols(vector_twin, nu, below=True), L=1,
        )  # fmt: skip
        assert res["test_relative"] > 1e-3, res


def test_layer1_pseudovectors_lie_in_the_parity_even_span(
    mace_vector_layer, vector_twin, train_structures, test_structures
):
    """MACE's 1e (pseudo-vector) features: in the span of ace_ref's L = 1, parity +1 functions
    (order 3 only, l = (1, 1, 2) per channel), not in that of the vectors; the ν = 1, 2
    contractions to 1e vanish (no parity-even L = 1 function of one channel below ν = 3)."""
    from ace_ref.coupling.rotations import wigner_d_real

    model = mace_vector_layer
    assert vector_twin.counts_by_order(1) == {1: 4, 2: 8, 3: 20}
    # ace_ref's parity +1 features: D¹(Q) under rotations, unchanged under inversion
    atoms, Q = test_structures[2], np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    X = vector_twin.features(atoms, 1, parity=1)
    for M, expected in ((Q, X @ wigner_d_real(1, Q).T), (-np.eye(3), X)):
        moved = atoms.copy()
        moved.positions = atoms.positions @ M.T
        got = vector_twin.features(moved, 1, parity=1)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12 * np.abs(X).max())
    pseudo = vector_twin.tables(1, parity=1)
    assert pseudo.n_functions == 4
    assert {tuple(l for _, _, l in lab["nl"]) for lab in pseudo.labels} == {(1, 1, 2)}
    res = am.span_residual(
        lambda a: _node(model, a, irrep="1e"), vector_twin, train_structures, test_structures,
        L=1, parity=1,
    )  # fmt: skip
    assert res["test_relative"] <= 1e-10, res
    wrong_parity = am.span_residual(
        lambda a: _node(model, a, irrep="1e"), vector_twin, train_structures, test_structures,
        L=1,
    )  # fmt: skip
    assert wrong_parity["test_relative"] > 0.1, wrong_parity
    scale = max(np.abs(_node(model, a, irrep="1e")).max() for a in test_structures)
    for nu in (1, 2):
        low = max(np.abs(_node(model, a, nu=nu, irrep="1e")).max() for a in test_structures)
        assert low <= 1e-12 * scale, (nu, low, scale)
