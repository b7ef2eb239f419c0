r"""Stage 1 — the one-particle basis ``φ_{znlm}(r_ij) = R^{z_i z_j}_{nl}(r_ij) Y_l^m(r̂_ij) δ(z,
z_j)``.

* :mod:`~ace_ref.one_particle.neighbours` — every pair ``(i, j, shift)`` with ``|r_ij| < r_cut``
  (periodic images included), validated;
* :mod:`~ace_ref.one_particle.radial` — radial bases ``R_n(r)`` with derivatives, as objects
  (Bessel × NequIP envelope, polynomials in a transformed distance, ACE1/ML-PACE);
* :mod:`~ace_ref.one_particle.spherical` — real spherical harmonics ``Y_lm`` and their gradients,
  generated exactly from SymPy, with converters to e3nn's and sphericart's conventions.

Paper: the one-particle basis of arXiv:2205.06643, Eq. (7) (ACE) and the edge embedding of NequIP.
"""

from ace_ref.one_particle.neighbours import MIN_DISTANCE, NeighbourList, neighbour_list
from ace_ref.one_particle.radial import (
    ACE1Radial,
    BesselRadial,
    PolynomialRadial,
    RadialSpec,
    make_radial,
    radial_from_dict,
)
from ace_ref.one_particle.spherical import (
    LMAX_TABLE,
    complex_to_real_matrix,
    from_e3nn,
    from_sphericart,
    real_spherical_harmonics,
    to_e3nn,
    to_sphericart,
)

__all__ = [
    "ACE1Radial",
    "BesselRadial",
    "LMAX_TABLE",
    "MIN_DISTANCE",
    "NeighbourList",
    "PolynomialRadial",
    "RadialSpec",
    "complex_to_real_matrix",
    "from_e3nn",
    "from_sphericart",
    "make_radial",
    "neighbour_list",
    "radial_from_dict",
    "real_spherical_harmonics",
    "to_e3nn",
    "to_sphericart",
]
