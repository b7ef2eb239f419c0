"""Radial bases: formulas, derivatives, smoothness at the cutoff, serialisation, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import eval_legendre

from ace_ref.radial import BesselRadial, PolynomialRadial, radial_from_dict

RADIALS = [
    BesselRadial(8, 5.0),
    PolynomialRadial(8, 5.0, r_0=2.5, q=2.0, r_in=0.5),
    BesselRadial(3, 3.0, envelope_p=4),
]


def _envelope(x, p):
    return np.where(
        x < 1,
        1
        - (p + 1) * (p + 2) / 2 * x**p
        + p * (p + 2) * x ** (p + 1)
        - p * (p + 1) / 2 * x ** (p + 2),
        0.0,
    )


def test_bessel_formula():
    rad = BesselRadial(6, 4.0)
    r = np.linspace(0.3, 3.9, 25)
    R, _ = rad(r)
    for n in range(1, 7):
        ref = np.sqrt(2 / 4.0) * np.sin(n * np.pi * r / 4.0) / r * _envelope(r / 4.0, 6)
        np.testing.assert_allclose(R[:, n - 1], ref, atol=1e-14)


def test_polynomial_formula_is_legendre_in_transformed_distance():
    rad = PolynomialRadial(7, 5.0, r_0=2.0, q=3.0, r_in=0.4)
    r = np.linspace(0.5, 4.9, 30)
    R, _ = rad(r)
    s = lambda x: ((1 + 2.0) / (1 + x)) ** 3.0  # noqa: E731
    y = 2 * (s(r) - s(5.0)) / (s(0.4) - s(5.0)) - 1
    for n in range(1, 8):
        np.testing.assert_allclose(
            R[:, n - 1], eval_legendre(n - 1, y) * _envelope(r / 5.0, 6), atol=1e-13
        )


@pytest.mark.parametrize("rad", RADIALS)
@settings(max_examples=25, deadline=None)
@given(r=st.floats(0.2, 6.0))
def test_derivative_matches_finite_differences(rad, r):
    h = 1e-6
    _, dR = rad(r)
    fd = (rad(r + h)[0] - rad(r - h)[0]) / (2 * h)
    np.testing.assert_allclose(dR, fd, atol=1e-6 * max(1, np.abs(dR).max()))


@pytest.mark.parametrize("rad", RADIALS)
def test_value_and_derivative_vanish_at_cutoff(rad):
    rc = rad.r_cut
    R, dR = rad(np.array([rc * (1 - 1e-4), rc, rc * 1.5]))
    assert np.all(R[1:] == 0) and np.all(dR[1:] == 0)
    assert np.abs(R[0]).max() < 1e-8 and np.abs(dR[0]).max() < 1e-5


@pytest.mark.parametrize("rad", RADIALS)
def test_dict_round_trip(rad):
    again = radial_from_dict(rad.to_dict())
    assert again == rad
    np.testing.assert_array_equal(again.params(), rad.params())


def test_bad_parameters():
    with pytest.raises(ValueError, match="n_max"):
        BesselRadial(0, 5.0)
    with pytest.raises(ValueError, match="r_cut"):
        BesselRadial(3, -1.0)
    with pytest.raises(ValueError, match="r_0"):
        PolynomialRadial(3, 5.0, r_0=0.0)
    with pytest.raises(ValueError, match="finite and positive"):
        BesselRadial(3, 5.0)(np.array([np.nan]))
    with pytest.raises(ValueError, match="unknown radial"):
        radial_from_dict({"type": "gaussian"})
