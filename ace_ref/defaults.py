"""Every default of ace_ref in one place.

Changing a default here changes it for the Python API and the ``ace-ref`` command alike.
"""

from __future__ import annotations

from fractions import Fraction

R_CUT = 5.0
"""Cutoff radius (Å)."""

RADIAL = "bessel"
"""Radial basis: ``"bessel"`` (NequIP Bessel × polynomial envelope), ``"polynomial"`` or
``"ace1"`` (exports to LAMMPS ``pair_style pace``, see docs/lammps.md)."""

ENVELOPE_P = 6
"""Exponent of the NequIP polynomial envelope."""

W_L = Fraction(3, 2)
"""Weight of ``l`` in the total degree ``Σ_t (n_t + w_L l_t)`` (exact rational)."""

MAX_OUTPUT_L = 2
"""Largest output ``L`` of equivariant features ``basis.features(atoms, L)`` a basis is sized
for: it sets how far the spherical harmonics go (see ``ACEBasis.l_max``)."""

MAX_FUNCTIONS = 250_000
"""Refuse to build a basis with more linear coefficients than this (say how many first)."""

POLYNOMIAL_R0_FRACTION = 0.5
"""For the polynomial radial basis without an explicit ``r_0``: ``r_0 = fraction × r_cut``."""

POLYNOMIAL_Q = 2
"""Exponent of the ``((1 + r_0)/(1 + r))^q`` distance transform."""

ACE1_R_IN_FRACTION = 0.4
"""For the ``"ace1"`` radial basis without an explicit ``r_in``: ``r_in = fraction × r_cut``.

``u`` runs from 1 at ``r_in`` to 0 at ``r_cut``. ``r_in`` does not change the functions' span
(for ``envelope_p_in = 0``), only the conditioning of the fit: with ``r_in = 0`` the occupied
distances (≳ 1 Å) squeeze into small ``u`` (Ta, order 4, q = 2: fitted coefficients ~1e13
with r_in = 0, ~5e3 with 0.4 r_cut)."""

ASSEMBLY_ROWS_PER_COLUMN = 8
"""Assembly partitions hold about this many rows per basis function (``8 (K+1)``), so a
partition's summary (``K²`` numbers) is small beside its rows (see ace_ref.reduction)."""

ASSEMBLY_MIN_PARTITIONS = 4
"""At least this many assembly partitions (parallel work for threads and Dask workers on small
data sets), as long as each keeps at least ``max(K + 1, 2048)`` rows."""
