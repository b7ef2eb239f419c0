"""Every default of ace_ref in one place.

Changing a default here changes it for the Python API and the ``ace-ref`` command alike.
"""

from __future__ import annotations

from fractions import Fraction

R_CUT = 5.0
"""Cutoff radius (Å)."""

RADIAL = "bessel"
"""Radial basis: ``"bessel"`` (NequIP Bessel × polynomial envelope) or ``"polynomial"``."""

ENVELOPE_P = 6
"""Exponent of the NequIP polynomial envelope."""

W_L = Fraction(3, 2)
"""Weight of ``l`` in the total degree ``Σ_t (n_t + w_L l_t)`` (exact rational)."""

MAX_FUNCTIONS = 250_000
"""Refuse to build a basis with more linear coefficients than this (say how many first)."""

POLYNOMIAL_R0_FRACTION = 0.5
"""For the polynomial radial basis without an explicit ``r_0``: ``r_0 = fraction × r_cut``."""

POLYNOMIAL_Q = 2
"""Exponent of the ``((1 + r_0)/(1 + r))^q`` distance transform."""
