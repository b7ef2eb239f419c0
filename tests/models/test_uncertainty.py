"""A model's knowledge of its own reliability: coverage, committee, extrapolation grade γ."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
import scipy.linalg
from ase import Atoms
from hypothesis import given, settings
from hypothesis import strategies as st

import ace_ref
from ace_ref import ACEBasis
from ace_ref.basis.tables import DesignRows
from ace_ref.fit.solvers import solve
from ace_ref.models.calculator import ExtrapolationWarning
from ace_ref.models.files import ModelFileError
from ace_ref.models.uncertainty import ActiveSet, Committee, Coverage, maxvol, pivoted_columns
from tests.structures import emt_configs


# ---------------------------------------------------------------- MaxVol and γ
def test_maxvol_finds_a_dominant_submatrix():
    X = np.random.default_rng(0).normal(size=(200, 12))
    rows = maxvol(X)
    assert len(set(rows)) == 12
    assert np.max(np.abs(X @ np.linalg.inv(X[rows]))) <= 1.01
    with pytest.raises(ValueError, match="at least as many rows"):
        maxvol(X[:5])


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(1, 60),
    K=st.integers(1, 2100),
    k=st.integers(1, 40),
    dependent=st.integers(0, 5),
    seed=st.integers(0, 2**31),
)
def test_pivoted_columns_are_the_pivots_of_qr_with_column_pivoting(n, K, k, dependent, seed):
    """The first pivots of LAPACK's dgeqp3 (SciPy), in order, up to the rank it reveals: on
    columns of scales from 1e-3 to 1e3, with exact linear combinations of other columns and,
    for K > 2048, the Gram computed in more than one column block."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, K)) * np.exp(rng.uniform(-7, 7, size=K))
    X = X[:, rng.permutation(K)]
    if K > 2 and dependent:
        rank = max(1, min(n, K) - dependent)
        X = X[:, :rank] @ rng.normal(size=(rank, K)) if rank < min(n, K) else X
    R, reference = scipy.linalg.qr(X, pivoting=True, mode="r")
    d = np.abs(np.diag(R))
    expected = reference[: min(k, int(np.sum(d > d[0] * 1e-10)))]
    picks = pivoted_columns(X, k)
    assert picks.tolist() == expected.tolist()


def test_pivoted_columns_of_nothing_or_zeros():
    assert pivoted_columns(np.zeros((5, 0)), 3).tolist() == []
    assert pivoted_columns(np.zeros((5, 4)), 3).tolist() == []
    X = np.zeros((5, 4))
    X[:, 2] = 1.0
    assert pivoted_columns(X, 3).tolist() == [2]


def test_gamma_is_the_volume_ratio_of_brute_force_d_optimality():
    """γ(x) = max_j |det A_{j←x}| / |det A| (Cramer), and on the brute-force maximum-volume
    subset every training row has γ ≤ 1, while a row with γ > 1 enlarges the maximal volume."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(9, 3))
    subsets = list(itertools.combinations(range(9), 3))
    volumes = [abs(np.linalg.det(X[list(s)])) for s in subsets]
    best = list(subsets[int(np.argmax(volumes))])
    A = X[best]
    active = ActiveSet({"H": np.arange(3)}, {"H": np.linalg.inv(A)}, {"H": np.array(best)})

    class Basis:
        elements = ["H"]

        def __len__(self):
            return 3

    for x in X:
        assert active.grades(Basis(), x[None, :], ["H"])[0] <= 1 + 1e-12
    for x in (rng.normal(size=3) * s for s in (0.3, 3.0, 10.0)):
        g = active.grades(Basis(), x[None, :], ["H"])[0]
        swapped = []
        for j in range(3):
            B = A.copy()
            B[j] = x
            swapped.append(abs(np.linalg.det(B)) / abs(np.linalg.det(A)))
        assert g == pytest.approx(max(swapped), rel=1e-12)
        extended = np.vstack([X, x])
        best_volume = max(
            abs(np.linalg.det(extended[list(s)])) for s in itertools.combinations(range(10), 3)
        )
        assert (best_volume > max(volumes) * (1 + 1e-12)) == (g > 1)


# ---------------------------------------------------------------- committee
def test_committee_spread_estimates_the_exact_posterior():
    """std over 4000 posterior draws of φᵀc matches sqrt(φᵀ Σ φ), Σ = (β (AᵀA + λ Γ²))⁻¹."""
    from ace_ref.fit.assembly import LinearSystem

    rng = np.random.default_rng(2)
    n, K = 300, 12
    A = rng.normal(size=(n, K))
    y = A @ rng.normal(size=K) + 0.1 * rng.normal(size=n)
    R = np.linalg.qr(np.column_stack([A, y]), mode="r")
    system = LinearSystem(
        method="qr", n_rows=n, n_configs=n, yy=float(y @ y), R=R[:K, :K], z=R[:K, K]
    )
    gamma = np.linspace(1.0, 3.0, K)
    sol = solve(system, "blr", gamma, committee_size=4000, seed=5)
    beta, lam = sol.info["beta"], sol.info["lambda"]
    sigma = np.linalg.inv(beta * (A.T @ A + lam * np.diag(gamma**2)))
    phi = rng.normal(size=K)
    Phi = rng.normal(size=(2, 3, K))

    class Basis:
        def design_rows(self, atoms, where):
            return DesignRows(phi, Phi, np.zeros((3, 3, K)))

    spread = Committee(sol.committee).spread(Basis(), None)
    assert spread["energy_std"] == pytest.approx(np.sqrt(phi @ sigma @ phi), rel=0.05)
    exact_f = np.sqrt(np.einsum("iak,kl,ial->ia", Phi, sigma, Phi))
    np.testing.assert_allclose(spread["forces_std"], exact_f, rtol=0.05)


# ---------------------------------------------------------------- coverage
def _dimers(d_values, a="H", b="O"):
    return [Atoms(a + b, positions=[[0, 0, 0], [0, 0, d]]) for d in d_values]


def test_coverage_records_ranges_and_flags_what_lies_outside(coupling_cache):
    basis = ACEBasis(["H", "O"], order=1, max_n=2, max_l=0, r_cut=3.0, cache_dir=coupling_cache)
    cov = Coverage.from_structures(basis, _dimers([0.9, 1.1, 1.4]))
    assert cov.ranges == {"H-O": (pytest.approx(0.9), pytest.approx(1.4))}
    assert cov.environments == {"H": 3, "O": 3}
    assert sum(cov.histograms["H-O"]) == 6  # each pair seen from both atoms
    assert cov.outside(basis, _dimers([1.1])[0]) == []  # a trained distance
    (gap,) = cov.outside(basis, _dimers([1.25])[0])  # inside the range, in an empty bin
    assert gap["kind"] == "gap" and 0 < gap["excess"] <= 0.1
    far = cov.outside(basis, _dimers([2.0])[0])
    assert len(far) == 1 and far[0]["excess"] == pytest.approx(0.6) and far[0]["kind"] == "range"
    close = cov.outside(basis, _dimers([0.7])[0])
    assert close[0]["excess"] == pytest.approx(0.2)
    never = cov.outside(basis, Atoms("HH", positions=[[0, 0, 0], [0, 0, 1.0]]))
    assert never[0]["pair"] == "H-H" and never[0]["excess"] == np.inf
    assert Coverage.from_dict(cov.to_dict()) == cov
    assert "H-O" in cov.summary()


# ---------------------------------------------------------------- the fitted model
@pytest.fixture(scope="module")
def fitted(coupling_cache):
    configs = emt_configs(np.random.default_rng(3), 40, "CuCuCuCuAl", box=3.5, min_distance=2.0)
    basis = ACEBasis(["Al", "Cu"], order=2, max_degree=[6, 5], r_cut=4.0, cache_dir=coupling_cache)
    result = ace_ref.fit(configs, basis, e0={"Al": 0.0, "Cu": 0.0}, committee_size=16)
    return result, configs


def test_fit_records_coverage_committee_and_active_sets(fitted):
    result, configs = fitted
    u = result.model.uncertainty
    assert u.coverage.environments == {"Al": 40, "Cu": 160}
    assert u.committee.coefficients.shape == (16, len(result.model.basis))
    for c in configs[:10]:  # every training environment is inside its active set
        report = u.assess(result.model.basis, c.atoms)
        assert report["max_extrapolation_grade"] <= 1.01
        assert report["outside"] == []
    stretched = configs[0].atoms.copy()
    stretched.positions *= 0.6
    report = u.assess(result.model.basis, stretched)
    assert report["outside"] and report["max_extrapolation_grade"] > 1.01


def test_uncertainty_survives_the_model_file_and_tampering_is_caught(fitted, tmp_path):
    model = fitted[0].model
    path = model.save(tmp_path / "m.npz")
    back = ace_ref.load(path)
    np.testing.assert_array_equal(
        back.uncertainty.committee.coefficients, model.uncertainty.committee.coefficients
    )
    for el in model.basis.elements:
        np.testing.assert_array_equal(
            back.uncertainty.active_set.inverse[el], model.uncertainty.active_set.inverse[el]
        )
    assert back.uncertainty.coverage == model.uncertainty.coverage
    with np.load(path) as f:
        parts = {k: np.array(f[k]) for k in f.files}
    parts["committee"][0, 0] += 1e-9
    bad = tmp_path / "bad.npz"
    np.savez(bad, **parts)
    with pytest.raises(ModelFileError, match="uncertainty arrays do not match"):
        ace_ref.load(bad)


def test_calculator_reports_uncertainty_and_warns_outside(fitted):
    model = fitted[0].model
    atoms = fitted[1][0].atoms.copy()
    calc = model.calculator(uncertainty=True)
    atoms.calc = calc
    atoms.get_potential_energy()
    assert calc.results["energy_std"] > 0
    assert calc.results["forces_std"].shape == (len(atoms), 3)
    assert calc.results["max_extrapolation_grade"] <= 1.01
    assert calc.results["n_pairs_outside_training"] == 0
    squeezed = atoms.copy()
    squeezed.positions *= 0.6
    squeezed.calc = model.calculator(warn_outside=True)
    with pytest.warns(ExtrapolationWarning, match="outside the trained distance range"):
        squeezed.get_potential_energy()
    atoms.calc = model.calculator(warn_outside=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        atoms.get_potential_energy()


def test_a_model_without_uncertainty_data_says_so(fitted):
    model = fitted[0].model
    bare = type(model)(model.basis, model.coefficients, model.e0)
    with pytest.raises(ValueError, match="carries no uncertainty data"):
        bare.calculator(uncertainty=True)


def test_bad_committee_or_active_set_sizes_are_refused_before_any_work(fitted, tmp_path, capsys):
    from ace_ref.cli import main

    result, configs = fitted
    for kw in ({"committee_size": -1}, {"active_set_size": 2.5}):
        with pytest.raises(ValueError, match="must be an integer ≥ 0"):
            ace_ref.fit(configs[:2], result.model.basis, e0=result.model.e0, **kw)
    from ase.io import write

    write(tmp_path / "t.xyz", [c.atoms for c in configs[:2]], format="extxyz")
    out = tmp_path / "m.npz"
    args = ["fit", str(tmp_path / "t.xyz"), "--order", "1", "--max-n", "2", "--max-l", "0"]
    args += ["--e0", str(tmp_path / "e0.xyz")]
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator

    isolated = [Atoms(el) for el in ("Al", "Cu")]
    for a in isolated:
        a.calc = SinglePointCalculator(a, energy=0.0)
    write(tmp_path / "e0.xyz", isolated, format="extxyz")
    assert main([*args, "--committee", "-1", "-o", str(out)]) == 2
    assert "committee_size must be an integer" in capsys.readouterr().err
    assert not out.exists()
