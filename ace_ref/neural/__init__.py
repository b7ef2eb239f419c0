r"""Stage 8 — real neural codes read into ace_ref terms: mace-torch (and e3nn) models.

Imports PyTorch lazily: the core package installs and imports without it; the functions here
raise :class:`ImportError` naming the ``[neural]`` extra when torch or mace-torch is absent.

* :mod:`~ace_ref.neural.mace` — the first MACE layer as an ACE basis. Its atomic base is
  ``A_{i,klm} = Σ_j R̃^{z_i z_j}_{kl}(r_ij) Y_lm(r̂_ji)`` (channel ``k``, the neighbour's species
  folded into the learnt radial, the centre's through the species-dependent linear map), its
  product basis couples ``ν`` factors of one channel ``k`` to invariants — ACE with
  species-embedded radials and ``uvu`` channels. :func:`~ace_ref.neural.mace.mace_basis`
  builds that ace_ref twin from a model; :func:`~ace_ref.neural.mace.span_residual` and
  :func:`~ace_ref.neural.mace.fit_linear_twin` give the numerical proofs.

Paper: arXiv:2205.06643 (design space; MACE as ACE with learnt radials, Sec. 4–5) and
arXiv:2206.07697 (MACE).
"""

from ace_ref.neural.mace import (
    MACEModelCalculator,
    fit_linear_twin,
    mace_basis,
    mace_node_features,
    mace_radials,
    span_residual,
)

__all__ = [
    "MACEModelCalculator",
    "fit_linear_twin",
    "mace_basis",
    "mace_node_features",
    "mace_radials",
    "span_residual",
]
