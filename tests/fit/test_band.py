"""The two-stage route of the regularised solvers (ace_ref.fit._band): the band form is an
orthogonal transformation of the matrix, every λ solves the stacked least-squares problem in
both coordinate systems, and posterior draws have the exact covariance."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ace_ref.fit._band import reduce_to_band
from ace_ref.fit._bidiagonal import bidiagonalize


def _graded_triangle(rng, n, decades):
    """Upper triangular with column scales over ``decades`` (ill-conditioned, like RΓ⁻¹)."""
    return np.triu(rng.normal(size=(n, n))) * np.logspace(0, -decades, n)[None, :]


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 90), bandwidth=st.integers(1, 40), seed=st.integers(0, 2**16))
def test_band_form_is_an_orthogonal_transformation(n, bandwidth, seed):
    rng = np.random.default_rng(seed)
    M, z = rng.normal(size=(n, n)), rng.normal(size=n)
    r = reduce_to_band(M, z, bandwidth)
    b = r.upper.shape[1] - 1
    assert b == max(1, min(bandwidth, max(n - 1, 1)))
    U = np.zeros((n, n))
    for k in range(b + 1):
        U += np.diag(r.upper[: n - k, k], k)
    P = r.p_times(np.eye(n))
    np.testing.assert_allclose(P.T @ P, np.eye(n), atol=1e-13 * n)
    MP = M @ P  # = Q₁ U: same Gram matrix, same projection of z
    scale = np.linalg.norm(M, 2) ** 2
    np.testing.assert_allclose(MP.T @ MP, U.T @ U, atol=1e-13 * n * scale)
    np.testing.assert_allclose(MP.T @ z, U.T @ r.w_band, atol=1e-13 * n * np.sqrt(scale) * (
        np.linalg.norm(z)))  # fmt: skip
    sv = scipy.linalg.svdvals(M)
    np.testing.assert_allclose(r.singular_values(), sv, atol=1e-13 * n * sv[0])
    np.testing.assert_allclose(np.linalg.norm(r.w), np.linalg.norm(z), rtol=1e-13 * n)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 150),
    bandwidth=st.sampled_from([1, 3, 16, 64]),
    decades=st.floats(0, 8),
    log_lam=st.floats(-12, 2),
    seed=st.integers(0, 2**16),
)
@example(n=85, bandwidth=3, decades=0.0, log_lam=-12.0, seed=85)  # κ = 1.5e7 (CI, 2026-12-06)
def test_every_lambda_solves_the_stacked_problem(n, bandwidth, decades, log_lam, seed):
    rng = np.random.default_rng(seed)
    M, z, lam = _graded_triangle(rng, n, decades), rng.normal(size=n), 10.0**log_lam
    r = reduce_to_band(M, z, bandwidth)
    d = r.coefficients(lam)
    stacked = np.vstack([M, np.sqrt(lam) * np.eye(n)])
    rhs = np.concatenate([z, np.zeros(n)])
    g = stacked.T @ (stacked @ d - rhs)
    assert np.linalg.norm(g) <= 1e-10 * (np.linalg.norm(stacked, 2) ** 2 * np.linalg.norm(d) + 1)
    # the bidiagonal coordinates give the same ‖d‖² and residual as the coefficients
    x, _, _ = r.solve(lam)
    residual2, norm2 = r.residual2(x), float(x @ x)
    assert norm2 == pytest.approx(float(d @ d), rel=1e-9, abs=1e-300)
    r2 = float(np.sum((M @ d - z) ** 2))
    eps = np.finfo(float).eps
    bound = 100 * n * eps * (np.linalg.norm(z) + np.linalg.norm(M, 2) * np.linalg.norm(d))
    assert abs(residual2 - r2) <= 2 * bound * np.sqrt(r2) + bound**2
    # and the one-stage bidiagonalization finds the same coefficients, to what two backward-
    # stable solvers can agree on: a relative ~eps·κ of the stacked matrix. Random triangles
    # can be numerically singular (σ_min(M) 2.5e-17 at n = 85, seed 85), so at λ = 1e-12
    # κ = 1.5e7 and the two differ by 7e-9, 2.3 eps·κ; 1e-9 where κ is small
    one = bidiagonalize(M, z)
    d_one = one.p_times(one.solve(lam)[0])
    sigma = np.linalg.svd(stacked, compute_uv=False)
    kappa = sigma[0] / sigma[-1] if sigma[-1] > 0 else np.inf
    rtol = max(1e-9, 10 * eps * kappa)
    np.testing.assert_allclose(d, d_one, atol=rtol * np.linalg.norm(d_one) + 1e-300)
    with pytest.raises(ValueError, match="positive"):
        r.coefficients(0.0)


class _IdentityNormal:
    """Stands in for a Generator: ``normal(size=(n, K))`` returns the identity (n = K)."""

    def normal(self, size):
        assert size[0] == size[1]
        return np.eye(size[0])


@pytest.mark.parametrize("n, bandwidth", [(5, 64), (70, 16), (130, 64)])
def test_posterior_draws_have_the_exact_covariance(n, bandwidth):
    rng = np.random.default_rng(3)
    M, z = _graded_triangle(rng, n, 4), rng.normal(size=n)
    lam, beta = 1e-5, 7.0
    r = reduce_to_band(M, z, bandwidth)
    d = r.coefficients(lam)
    draws = r.posterior_samples(lam, beta, n, _IdentityNormal())  # rows d + L e_k
    L = (draws - d[None, :]).T
    cov = np.linalg.inv(beta * (M.T @ M + lam * np.eye(n)))
    np.testing.assert_allclose(L @ L.T, cov, atol=1e-9 * np.abs(cov).max())
