"""Streamed assembly and the solvers: data labelled by a random linear model are fitted back
(every solver, both summaries, any blocking); per-config-type and per-observable weights."""

from __future__ import annotations

import numpy as np
import pytest
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

from ace_ref import ACEBasis
from ace_ref.fit.assembly import Weights, assemble
from ace_ref.fit.data import read_configs
from ace_ref.fit.solvers import smoothness_prior, solve
from ace_ref.models.linear import LinearACEModel
from tests.structures import random_cluster


@pytest.fixture(scope="module")
def small_basis(coupling_cache):
    return ACEBasis(
        ["C", "H", "O"],
        order=2,
        max_n=[4, 3],
        max_l=[0, 2],
        r_cut=4.0,
        cache_dir=coupling_cache,
    )


def _synthetic(model, n, seed, path=None):
    """Random C2H2O2 clusters labelled by ``model``: every species pair and angle occurs."""
    rng = np.random.default_rng(seed)
    frames = []
    for k in range(n):
        atoms = random_cluster(rng, "C2H2O2", box=3.2, min_distance=0.9)
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


def test_energy_row_weight_is_per_atom_or_per_square_root_of_atoms(small_basis, tmp_path):
    """The energy row's weight is w_E / N by default and w_E / √N with energy_per=sqrt_atoms;
    the force rows do not change. The text form round-trips through the model metadata."""
    from ace_ref.fit.assembly import config_row_weights
    from ace_ref.fit.pipeline import _weights_text

    rng = np.random.default_rng(3)
    truth = LinearACEModel(small_basis, rng.normal(size=len(small_basis)) * 0.1)
    write(tmp_path / "d.xyz", _synthetic(truth, 2, 5), format="extxyz")
    (config, _) = read_configs(tmp_path / "d.xyz")
    n = len(config.atoms)
    per_atom = config_row_weights(config, Weights.parse("energy=30"))
    per_root = config_row_weights(config, Weights.parse("energy=30,energy_per=sqrt_atoms"))
    assert per_atom.energy == pytest.approx(30 / n, rel=1e-15)
    assert per_root.energy == pytest.approx(30 / np.sqrt(n), rel=1e-15)
    np.testing.assert_array_equal(per_atom.forces, per_root.forces)
    text = _weights_text(Weights.parse("energy=7,energy_per=sqrt_atoms,odd=2"))
    assert Weights.parse(text) == Weights.parse("energy=7,odd=2,energy_per=sqrt_atoms")
    with pytest.raises(ValueError, match="energy_per='cube'"):
        Weights.parse("energy_per=cube")
    with pytest.raises(ValueError, match="energy_per='molecule'"):
        Weights(energy_per="molecule")


def test_smoothness_grid_is_chosen_on_held_out_configurations(coupling_cache):
    """fit(smoothness=[…]) scores every exponent on held-out configurations, keeps the best and
    solves on all the data: the same model as fitting with that exponent directly."""
    import ace_ref
    from tests.structures import emt_configs

    configs = emt_configs(np.random.default_rng(8), 30, "CuCuCuAl", box=3.4, min_distance=2.0)
    basis = ACEBasis(["Al", "Cu"], order=2, max_degree=[7, 6], r_cut=4.0, cache_dir=coupling_cache)
    e0 = {"Al": 0.0, "Cu": 0.0}
    kw = {"committee_size": 0, "active_set_size": 0, "solver": "ridge", "lam": 1e-6}
    grid = ace_ref.fit(configs, basis, e0=e0, smoothness=[0.0, 2.0, 6.0], **kw)
    scores = grid.model.metadata["smoothness_validation_error"]
    assert set(scores) == {"0.0", "2.0", "6.0"} and len(set(scores.values())) == 3
    chosen = grid.model.metadata["smoothness"]
    assert scores[str(chosen)] == min(scores.values())
    direct = ace_ref.fit(configs, basis, e0=e0, smoothness=chosen, **kw)
    np.testing.assert_allclose(
        grid.model.coefficients, direct.model.coefficients, rtol=1e-6, atol=1e-9
    )
    with pytest.raises(ValueError, match="tsvd"):
        ace_ref.fit(configs, basis, e0=e0, smoothness=[1.0, 2.0], solver="tsvd")
    for bad in (float("nan"), -1.0, float("inf")):
        with pytest.raises(ValueError, match=r"smoothness exponent must be a number ≥ 0, got"):
            ace_ref.fit(configs, basis, e0=e0, smoothness=[1.0, bad])


def test_order_weights_scale_the_prior_per_correlation_order(coupling_cache):
    """Γ_kk = w_ν (1 + deg_k)^p with ν from column_orders; orders beyond the weights take the
    last one; column_orders counts exactly the functions of the lower-order basis."""
    basis = ACEBasis(["H", "C"], 3, max_degree=[6, 5, 4], cache_dir=coupling_cache)
    orders = basis.column_orders()
    lower = ACEBasis(["H", "C"], 2, max_degree=[6, 5], cache_dir=coupling_cache)
    assert len(orders) == len(basis) and np.count_nonzero(orders <= 2) == len(lower)
    assert set(orders.tolist()) == {1, 2, 3}
    plain = smoothness_prior(basis, 2.0)
    weighted = smoothness_prior(basis, 2.0, (30, 3, 1))
    np.testing.assert_array_equal(weighted, plain * np.array([30.0, 3.0, 1.0])[orders - 1])
    np.testing.assert_array_equal(
        smoothness_prior(basis, 2.0, (5, 2)), plain * np.where(orders == 1, 5.0, 2.0)
    )
    for bad in ((), (1, 0), (1, -2), (1, float("nan")), ("a", 1)):
        with pytest.raises(ValueError, match="order weights must be"):
            smoothness_prior(basis, 2.0, bad)
    from ace_ref.basis.sum_basis import pair_and_many_body

    both = pair_and_many_body(
        ["H", "C"], pair_r_cut=5.0, pair_max_n=4, many_body=basis, cache_dir=coupling_cache
    )
    per_species = len(both) // 2
    assert both.column_orders().dtype.kind == "i"
    # per species: the pair functions (ν = 1: 4 radial × 2 neighbour species), then the
    # many-body part's own orders
    np.testing.assert_array_equal(
        both.column_orders()[:per_species], np.r_[[1] * 8, orders[: len(orders) // 2]]
    )
    np.testing.assert_array_equal(
        smoothness_prior(both, 2.0, (30, 3, 1)),
        smoothness_prior(both, 2.0) * np.array([30.0, 3.0, 1.0])[both.column_orders() - 1],
    )


def test_order_weight_grid_is_chosen_on_held_out_configurations(coupling_cache):
    """fit(order_weights=[(…), (…)]) scores each setting on held-out configurations like the
    smoothness grid, keeps the best and equals a direct fit with it."""
    import ace_ref
    from tests.structures import emt_configs

    configs = emt_configs(np.random.default_rng(8), 30, "CuCuCuAl", box=3.4, min_distance=2.0)
    basis = ACEBasis(["Al", "Cu"], order=2, max_degree=[7, 6], r_cut=4.0, cache_dir=coupling_cache)
    e0 = {"Al": 0.0, "Cu": 0.0}
    kw = {"committee_size": 0, "active_set_size": 0, "solver": "ridge", "lam": 1e-4}
    grid = ace_ref.fit(configs, basis, e0=e0, order_weights=[(1, 1), (1000, 1), (1, 1000)], **kw)
    scores = grid.model.metadata["smoothness_validation_error"]
    assert set(scores) == {"p=2, w=1,1", "p=2, w=1000,1", "p=2, w=1,1000"}
    assert len(set(scores.values())) == 3
    chosen = grid.model.metadata["order_weights"]
    label = "p=2, w=" + ",".join(f"{v:g}" for v in chosen)
    assert scores[label] == min(scores.values())
    direct = ace_ref.fit(configs, basis, e0=e0, order_weights=chosen, **kw)
    np.testing.assert_allclose(
        grid.model.coefficients, direct.model.coefficients, rtol=1e-6, atol=1e-9
    )
    none = ace_ref.fit(configs, basis, e0=e0, order_weights=None, **kw)
    ones = ace_ref.fit(configs, basis, e0=e0, order_weights=(1,), **kw)
    np.testing.assert_array_equal(none.model.coefficients, ones.model.coefficients)
    assert none.model.metadata["order_weights"] is None
