"""Radial bases: formulas, derivatives, smoothness at the cutoff, kernel, serialisation, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.polynomial import legendre as npleg
from scipy.special import eval_legendre

from ace_ref.one_particle.radial import (
    MAX_PARAMS,
    ACE1Radial,
    BesselRadial,
    PolynomialRadial,
    SBesselRadial,
    envelope_polynomial,
    radial_from_dict,
    radial_with_derivative,
)

RADIALS = [
    BesselRadial(8, 5.0),
    BesselRadial(3, 3.0, envelope_p=4),
    PolynomialRadial(8, 5.0, r_0=2.5, q=2.0, r_in=0.5),
    PolynomialRadial(6, 4.0, r_0=1.5, q=3.5, envelope_p=3),
    PolynomialRadial(8, 5.0, r_0=2.5, q=4.0, r_in=0.3, transform="agnesi", agnesi_p=2.0),
    PolynomialRadial(5, 6.0, r_0=2.0, q=2.0, transform="agnesi"),
    ACE1Radial(8, 5.0, r_0=2.5, envelope_p=3),
    ACE1Radial(6, 4.5, r_0=1.0, q=3, r_in=0.8, envelope_p=4, envelope_p_in=3),
    SBesselRadial(8, 5.0),
    SBesselRadial(1, 3.0),
    SBesselRadial(14, 4.5),
]
IDS = [repr(r) for r in RADIALS]


def _envelope(x, p):
    """Literal NequIP envelope (test-side reference)."""
    return np.where(
        x < 1,
        1
        - (p + 1) * (p + 2) / 2 * x**p
        + p * (p + 2) * x ** (p + 1)
        - p * (p + 1) / 2 * x ** (p + 2),
        0.0,
    )


def _kernel(rad, r):
    """Evaluate through the Numba kernel, one distance at a time."""
    r = np.atleast_1d(np.asarray(r, dtype=float))
    R = np.empty((len(r), rad.n_max))
    dR = np.empty((len(r), rad.n_max))
    p = rad.params()
    for i, ri in enumerate(r):
        radial_with_derivative(p, rad.n_max, float(ri), R[i], dR[i])
    return R, dR


def _y_reference(rad, r):
    """``y(r)`` written out from the literature formulas (ACE1 PolyTransform / Agnesi)."""
    if rad.transform == "poly":

        def x(t):
            return ((1 + rad.r_0) / (1 + t)) ** rad.q
    else:
        p, q = rad.agnesi_p, rad.q
        a = (-2 * q + p * (-2 + 4 * q)) / (p + p**2 + q + q**2)

        def x(t):
            s = t / rad.r_0
            return 1 / (1 + a * s**q / (1 + s ** (q - p)))

    return -1 + 2 * (x(r) - x(rad.r_cut)) / (x(rad.r_in) - x(rad.r_cut))


# ------------------------------------------------------------------------------ formulas


@pytest.mark.parametrize("evaluate", [lambda rad, r: rad(r), _kernel], ids=["numpy", "numba"])
def test_bessel_formula(evaluate):
    rc, p = 4.0, 6
    rad = BesselRadial(6, rc, envelope_p=p)
    r = np.linspace(0.05, 3.99, 40)
    R, _ = evaluate(rad, r)
    for n in range(1, 7):
        ref = np.sqrt(2 / rc) * np.sin(n * np.pi * r / rc) / r * _envelope(r / rc, p)
        np.testing.assert_allclose(R[:, n - 1], ref, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("evaluate", [lambda rad, r: rad(r), _kernel], ids=["numpy", "numba"])
@pytest.mark.parametrize("rad", [r for r in RADIALS if r.name == "polynomial"], ids=repr)
def test_polynomial_is_legendre_of_transformed_distance(rad, evaluate):
    r = np.linspace(0.05, rad.r_cut * 0.999, 60)  # includes r < r_in (y > 1)
    R, dR = evaluate(rad, r)
    y = _y_reference(rad, r)
    env = _envelope(r / rad.r_cut, rad.envelope_p)
    h = 1e-6
    dy = (_y_reference(rad, r + h) - _y_reference(rad, r - h)) / (2 * h)
    x, p = r / rad.r_cut, rad.envelope_p
    denv = (_envelope(x + h / rad.r_cut, p) - _envelope(x - h / rad.r_cut, p)) / (2 * h)
    for n in range(1, rad.n_max + 1):
        P = eval_legendre(n - 1, y)
        np.testing.assert_allclose(R[:, n - 1], P * env, rtol=1e-11, atol=1e-13)
        dP = npleg.legval(y, npleg.legder([0] * (n - 1) + [1]))
        np.testing.assert_allclose(
            dR[:, n - 1], dP * dy * env + P * denv, rtol=1e-6, atol=1e-7 * max(1, abs(P).max())
        )


def test_polynomial_endpoints_of_linear_map():
    """``y(r_in) = +1`` and ``y(r_c) = −1``; R_2/R_1 = P_1(y)/P_0(y) = y."""
    for transform, q in (("poly", 2.0), ("agnesi", 4.0)):
        rad = PolynomialRadial(3, 5.0, r_0=2.0, q=q, r_in=0.7, transform=transform)
        R, _ = rad(np.array([0.7, 5.0 * (1 - 1e-7)]))
        np.testing.assert_allclose(R[:, 1] / R[:, 0], [1.0, -1.0], rtol=0, atol=1e-5)


def test_r0_cancels_for_poly_transform_but_not_for_agnesi():
    r = np.linspace(0.3, 4.9, 20)
    a = PolynomialRadial(5, 5.0, r_0=1.0, q=2.5, r_in=0.2)(r)
    b = PolynomialRadial(5, 5.0, r_0=3.0, q=2.5, r_in=0.2)(r)
    np.testing.assert_allclose(a[0], b[0], rtol=1e-12, atol=1e-14)
    c = PolynomialRadial(5, 5.0, r_0=1.0, q=4.0, transform="agnesi")(r)[0]
    d = PolynomialRadial(5, 5.0, r_0=3.0, q=4.0, transform="agnesi")(r)[0]
    assert np.abs(c - d).max() > 1e-2


@pytest.mark.parametrize("evaluate", [lambda rad, r: rad(r), _kernel], ids=["numpy", "numba"])
@pytest.mark.parametrize("rad", [r for r in RADIALS if r.name == "ace1"], ids=repr)
def test_ace1_formula(rad, evaluate):
    """``R_n = P_{n−1}(2u − 1) u^p (1 − u)^{p_in}``, u linear in ``((1 + r_0)/(1 + r))^q``."""
    r = np.linspace(0.05, rad.r_cut * 0.999, 80)

    def x(t):
        return ((1 + rad.r_0) / (1 + t)) ** rad.q

    u = (x(r) - x(rad.r_cut)) / (x(rad.r_in) - x(rad.r_cut))
    env = u**rad.envelope_p * (1 - u) ** rad.envelope_p_in
    if rad.envelope_p_in > 0:
        env = np.where(r <= rad.r_in, 0.0, env)
    R, _ = evaluate(rad, r)
    for n in range(1, rad.n_max + 1):
        np.testing.assert_allclose(
            R[:, n - 1], eval_legendre(n - 1, 2 * u - 1) * env, rtol=1e-11, atol=1e-13
        )


@pytest.mark.parametrize(
    "rad",
    [
        ACE1Radial(8, 5.0, r_0=2.5),
        ACE1Radial(1, 3.0, r_0=1.0, r_in=1.0),
        ACE1Radial(6, 4.5, r_0=1.0, q=3, r_in=0.8, envelope_p=3, envelope_p_in=2),
    ],
    ids=repr,
)
def test_ace1_is_ml_pace_ace_jl_basic(rad):
    """The parameters of :meth:`ACE1Radial.pace_recursion`, run through ML-PACE's
    ``SHIPsRadPolyBasis`` formulas as written here, give the same values and derivatives
    (ML-PACE: x = pow((1+r0)/(1+r), p); f = (x−xl)^pl (x−xr)^pr, 0 if x < xl (pl > 0) or
    x > xr (pr > 0); P0 = A0 f; P1 = (A1 x + B1) P0; Pn = (An x + Bn) Pn−1 + Cn Pn−2)."""
    c = rad.pace_recursion()
    assert [type(c[k]) for k in ("p", "pl", "pr", "maxn")] == [int] * 4
    assert len(c["A"]) == len(c["B"]) == len(c["C"]) == rad.n_max == c["maxn"]
    r = np.linspace(0.05, 1.1 * rad.r_cut, 300)
    r = r[np.abs(r - rad.r_in) > 1e-9]

    def pace(r):
        x = ((1 + c["r0"]) / (1 + r)) ** c["p"]
        dx = -c["p"] * ((1 + r) / (1 + c["r0"])) ** (-c["p"] - 1) / (1 + c["r0"])
        zero = ((x < c["xl"]) & (c["pl"] > 0)) | ((x > c["xr"]) & (c["pr"] > 0))
        f = np.where(zero, 0.0, (x - c["xl"]) ** c["pl"] * (x - c["xr"]) ** c["pr"])
        df = np.where(
            zero,
            0.0,
            c["pl"] * (x - c["xl"]) ** (c["pl"] - 1) * (x - c["xr"]) ** c["pr"]
            + (x - c["xl"]) ** c["pl"] * c["pr"] * (x - c["xr"]) ** (c["pr"] - 1.0),
        )
        A, B, C = c["A"], c["B"], c["C"]
        P = np.zeros((len(r), c["maxn"]))
        dP = np.zeros_like(P)
        P[:, 0], dP[:, 0] = A[0] * f, A[0] * df * dx
        for n in range(1, c["maxn"]):
            prev2 = P[:, n - 2] if n >= 2 else 0.0
            dprev2 = dP[:, n - 2] if n >= 2 else 0.0
            P[:, n] = (A[n] * x + B[n]) * P[:, n - 1] + C[n] * prev2
            dP[:, n] = A[n] * dx * P[:, n - 1] + (A[n] * x + B[n]) * dP[:, n - 1] + C[n] * dprev2
        return P, dP

    R, dR = rad(r)
    P, dP = pace(r)
    assert np.all(np.isfinite(dP))
    np.testing.assert_allclose(P, R, rtol=1e-12, atol=1e-14 * np.abs(R).max())
    np.testing.assert_allclose(dP, dR, rtol=1e-11, atol=1e-13 * np.abs(dR).max())


def _ml_pace_sbessel(n_max, rc, r):
    """ML-PACE's ``simplified_bessel`` written out in its own terms (test-side reference):
    ``sinc(x) = sin x / x``, ``f_n`` and the ``e_n, d_n`` recursion as in ace_radial.cpp."""

    def aux(n):
        c = (-1) ** n * np.sqrt(2) * np.pi / rc**1.5 * (n + 1) * (n + 2)
        c /= np.sqrt((n + 1) ** 2 + (n + 2) ** 2)
        x1, x2 = r * (n + 1) * np.pi / rc, r * (n + 2) * np.pi / rc
        return c * (np.sin(x1) / x1 + np.sin(x2) / x2)

    g = [aux(0)]
    d_prev = 1.0
    for n in range(1, n_max):
        en = n**2 * (n + 2) ** 2 / (4 * (n + 1) ** 4 + 1)
        dn = 1 - en / d_prev
        g.append((aux(n) + np.sqrt(en / d_prev) * g[-1]) / np.sqrt(dn))
        d_prev = dn
    return np.stack(g, axis=1)


@pytest.mark.parametrize("evaluate", [lambda rad, r: rad(r), _kernel], ids=["numpy", "numba"])
@pytest.mark.parametrize("rad", [r for r in RADIALS if r.name == "sbessel"], ids=repr)
def test_sbessel_is_ml_pace_simplified_bessel(rad, evaluate):
    r = np.linspace(0.02, rad.r_cut * 0.9999, 300)
    R, _ = evaluate(rad, r)
    np.testing.assert_allclose(
        R, _ml_pace_sbessel(rad.n_max, rad.r_cut, r), rtol=1e-11, atol=1e-13 * np.abs(R).max()
    )


@pytest.mark.parametrize("n_max, rc", [(8, 5.0), (14, 4.5)])
def test_sbessel_is_what_ml_pace_itself_computes(n_max, rc):
    """The values of ML-PACE's C++ ``ACERadialFunctions.radbase("SBessel", …)`` (through pyace,
    no splines) equal SBesselRadial's, Numba kernel included."""
    pyace = pytest.importorskip(
        "pyace", reason="pyace (pip install --pre python-ace) not installed"
    )
    rf = pyace.ACERadialFunctions(n_max, 0, 1, 0.001, 1, [["SBessel"]])
    r = np.concatenate([np.linspace(0.05, rc - 1e-6, 157), [rc - 0.005, rc - 0.001]])
    ref = []
    for x in r:
        rf.radbase(5.25, rc, 0.01, "SBessel", float(x), 0.0, 0.0)
        ref.append(np.array(rf.gr, dtype=float))
    ref = np.array(ref)
    rad = SBesselRadial(n_max, rc)
    for evaluate in (lambda rad, r: rad(r), _kernel):
        np.testing.assert_allclose(evaluate(rad, r)[0], ref, rtol=0, atol=1e-13 * np.abs(ref).max())


def test_sbessel_spans_sines_that_are_c2_at_the_cutoff():
    """``R_1..R_N`` lie in span{sin(kπr/r_c)/r, k = 1..N+1} (exactly: residual at round-off),
    and, having no envelope, are still C² at ``r_c``: a triple zero, R'' → 0."""
    rad = SBesselRadial(10, 4.5)
    r = np.linspace(0.1, 4.4, 400)
    R, _ = rad(r)
    S = np.sin(np.outer(r, np.arange(1, 12)) * np.pi / 4.5) / r[:, None]
    coef, *_ = np.linalg.lstsq(S, R, rcond=None)
    assert np.abs(S @ coef - R).max() < 1e-11 * np.abs(R).max()
    assert np.abs(S[:, :10] @ np.linalg.lstsq(S[:, :10], R, rcond=None)[0] - R).max() > 1e-3

    def second_derivative(h):  # R'' at r_c − 2h by a central difference
        R1, R2, R3 = (rad(np.array([4.5 - k * h]))[0] for k in (1, 2, 3))
        return (R3 - 2 * R2 + R1) / h**2, R2 / R1

    big, ratio = second_derivative(1e-3)
    small, _ = second_derivative(1e-4)
    np.testing.assert_allclose(ratio, 8.0, rtol=2e-2)  # R ∝ (r_c − r)³
    np.testing.assert_allclose(small / big, 0.1, rtol=2e-2)  # R'' ∝ (r_c − r) → 0


def test_ace1_default_envelope_is_a_double_zero_and_inner_envelope_clamps():
    rad = ACE1Radial(3, 5.0, r_0=2.0)  # p = 2: R and R' vanish at r_c, R'' does not
    d = 1e-3
    R1, dR1 = rad(np.array([5.0 - d]))
    R2, dR2 = rad(np.array([5.0 - 2 * d]))
    np.testing.assert_allclose(R2 / R1, 4.0, rtol=0.01)
    np.testing.assert_allclose(dR2 / dR1, 2.0, rtol=0.01)
    inner = ACE1Radial(3, 5.0, r_0=2.0, r_in=1.0, envelope_p_in=2)
    R, dR = inner(np.array([0.3, 1.0, 1.0 + 1e-3]))
    assert np.all(R[:2] == 0) and np.all(dR[:2] == 0) and np.all(R[2] != 0)
    Rk, dRk = _kernel(inner, np.array([0.3, 1.0]))
    assert np.all(Rk == 0) and np.all(dRk == 0)


def test_ace1_r0_cancels():
    r = np.linspace(0.3, 4.9, 20)
    a = ACE1Radial(5, 5.0, r_0=1.0, r_in=0.5)(r)
    b = ACE1Radial(5, 5.0, r_0=3.0, r_in=0.5)(r)
    np.testing.assert_allclose(a[0], b[0], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(a[1], b[1], rtol=1e-11, atol=1e-13)


def test_envelope_polynomial():
    for p in (1, 2, 5, 6, 9):
        x = np.linspace(0, 0.999, 57)
        f = np.array([envelope_polynomial(xi, float(p))[0] for xi in x])
        df = np.array([envelope_polynomial(xi, float(p))[1] for xi in x])
        np.testing.assert_allclose(f, _envelope(x, p), atol=1e-14)
        h = 1e-6
        fd = (_envelope(x + h, p) - _envelope(x - h, p)) / (2 * h)
        np.testing.assert_allclose(df, fd, atol=1e-6)
        assert envelope_polynomial(0.0, float(p))[0] == 1.0
        assert envelope_polynomial(1.0, float(p)) == (0.0, 0.0)
        assert envelope_polynomial(1.7, float(p)) == (0.0, 0.0)
        # triple zero at x = 1: f(1 − 2δ)/f(1 − δ) → 8, f'(1 − 2δ)/f'(1 − δ) → 4
        d = 1e-3
        f1, df1 = envelope_polynomial(1 - d, float(p))
        f2, df2 = envelope_polynomial(1 - 2 * d, float(p))
        assert f2 / f1 == pytest.approx(8, rel=0.02)
        assert df2 / df1 == pytest.approx(4, rel=0.02)


# ------------------------------------------------------------------------------ derivatives


@pytest.mark.parametrize("rad", RADIALS, ids=IDS)
@settings(max_examples=40, deadline=None)
@given(u=st.floats(0.02, 1.2))
def test_derivative_matches_central_differences(rad, u):
    r = u * rad.r_cut
    h = 1e-6 * rad.r_cut
    R, dR = rad(r)
    fd = (rad(r + h)[0] - rad(r - h)[0]) / (2 * h)
    scale = max(1.0, np.abs(R).max() / rad.r_cut, np.abs(dR).max())
    np.testing.assert_allclose(dR, fd, rtol=1e-6, atol=1e-7 * scale)
    Rk, dRk = _kernel(rad, r)
    np.testing.assert_allclose(dRk, fd, rtol=1e-6, atol=1e-7 * scale)


# ------------------------------------------------------------------------------ cutoff


@pytest.mark.parametrize("rad", RADIALS, ids=IDS)
@pytest.mark.parametrize("evaluate", [lambda rad, r: rad(r), _kernel], ids=["numpy", "numba"])
def test_vanishes_smoothly_at_cutoff(rad, evaluate):
    rc = rad.r_cut
    R, dR = evaluate(rad, np.array([rc, np.nextafter(rc, np.inf), 1.5 * rc, 40 * rc]))
    assert np.all(R == 0) and np.all(dR == 0)
    # "close to r_c" in units of the shortest wavelength: the enveloped kinds are damped over
    # the outer part of [0, r_c]; SBessel has no envelope, its cubic zero has a prefactor
    # ∝ ((n_max + 1)π/r_c)³, so it is probed (n_max + 1) times closer
    d = 1e-3 * rc / (rad.n_max + 1 if rad.name == "sbessel" else 1)
    R1, dR1 = evaluate(rad, np.array([rc - d]))
    R2, dR2 = evaluate(rad, np.array([rc - 2 * d]))
    # at least a triple zero of R (≥ double of R'): halving the distance divides by ≥ 8 (≥ 4)
    assert np.all(np.abs(R2) >= 7.5 * np.abs(R1))
    assert np.all(np.abs(dR2) >= 3.7 * np.abs(dR1))
    Rmid, dRmid = evaluate(rad, np.array([0.5 * rc]))
    assert np.abs(R1).max() < 1e-7 * np.abs(Rmid).max()
    assert np.abs(dR1).max() < 1e-4 * max(np.abs(dRmid).max(), np.abs(Rmid).max() / rc)


# ------------------------------------------------------------------------------ numba kernel


@pytest.mark.parametrize("rad", RADIALS, ids=IDS)
def test_kernel_matches_vectorised_call(rad):
    rng = np.random.default_rng(7)
    r = np.concatenate([rng.uniform(0.01, 1.3, 200) * rad.r_cut, [rad.r_cut]])
    R, dR = rad(r)
    Rk, dRk = _kernel(rad, r)
    np.testing.assert_allclose(Rk, R, rtol=1e-11, atol=1e-13 * np.abs(R).max())
    np.testing.assert_allclose(dRk, dR, rtol=1e-11, atol=1e-13 * np.abs(dR).max())


def test_kernel_writes_only_first_n_max_and_zeros_beyond_cutoff():
    table = np.stack([rad.params() for rad in RADIALS])
    assert table.shape == (len(RADIALS), MAX_PARAMS) and table.dtype == np.float64
    for k, rad in enumerate(RADIALS):
        n = rad.n_max - 1 if rad.n_max > 1 else 1
        for r in (0.5 * rad.r_cut, 2.0 * rad.r_cut):
            R = np.full(rad.n_max + 3, 123.0)
            dR = np.full(rad.n_max + 3, 123.0)
            radial_with_derivative(table[k], n, r, R, dR)
            assert np.all(R[n:] == 123.0) and np.all(dR[n:] == 123.0)
            if r > rad.r_cut:
                assert np.all(R[:n] == 0.0) and np.all(dR[:n] == 0.0)
            else:
                np.testing.assert_allclose(R[:n], rad(r)[0][0, :n], rtol=1e-12)


def test_kernel_rejects_unknown_kind():
    p = BesselRadial(2, 5.0).params()
    p[0] = 7.0
    with pytest.raises(ValueError, match="kind"):
        radial_with_derivative(p, 2, 1.0, np.empty(2), np.empty(2))


def test_kernel_does_not_allocate():
    """Run in a subprocess with NRT statistics on: allocations must not scale with calls."""
    code = textwrap.dedent(
        """
        import numba, numpy as np
        from numba.core.runtime import rtsys
        from ace_ref.one_particle.radial import (
            ACE1Radial, BesselRadial, PolynomialRadial, radial_with_derivative
        )

        @numba.njit
        def loop(p, n, m, R, dR):
            acc = 0.0
            for i in range(m):
                radial_with_derivative(p, n, 0.1 + 6.0 * i / m, R, dR)
                acc += R[0]
            return acc

        for rad in (BesselRadial(4, 5.0), PolynomialRadial(4, 5.0, 2.0),
                    PolynomialRadial(4, 5.0, 2.0, q=4.0, transform="agnesi"),
                    ACE1Radial(4, 5.0, 2.0, r_in=0.5, envelope_p_in=2)):
            p, R, dR = rad.params(), np.zeros(4), np.zeros(4)
            loop(p, 4, 1, R, dR)
            s0 = rtsys.get_allocation_stats(); loop(p, 4, 1, R, dR)
            s1 = rtsys.get_allocation_stats(); loop(p, 4, 500, R, dR)
            s2 = rtsys.get_allocation_stats()
            assert s2.alloc - s1.alloc == s1.alloc - s0.alloc, (s0, s1, s2)
        print("ok")
        """
    )
    env = dict(os.environ, NUMBA_NRT_STATS="1")
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr


# ------------------------------------------------------------------------------ serialisation


@pytest.mark.parametrize("rad", RADIALS, ids=IDS)
def test_dict_round_trip(rad):
    d = rad.to_dict()
    assert d["type"] == rad.name
    d2 = json.loads(json.dumps(d))
    for again in (radial_from_dict(d2), type(rad).from_dict(d2)):
        assert again == rad and type(again) is type(rad)
        np.testing.assert_array_equal(again.params(), rad.params())


def test_numpy_scalars_are_normalised_to_json_types():
    rad = PolynomialRadial(np.int64(4), np.float64(5.0), r_0=np.float32(2.0), envelope_p=6.0)
    d = rad.to_dict()
    assert type(d["n_max"]) is int and type(d["envelope_p"]) is int
    assert type(d["r_cut"]) is float and type(d["r_0"]) is float
    json.dumps(d)


def test_from_dict_errors():
    with pytest.raises(ValueError, match="unknown radial basis type"):
        radial_from_dict({"type": "gaussian", "n_max": 2, "r_cut": 5.0})
    with pytest.raises(ValueError, match="unknown radial basis type"):
        radial_from_dict({"n_max": 2, "r_cut": 5.0})
    with pytest.raises(ValueError, match="type must be 'bessel'"):
        BesselRadial.from_dict(PolynomialRadial(2, 5.0, 1.0).to_dict())
    with pytest.raises(ValueError, match="unknown keys"):
        BesselRadial.from_dict({"type": "bessel", "n_max": 2, "r_cut": 5.0, "r_0": 1.0})


# ------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: BesselRadial(0, 5.0), "n_max"),
        (lambda: BesselRadial(-2, 5.0), "n_max"),
        (lambda: BesselRadial(2.5, 5.0), "n_max"),
        (lambda: BesselRadial(True, 5.0), "n_max"),
        (lambda: BesselRadial(3, 0.0), "r_cut"),
        (lambda: BesselRadial(3, -1.0), "r_cut"),
        (lambda: BesselRadial(3, float("nan")), "r_cut"),
        (lambda: BesselRadial(3, float("inf")), "r_cut"),
        (lambda: BesselRadial(3, "5"), "r_cut"),
        (lambda: BesselRadial(3, 5.0, envelope_p=0), "envelope_p"),
        (lambda: BesselRadial(3, 5.0, envelope_p=2.5), "envelope_p"),
        (lambda: PolynomialRadial(0, 5.0, 1.0), "n_max"),
        (lambda: PolynomialRadial(3, -5.0, 1.0), "r_cut"),
        (lambda: PolynomialRadial(3, 5.0, r_0=0.0), "r_0"),
        (lambda: PolynomialRadial(3, 5.0, r_0=-1.0), "r_0"),
        (lambda: PolynomialRadial(3, 5.0, r_0=float("nan")), "r_0"),
        (lambda: PolynomialRadial(3, 5.0, 1.0, q=0.0), "q"),
        (lambda: PolynomialRadial(3, 5.0, 1.0, r_in=-0.1), "r_in"),
        (lambda: PolynomialRadial(3, 5.0, 1.0, r_in=5.0), "r_in"),
        (lambda: PolynomialRadial(3, 5.0, 1.0, transform="morse"), "transform"),
        (lambda: ACE1Radial(3, 5.0, 1.0, q=2.5), "q"),
        (lambda: ACE1Radial(3, 5.0, 1.0, q=0), "q"),
        (lambda: ACE1Radial(3, 5.0, 0.0), "r_0"),
        (lambda: ACE1Radial(3, 5.0, 1.0, r_in=5.0), "r_in"),
        (lambda: ACE1Radial(3, 5.0, 1.0, envelope_p=0), "envelope_p"),
        (lambda: ACE1Radial(3, 5.0, 1.0, envelope_p_in=-1), "envelope_p_in"),
        (
            lambda: PolynomialRadial(3, 5.0, 1.0, q=2.0, transform="agnesi", agnesi_p=3.0),
            "agnesi_p",
        ),  # fmt: skip
        (
            lambda: PolynomialRadial(3, 5.0, 1.0, q=1.0, transform="agnesi", agnesi_p=1.0),
            "agnesi_p",
        ),  # fmt: skip
    ],
)
def test_bad_parameters(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("rad", [RADIALS[0], RADIALS[2]], ids=["bessel", "polynomial"])
@pytest.mark.parametrize(
    "r, match",
    [
        (np.array([1.0, np.nan]), r"r must be finite; r\[1\]"),
        (np.inf, "r must be finite"),
        (np.array([0.0]), "r must be positive"),
        (np.array([1.0, 2.0, -0.5]), r"r must be positive \(r > 0\); r\[2\]"),
        (np.ones((2, 2)), "1-D"),
    ],
)
def test_bad_distances(rad, r, match):
    with pytest.raises(ValueError, match=match):
        rad(r)


def test_call_shapes():
    rad = PolynomialRadial(4, 5.0, 2.0)
    assert rad(1.0)[0].shape == (1, 4)
    assert rad([1.0, 2.0, 6.0])[1].shape == (3, 4)
    assert rad(np.empty(0))[0].shape == (0, 4)
