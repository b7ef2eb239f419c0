r"""Stage 7 — verification of any ASE calculator, and proofs about bases.

* :mod:`~ace_ref.verify.symmetry` — invariance under O(3) (rotations and reflections),
  translations, permutations and re-wrapping; equivariance of ``L > 0`` features;
* :mod:`~ace_ref.verify.derivatives` — forces and stress against finite differences;
* :mod:`~ace_ref.verify.body_order` — the many-body expansion ``V_M`` by inclusion–exclusion;
* :mod:`~ace_ref.verify.smoothness` — no jumps at the cutoff;
* :mod:`~ace_ref.verify.span` — span inclusion of one basis in another (sparsifications);
* :mod:`~ace_ref.verify.report` — all checks as one table, and calculators named on the command
line.

Every check returns :class:`~ace_ref.verify._common.CheckResult` rows and never lets a
calculator's exception escape. Paper: the symmetry and body-order claims of arXiv:2205.06643
(Secs. 2–4) as executable tests.
"""

from ace_ref.verify._common import DEFAULT_STEPS, FLOORS, MAX_EVALUATIONS, CheckResult
from ace_ref.verify.body_order import BodyOrderSpectrum, body_order, plot_body_order
from ace_ref.verify.derivatives import check_forces
from ace_ref.verify.report import (
    LJ_PARAMETERS,
    calculator_from_spec,
    default_structure,
    format_report,
    verify_report,
)
from ace_ref.verify.smoothness import check_smoothness
from ace_ref.verify.span import (
    InclusionReport,
    SpeciesInclusion,
    coefficient_inclusion,
    random_environments,
    span_inclusion,
)
from ace_ref.verify.symmetry import check_equivariance, check_invariance

__all__ = [
    "DEFAULT_STEPS",
    "FLOORS",
    "LJ_PARAMETERS",
    "MAX_EVALUATIONS",
    "BodyOrderSpectrum",
    "CheckResult",
    "InclusionReport",
    "SpeciesInclusion",
    "body_order",
    "calculator_from_spec",
    "check_equivariance",
    "check_forces",
    "check_invariance",
    "check_smoothness",
    "coefficient_inclusion",
    "default_structure",
    "format_report",
    "plot_body_order",
    "random_environments",
    "span_inclusion",
    "verify_report",
]
