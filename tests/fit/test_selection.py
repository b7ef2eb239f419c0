"""Greedy column selection (ace_ref.fit.selection): the exact greedy of the ridge objective."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ace_ref.fit.assembly import LinearSystem
from ace_ref.fit.selection import greedy_columns, subset_system
from ace_ref.fit.solvers import solve


def _problem(seed: int, m: int = 70, K: int = 22):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(m, K)) * rng.uniform(0.2, 3.0, size=K)
    A[:, 3] = A[:, 1] + 1e-3 * rng.normal(size=m)  # a nearly dependent pair
    y = rng.normal(size=m)
    gamma = rng.uniform(1.0, 3.0, size=K)
    Q, R = np.linalg.qr(A)
    qr = LinearSystem("qr", float(y @ y), m, 1, R=R, z=Q.T @ y)
    normal = LinearSystem("normal", float(y @ y), m, 1, G=A.T @ A, b=A.T @ y)
    return A, y, gamma, qr, normal


def _objective(A, y, gamma, lam, S) -> float:
    """``min_d ‖A Γ⁻¹_S d − y‖² + λ ‖d‖²`` by a dense least-squares solve."""
    S = list(S)
    M = np.vstack([A[:, S] / gamma[S], np.sqrt(lam) * np.eye(len(S))])
    t = np.concatenate([y, np.zeros(len(S))])
    d = np.linalg.lstsq(M, t, rcond=None)[0]
    return float(np.sum((M @ d - t) ** 2))


def _brute_force_greedy(A, y, gamma, lam, n, start=()):
    """``n`` greedy picks after the columns ``start``, by a dense solve for every candidate."""
    chosen, values = list(start), []
    for _ in range(n):
        value, j = min(
            (_objective(A, y, gamma, lam, chosen + [j]), j)
            for j in range(A.shape[1])
            if j not in chosen
        )
        chosen.append(j)
        values.append(value)
    return chosen, values


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    lam=st.floats(1e-4, 10.0),
    block=st.sampled_from([1, 2, 5, 64]),
)
def test_greedy_is_the_exact_best_addition_at_every_step(seed, lam, block):
    """Each pick is the column whose addition lowers the ridge objective most (checked against
    a dense solve for every candidate), for QR and Gram summaries and any update block."""
    A, y, gamma, qr, normal = _problem(seed)
    n = 15
    order, values = _brute_force_greedy(A, y, gamma, lam, n)
    for system in (qr, normal):
        selection = greedy_columns(system, n, lam, gamma, block=block)
        assert selection.order.tolist() == order
        np.testing.assert_allclose(selection.objective, values, rtol=1e-9)
        assert selection.initial == pytest.approx(float(y @ y))
        assert np.all(np.diff(selection.objective) <= 1e-12)


def test_forced_columns_come_first_and_the_greedy_continues_from_them():
    A, y, gamma, qr, normal = _problem(13)
    lam, forced = 0.05, [7, 2]
    chosen, values = _brute_force_greedy(A, y, gamma, lam, 8, start=forced)
    for system in (qr, normal):
        picked = greedy_columns(system, 10, lam, gamma, forced=forced)
        assert picked.order.tolist() == chosen
        np.testing.assert_allclose(picked.objective[2:], values, rtol=1e-9)
        assert picked.objective[1] == pytest.approx(_objective(A, y, gamma, lam, forced))
    with pytest.raises(ValueError, match="forced columns must be distinct"):
        greedy_columns(qr, 5, lam, forced=[1, 1])
    with pytest.raises(ValueError, match="3 forced columns are more than n_select = 2"):
        greedy_columns(qr, 2, lam, forced=[0, 1, 2])


def test_delayed_and_packed_updates_pick_the_same_columns_on_a_larger_problem():
    rng = np.random.default_rng(3)
    m, K = 400, 160
    A = rng.normal(size=(m, K)) @ (np.eye(K) + 0.3 * rng.normal(size=(K, K)) / np.sqrt(K))
    y = A[:, :20] @ rng.normal(size=20) + 0.1 * rng.normal(size=m)
    Q, R = np.linalg.qr(A)
    system = LinearSystem("qr", float(y @ y), m, 1, R=R, z=Q.T @ y)
    one = greedy_columns(system, 120, 1e-3, block=1)
    # blocks of several sizes; each packs the chosen columns out of P at other steps
    for block in [3, 16, 48]:
        blocked = greedy_columns(system, 120, 1e-3, block=block)
        assert one.order.tolist() == blocked.order.tolist(), block
        np.testing.assert_allclose(one.objective, blocked.objective, rtol=1e-10)


def test_greedy_finds_the_columns_that_made_the_data():
    """Data made from 8 of 60 columns (plus small noise): those 8 are the first 8 picks."""
    rng = np.random.default_rng(11)
    m, K = 300, 60
    A = rng.normal(size=(m, K))
    true = rng.choice(K, size=8, replace=False)
    y = A[:, true] @ rng.uniform(1.0, 2.0, size=8) + 1e-3 * rng.normal(size=m)
    Q, R = np.linalg.qr(A)
    system = LinearSystem("qr", float(y @ y), m, 1, R=R, z=Q.T @ y)
    selection = greedy_columns(system, 10, 1e-6)
    assert sorted(selection.order[:8].tolist()) == sorted(true.tolist())
    assert selection.objective[7] < 1e-3 * selection.initial


@pytest.mark.parametrize("method", ["qr", "normal"])
def test_subset_system_is_the_problem_of_those_columns(method):
    """The subset summary gives the same ridge and BLR solutions as the dense sub-matrix."""
    A, y, gamma, qr, normal = _problem(5)
    system = qr if method == "qr" else normal
    S = np.array([0, 4, 5, 9, 17, 21])
    sub = subset_system(system, S)
    assert sub.n_columns == len(S)
    c = np.random.default_rng(0).normal(size=len(S))
    assert sub.squared_error(c) == pytest.approx(float(np.sum((A[:, S] @ c - y) ** 2)), rel=1e-10)
    lam = 0.05
    ridge = solve(sub, "ridge", gamma[S], lam=lam).coefficients
    direct = np.linalg.solve(A[:, S].T @ A[:, S] + lam * np.diag(gamma[S] ** 2), A[:, S].T @ y)
    np.testing.assert_allclose(ridge, direct, rtol=1e-8, atol=1e-10)
    dense_sub = LinearSystem(
        "normal", float(y @ y), len(y), 1, G=A[:, S].T @ A[:, S], b=A[:, S].T @ y
    )
    blr = solve(sub, "blr", gamma[S]).coefficients
    np.testing.assert_allclose(blr, solve(dense_sub, "blr", gamma[S]).coefficients, rtol=1e-7)


def test_selection_objective_matches_the_refit_of_its_columns():
    A, y, gamma, qr, _ = _problem(8)
    lam = 0.2
    selection = greedy_columns(qr, 12, lam, gamma)
    for k in (1, 5, 12):
        S = selection.first(k)
        assert np.all(np.diff(S) > 0)
        assert selection.objective[k - 1] == pytest.approx(_objective(A, y, gamma, lam, S))


def test_bad_requests_are_refused_with_a_message():
    _, _, gamma, qr, _ = _problem(1)
    with pytest.raises(ValueError, match="n_select must be between 1 and the 22 columns"):
        greedy_columns(qr, 23, 0.1)
    with pytest.raises(ValueError, match="ridge λ must be a positive number"):
        greedy_columns(qr, 3, 0.0)
    with pytest.raises(ValueError, match="ridge λ must be a positive number"):
        greedy_columns(qr, 3, float("nan"))
    with pytest.raises(ValueError, match="choose between 1 and 4 columns"):
        greedy_columns(qr, 4, 0.1).first(5)
    with pytest.raises(ValueError, match="distinct column indices"):
        subset_system(qr, np.array([1, 1]))
    with pytest.raises(ValueError, match=r"must lie in \[0, 22\)"):
        subset_system(qr, np.array([0, 22]))


# --------------------------------------------------------------------------- in the fit


@pytest.fixture(scope="module")
def selected_fit(coupling_cache):
    """A budgeted Al/Cu basis (the pool) and a fit that keeps 60 of its functions."""
    import ace_ref
    from ace_ref import ACEBasis
    from tests.structures import emt_configs

    pool = ACEBasis(
        ["Al", "Cu"],
        3,
        max_degree=[6, 6, 5],
        r_cut=4.0,
        element_degree_scale={"Al": 0.9},
        cache_dir=coupling_cache,
    )
    configs = emt_configs(np.random.default_rng(4), 40, "CuCuCuAlAl", box=3.5, min_distance=2.0)
    e0 = {"Al": 0.0, "Cu": 0.0}
    result = ace_ref.fit(configs, pool, e0=e0, select=60, committee_size=4, active_set_size=20)
    return pool, configs, e0, result


def test_fit_keeps_the_greedy_columns_and_fits_them_exactly(selected_fit):
    """``fit(select=k)`` is greedy selection on the pool's Gram summary followed by the plain
    fit of the chosen basis: the same columns as :func:`select_for_fit` on the pool's summary,
    and the same coefficients as fitting that basis directly."""
    import ace_ref
    from ace_ref.fit.assembly import Weights, assemble
    from ace_ref.fit.selection import select_for_fit
    from ace_ref.fit.solvers import smoothness_prior

    pool, configs, e0, result = selected_fit
    basis = result.model.basis
    meta = result.model.metadata["selection"]
    assert len(basis) == 60 == meta["kept"] and meta["pool"] == len(pool)
    weights = Weights.parse(ace_ref.defaults.WEIGHTS)
    gram = assemble(pool, configs, e0, weights, False, method="normal")
    gamma = smoothness_prior(pool, ace_ref.defaults.SMOOTHNESS, ace_ref.defaults.ORDER_WEIGHTS)
    pairs = np.flatnonzero(np.isin(pool.column_orders(), ace_ref.defaults.SELECT_KEEP_ORDERS))
    assert 0 < len(pairs) < 60
    picked = select_for_fit(gram, 60, gamma, forced=pairs)
    assert picked.order.tolist() == meta["order"]
    assert picked.order[: len(pairs)].tolist() == pairs.tolist()  # every pair function kept
    assert picked.lam == pytest.approx(meta["lambda"], rel=1e-10)
    columns = picked.first(60)
    np.testing.assert_array_equal(basis.column_degrees(), pool.column_degrees()[columns])
    direct = ace_ref.fit(configs, pool.with_columns(columns), e0=e0, committee_size=0,
                         active_set_size=0)  # fmt: skip
    np.testing.assert_allclose(result.model.coefficients, direct.model.coefficients, rtol=1e-9)
    assert "chosen greedily from" in result.summary()
    assert result.cost.pool_coefficients == len(pool) and result.cost.n_coefficients == 60


def test_selected_model_is_exact_symmetric_and_survives_a_file(selected_fit, tmp_path):
    from ase import Atoms

    from ace_ref.models.load import load as load_model
    from ace_ref.verify import check_forces, check_invariance

    pool, configs, _, result = selected_fit
    model = result.model
    atoms = configs[-1].atoms
    rows = model.basis.design_rows(atoms)
    out = model.predict(atoms)
    assert out["energy"] == pytest.approx(rows.energy @ model.coefficients, rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(out["forces"], rows.forces @ model.coefficients, atol=1e-11)
    # the pool's design rows on the chosen columns, bit for bit
    pool_rows = pool.design_rows(atoms)
    columns = np.sort(np.array(model.metadata["selection"]["order"]))
    np.testing.assert_array_equal(rows.forces, pool_rows.forces[..., columns])
    calc = model.calculator()
    assert all(r.passed for r in check_invariance(calc, atoms))  # rotations and reflections
    assert all(r.passed for r in check_forces(calc, atoms))
    bulk = Atoms("Cu2Al", cell=np.diag([3.0, 3.1, 3.2]), pbc=True,
                 scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.1], [0.3, 0.0, 0.5]])  # fmt: skip
    assert all(r.passed for r in check_forces(calc, bulk))
    path = model.save(tmp_path / "selected.npz")
    again = load_model(path)
    assert again.basis.fingerprint() == model.basis.fingerprint()
    assert again.predict(atoms)["energy"] == pytest.approx(out["energy"], rel=1e-14)
    grades = again.uncertainty.active_set.grades(
        again.basis, again.basis.features(atoms), atoms.get_chemical_symbols()
    )
    assert np.all(grades <= 1 + 1e-6)  # a training structure: inside the active set's hull
    assert "selected functions" in again.basis.describe()


def test_normal_assembly_reuses_the_pool_summary(selected_fit):
    import ace_ref

    pool, configs, e0, result = selected_fit
    normal = ace_ref.fit(configs, pool, e0=e0, select=60, assembly="normal", committee_size=0,
                         active_set_size=0)  # fmt: skip
    order = result.model.metadata["selection"]["order"]
    assert normal.model.metadata["selection"]["order"] == order
    np.testing.assert_allclose(
        normal.model.coefficients, result.model.coefficients, rtol=1e-6, atol=1e-9
    )


def test_ranking_configurations_stay_within_the_rows_and_are_seeded():
    from ace_ref.fit.selection import ranking_configurations

    counts = np.array([10, 31, 7, 7, 46, 1, 22, 13])
    np.testing.assert_array_equal(ranking_configurations(counts, None, 0), np.arange(8))
    np.testing.assert_array_equal(ranking_configurations(counts, 137, 0), np.arange(8))
    for rows in (1, 20, 50, 100):
        for seed in (0, 1):
            taken = ranking_configurations(counts, rows, seed)
            assert len(taken) >= 1 and np.all(np.diff(taken) > 0)
            assert counts[taken].sum() <= rows or len(taken) == 1
            # drawing one more configuration (in the seeded order) would pass the budget
            drawn = np.random.default_rng(seed).permutation(8)
            assert set(taken) == set(drawn[: len(taken)])
            if len(taken) < 8:
                assert counts[drawn[: len(taken) + 1]].sum() > rows
            np.testing.assert_array_equal(taken, ranking_configurations(counts, rows, seed))
    for bad in (0, -5, 2.5, True):
        with pytest.raises(ValueError, match="ranking_rows must be a whole number"):
            ranking_configurations(counts, bad, 0)


def test_ranking_on_part_of_the_rows_is_the_ranking_of_those_configurations(selected_fit):
    """``fit(select=k, ranking_rows=n)`` ranks on the Gram summary of the configurations
    :func:`ranking_configurations` draws and fits the chosen columns on all of them."""
    import ace_ref
    from ace_ref.fit.assembly import Weights, assemble
    from ace_ref.fit.reduction import row_counts
    from ace_ref.fit.selection import ranking_configurations, select_for_fit
    from ace_ref.fit.solvers import smoothness_prior

    pool, configs, e0, result = selected_fit
    weights = Weights.parse(ace_ref.defaults.WEIGHTS)
    counts = row_counts(configs, weights)
    rows = int(counts.sum()) // 2
    part = ace_ref.fit(configs, pool, e0=e0, select=60, ranking_rows=rows, committee_size=0,
                       active_set_size=0)  # fmt: skip
    meta = part.model.metadata["selection"]
    taken = ranking_configurations(counts, rows, ace_ref.defaults.SEED)
    assert 1 <= len(taken) < len(configs) and meta["ranking_configs"] == len(taken)
    assert meta["ranking_rows"] == counts[taken].sum() <= rows
    gram = assemble(pool, [configs[i] for i in taken], e0, weights, False, method="normal")
    gamma = smoothness_prior(pool, ace_ref.defaults.SMOOTHNESS, ace_ref.defaults.ORDER_WEIGHTS)
    pairs = np.flatnonzero(np.isin(pool.column_orders(), ace_ref.defaults.SELECT_KEEP_ORDERS))
    picked = select_for_fit(gram, 60, gamma, forced=pairs)
    assert picked.order.tolist() == meta["order"]
    assert part.n_rows == counts.sum()  # the fit proper: every configuration
    direct = ace_ref.fit(configs, pool.with_columns(picked.first(60)), e0=e0, committee_size=0,
                         active_set_size=0)  # fmt: skip
    np.testing.assert_allclose(part.model.coefficients, direct.model.coefficients, rtol=1e-9)
    assert part.cost.flops["Gram (pool)"] < result.cost.flops["Gram (pool)"]
    with pytest.raises(ValueError, match="ranking_rows must be a whole number"):
        ace_ref.fit(configs, pool, e0=e0, select=60, ranking_rows=0)


def test_with_columns_is_the_basis_its_spec_describes(selected_fit):
    """``with_columns`` reuses the pool's function lists and union tables instead of building
    the basis anew: it must be the basis ``from_dict`` makes of its spec (same functions,
    same tables, same design rows), and leave the pool as it was."""
    from ace_ref import ACEBasis

    pool, configs, _, result = selected_fit
    columns = np.array(result.model.metadata["selection"]["order"][:45])
    fast = pool.with_columns(columns)
    rebuilt = ACEBasis.from_dict(fast.to_dict(), cache_dir=pool._coupling.directory.parent)
    assert fast.to_dict() == rebuilt.to_dict()
    assert fast.fingerprint() == rebuilt.fingerprint() and len(fast) == 45
    np.testing.assert_array_equal(fast.packed_columns(), rebuilt.packed_columns())
    np.testing.assert_array_equal(fast.column_degrees(), rebuilt.column_degrees())
    atoms = configs[0].atoms
    a, b = fast.design_rows(atoms), rebuilt.design_rows(atoms)
    for x, y in ((a.energy, b.energy), (a.forces, b.forces), (a.virial, b.virial)):
        np.testing.assert_array_equal(x, y)
    full = pool.design_rows(atoms)  # the pool is untouched, and the subset is its columns
    np.testing.assert_array_equal(a.energy, full.energy[np.sort(columns)])
    assert len(pool) > len(fast) and pool.selected_functions is None


def test_bad_selections_are_refused(selected_fit):
    import ace_ref
    from ace_ref import ACEBasis

    pool, configs, e0, _ = selected_fit
    for bad in (0, len(pool), -3, 2.5, True):
        with pytest.raises(ValueError, match="select must be a whole number of functions"):
            ace_ref.fit(configs, pool, e0=e0, select=bad)
    with pytest.raises(ValueError, match="keeps no more than the .* functions of orders"):
        ace_ref.fit(configs, pool, e0=e0, select=2)
    with pytest.raises(ValueError, match="the chosen columns leave no function for"):
        pool.with_columns(pool.species_columns(1))
    spec = pool.to_dict()
    for selected, message in (
        ({"Al": [0, 1]}, "must name every basis element"),
        ({"Al": [], "Cu": [0]}, r"selected_functions\['Al'\] is empty"),
        ({"Al": [1, 0], "Cu": [0]}, "ascending and without repeats"),
        ({"Al": [0.5], "Cu": [0]}, "integer indices"),
        ({"Al": [10**6], "Cu": [0]}, "not among the element's"),
        ({"Al": "abc", "Cu": [0]}, "list of function indices"),
    ):
        with pytest.raises(ValueError, match=message):
            ACEBasis.from_dict({**spec, "selected_functions": selected})


def test_cli_fit_with_select(tmp_path):
    """``ace-ref fit --select K`` plans the pool, keeps K functions and says so."""
    import subprocess
    import sys

    from ace_ref.models.load import load as load_model
    from tests.structures import emt_configs, write_labelled_xyz

    configs = emt_configs(np.random.default_rng(6), 12, "CuCuAl", box=3.2, min_distance=2.0)
    write_labelled_xyz(tmp_path / "train.xyz", configs)
    out = subprocess.run(
        [sys.executable, "-m", "ace_ref.cli", "fit", str(tmp_path / "train.xyz"),
         "--e0", "Al=0,Cu=0", "--degree", "5,5,3", "--rcut", "4.0", "--core", "none",
         "--select", "25", "--quiet", "-o", str(tmp_path / "m.npz")],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    model = load_model(tmp_path / "m.npz")
    pool = model.metadata["selection"]["pool"]
    assert len(model.basis) == 25 < pool
    assert f"fit plan: 25 coefficients chosen greedily from {pool}" in out.stdout
    assert f"fitted 25 coefficients (chosen greedily from {pool})" in out.stdout
    assert "pool Gram (and its design rows)" in out.stdout and "ranking " in out.stdout


def test_ranking_in_place_picks_the_same_columns():
    """``overwrite=True`` ranks in the Gram summary's own matrix (no ``K × K`` copy)."""
    _, _, gamma, _, normal = _problem(21)
    copy = LinearSystem("normal", normal.yy, normal.n_rows, 1, G=normal.G.copy(), b=normal.b)
    kept = greedy_columns(normal, 12, 0.1, gamma)
    in_place = greedy_columns(copy, 12, 0.1, gamma, overwrite=True)
    assert in_place.order.tolist() == kept.order.tolist()
    np.testing.assert_allclose(in_place.objective, kept.objective, rtol=1e-12)
    assert not np.allclose(copy.G, normal.G)  # spent: it now holds the Schur complement


def test_gram_assembly_is_tiled_and_the_same_for_any_thread_count(monkeypatch):
    """The pool's Gram summary: ``AᵀA`` by tiles (upper triangle, then mirrored), bitwise the
    same whether the tiles run on one thread or several."""
    import ace_ref.fit.assembly as assembly

    monkeypatch.setattr(assembly, "GRAM_TILE", 64)
    rng = np.random.default_rng(0)
    K, m = 300, 900
    A, y = rng.normal(size=(m, K)), rng.normal(size=m)
    results = []
    for threads in (1, 2, 3):
        summary = assembly._Summary(K, "normal", 256, 60, inner_threads=threads)
        for start in range(0, m, 60):
            summary.add(A[start : start + 60], y[start : start + 60])
        results.append(summary.finish(float(y @ y), m, 1))
    first = results[0]
    np.testing.assert_allclose(first.G, A.T @ A, rtol=0, atol=1e-10 * np.abs(A.T @ A).max())
    np.testing.assert_array_equal(first.G, first.G.T)
    np.testing.assert_allclose(first.b, A.T @ y, atol=1e-10)
    for other in results[1:]:
        np.testing.assert_array_equal(other.G, first.G)
