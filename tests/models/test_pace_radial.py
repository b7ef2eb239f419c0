"""The ``ChebPow`` representation of radial bases that have no ML-PACE family (issue 21:
a model fitted with the default Bessel radial basis exports to ``.yace``)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ace_ref.models.pace_radial import (
    DERIVATIVE_RTOL,
    MAX_TERMS,
    VALUE_RTOL,
    chebpow_basis,
    chebpow_representation,
)
from ace_ref.one_particle.radial import BesselRadial, PolynomialRadial


def test_chebpow_basis_is_ml_paces_own():
    """``chebpow_basis`` equals ML-PACE's C++ ``radbase("ChebPow", λ = 1)`` (through pyace,
    no splines), values and derivatives."""
    pyace = pytest.importorskip(
        "pyace", reason="pyace (pip install --pre python-ace) not installed"
    )
    n, rc = 40, 3.7
    rf = pyace.ACERadialFunctions(n, 0, 1, 0.001, 1, [["ChebPow"]])
    r = np.concatenate([np.linspace(1e-3, rc - 1e-6, 211), [rc - 1e-3]])
    ref, dref = [], []
    for x in r:
        rf.radbase(1.0, rc, 0.01, "ChebPow", float(x), 0.0, 0.0)
        ref.append(np.array(rf.gr, dtype=float))
        dref.append(np.array(rf.dgr, dtype=float))
    g, dg = chebpow_basis(r, rc, n)
    np.testing.assert_allclose(g, np.array(ref), rtol=0, atol=1e-13)
    np.testing.assert_allclose(dg, np.array(dref), rtol=0, atol=1e-12 * np.abs(dref).max())


def test_chebpow_basis_spans_the_polynomials_that_vanish_at_the_cutoff():
    """N functions span {p : deg p ≤ N, p(r_c) = 0}: a random such polynomial is reproduced
    at round-off, one of degree N + 1 is not; outside (0, r_c) every function is zero."""
    rng = np.random.default_rng(0)
    rc, n = 4.0, 9
    roots = rng.uniform(0, rc, size=n - 1)
    r = np.linspace(0.01, rc - 0.01, 300)

    def poly(deg_roots):
        return np.prod([r - x for x in deg_roots], axis=0) * (r - rc)

    g, _ = chebpow_basis(r, rc, n)
    for roots_, inside in ((roots, True), (np.append(roots, 1.3), False)):
        p = poly(roots_)
        coef, *_ = np.linalg.lstsq(g, p, rcond=None)
        residual = np.abs(g @ coef - p).max() / np.abs(p).max()
        assert (residual < 1e-12) == inside, residual
    g_out, dg_out = chebpow_basis(np.array([0.0, rc, rc + 0.5]), rc, n)
    assert not g_out.any() and not dg_out.any()
    with pytest.raises(ValueError, match="at least 1"):
        chebpow_basis(r, rc, 0)


@settings(max_examples=12, deadline=None)
@given(
    n_max=st.integers(1, 24),
    r_cut=st.floats(1.5, 7.0),
    p=st.integers(2, 8),
)
def test_bessel_radials_are_represented_to_round_off(n_max, r_cut, p):
    """For any Bessel basis the stated errors hold at points the fit never saw, and they are
    below the tolerances. Scales as defined: values against the largest ``|R_n|`` on
    ``(0, r_c)``, which for Bessel is ``√(2/r_c) n_max π/r_c`` (at r → 0, envelope 1);
    derivatives against the largest ``|R_n'|`` for ``r ≥ 0.02 r_c``."""
    rad = BesselRadial(n_max, r_cut, envelope_p=p)
    rep = chebpow_representation(rad)
    assert rep.value_error <= VALUE_RTOL and rep.derivative_error <= DERIVATIVE_RTOL
    assert rep.coefficients.shape == (n_max, rep.n_terms)
    rng = np.random.default_rng(n_max)
    r = rng.uniform(0.0, r_cut, 2000)
    R, dR = rad(r)
    g, dg = chebpow_basis(r, r_cut, rep.n_terms)
    value_scale = np.sqrt(2 / r_cut) * n_max * np.pi / r_cut
    assert np.abs(R).max() <= value_scale
    error = np.abs(g @ rep.coefficients.T - R).max() / value_scale
    assert error <= 2 * rep.value_error + 1e-15
    far = r >= 0.02 * r_cut
    dense = np.linspace(0.02 * r_cut, r_cut, 20_001)[:-1]
    derivative_scale = np.abs(rad(dense)[1]).max()
    derror = np.abs((dg @ rep.coefficients.T - dR)[far]).max() / derivative_scale
    assert derror <= 2 * rep.derivative_error + 1e-15


def test_representation_uses_the_fewest_terms_and_refuses_when_they_do_not_suffice():
    """The default acac basis (12 functions, 4.5 Å) needs 48 functions; 40 are refused with
    the error reached; a polynomial radial basis converges too (geometrically, more terms)."""
    rep = chebpow_representation(BesselRadial(12, 4.5))
    assert rep.n_terms == 48 and rep.value_error < 1e-13
    with pytest.raises(ValueError, match=r"40 ChebPow functions reach a relative error of"):
        chebpow_representation(BesselRadial(12, 4.5), max_terms=40)
    poly = chebpow_representation(PolynomialRadial(12, 4.5, r_0=2.25))
    assert poly.value_error <= VALUE_RTOL and 48 < poly.n_terms <= MAX_TERMS
