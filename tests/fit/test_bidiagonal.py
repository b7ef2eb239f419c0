"""The bidiagonal route of the regularised solvers (ace_ref.fit._bidiagonal, ace_ref.fit._lapack):
LAPACK wrappers reconstruct the matrix, every λ solves the stacked least-squares problem,
BLR finds the same evidence optimum as a full SVD, and the committee has the exact posterior
covariance."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st

from ace_ref import fit
from ace_ref.fit import _lapack as lapack
from ace_ref.fit import solvers
from ace_ref.fit._bidiagonal import bidiagonalize


def _graded_triangle(rng, n, decades):
    """Upper triangular with column scales over ``decades`` (ill-conditioned, like RΓ⁻¹)."""
    return np.triu(rng.normal(size=(n, n))) * np.logspace(0, -decades, n)[None, :]


def test_lapack_wrappers_reconstruct_and_give_singular_values():
    rng = np.random.default_rng(0)
    M = _graded_triangle(rng, 120, 6)
    a = np.array(M, order="F")
    d, e, tauq, taup = lapack.gebrd(a)
    B = np.diag(d) + np.diag(e, 1)
    QtM = np.array(M, order="F")
    lapack.ormbr("Q", "T", a, tauq, QtM)  # Qᵀ M = B Pᵀ
    BPt = np.array(B @ np.eye(120), order="F").T.copy(order="F")  # (B)ᵀ, then P ·
    lapack.ormbr("P", "N", a, taup, BPt)  # P Bᵀ = (B Pᵀ)ᵀ
    np.testing.assert_allclose(QtM, BPt.T, atol=1e-13)
    np.testing.assert_allclose(lapack.bdsqr_values(d, e), scipy.linalg.svdvals(M), rtol=1e-12)
    with pytest.raises(ValueError, match="square"):
        lapack.gebrd(np.zeros((3, 2), order="F"))
    with pytest.raises(ValueError, match="vect"):
        lapack.ormbr("X", "N", a, tauq, QtM)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 40),
    decades=st.floats(0, 8),
    log_lam=st.floats(-12, 2),
    seed=st.integers(0, 2**16),
)
def test_every_lambda_solves_the_stacked_problem(n, decades, log_lam, seed):
    rng = np.random.default_rng(seed)
    M, z, lam = _graded_triangle(rng, n, decades), rng.normal(size=n), 10.0**log_lam
    b = bidiagonalize(M, z)
    x, t_diag, t_sup = b.solve(lam)
    d = b.p_times(x)
    stacked = np.vstack([M, np.sqrt(lam) * np.eye(n)])
    rhs = np.concatenate([z, np.zeros(n)])
    # the normal equations of the stacked problem hold to round-off of the QR route
    g = stacked.T @ (stacked @ d - rhs)
    assert np.linalg.norm(g) <= 1e-10 * (np.linalg.norm(stacked, 2) ** 2 * np.linalg.norm(d) + 1)
    T = np.diag(t_diag) + np.diag(t_sup, 1)
    B = np.diag(b.d) + np.diag(b.e, 1)
    np.testing.assert_allclose(T.T @ T, B.T @ B + lam * np.eye(n), atol=1e-12 * (1 + lam))
    # ‖r‖² from the B coordinates vs from M d − z: each r entry carries round-off of about
    # n ε (‖z‖ + ‖M‖ ‖d‖), so ‖r‖² differs by at most twice that times ‖r‖ (constant 100)
    r2 = float(np.sum((M @ d - z) ** 2))
    eps = np.finfo(float).eps
    bound = 100 * n * eps * (np.linalg.norm(z) + np.linalg.norm(M, 2) * np.linalg.norm(d))
    assert abs(b.residual2(x) - r2) <= 2 * bound * np.sqrt(r2) + bound**2
    with pytest.raises(ValueError, match="positive"):
        b.solve(0.0)


def _system(rng, n_rows, K, noise):
    A = rng.normal(size=(n_rows, K)) * np.logspace(0, -3, K)[None, :]
    y = A @ rng.normal(size=K) + noise * rng.normal(size=n_rows)
    Q, R = np.linalg.qr(A)
    z = Q.T @ y
    return fit.LinearSystem("qr", float(y @ y), n_rows, 1, R=R, z=z)


def test_blr_bidiagonal_equals_full_svd(monkeypatch):
    rng = np.random.default_rng(5)
    system = _system(rng, 400, 60, 0.05)
    gamma = np.linspace(1, 30, 60)
    fast = fit.solve(system, "blr", gamma)
    monkeypatch.setattr(solvers, "_regularised", solvers._SpectralRegularised)
    svd = fit.solve(system, "blr", gamma)
    assert fast.info["lambda"] == pytest.approx(svd.info["lambda"], rel=1e-8)
    assert fast.info["effective_parameters"] == pytest.approx(
        svd.info["effective_parameters"], rel=1e-10
    )
    np.testing.assert_allclose(fast.coefficients, svd.coefficients, rtol=1e-8, atol=1e-12)
    ridge_svd = fit.solve(system, "ridge", gamma, lam=1e-3)
    monkeypatch.undo()
    ridge_fast = fit.solve(system, "ridge", gamma, lam=1e-3)
    np.testing.assert_allclose(ridge_fast.coefficients, ridge_svd.coefficients, rtol=1e-10)
    with pytest.raises(ValueError, match="positive"):
        fit.solve(system, "ridge", gamma, lam=0.0)


def test_committee_has_the_exact_posterior_covariance():
    rng = np.random.default_rng(7)
    K = 4
    system = _system(rng, 60, K, 0.3)
    gamma = np.array([1.0, 2.0, 3.0, 4.0])
    sol = fit.solve(system, "blr", gamma, committee_size=40000, seed=1)
    alpha, beta = sol.info["alpha"], sol.info["beta"]
    H = (system.R / gamma[None, :]).T @ (system.R / gamma[None, :])
    cov_d = np.linalg.inv(beta * H + alpha * np.eye(K))  # posterior of d = Γ c
    cov_c = cov_d / np.outer(gamma, gamma)
    samples = sol.committee
    np.testing.assert_allclose(samples.mean(axis=0), sol.coefficients, atol=4 * np.sqrt(
        np.diag(cov_c).max() / 40000))  # fmt: skip
    emp = np.cov(samples.T)
    # 40000 draws: relative standard error of a covariance entry ≈ √(2/40000) = 0.7 %
    np.testing.assert_allclose(emp, cov_c, atol=0.04 * np.sqrt(np.outer(np.diag(cov_c),
        np.diag(cov_c))).max())  # fmt: skip
