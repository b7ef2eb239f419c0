"""ace_ref: the full linear Atomic Cluster Expansion, exact and verified.

The package is laid out as the stages of ACE, each importing only the ones before it::

    one_particle  neighbours, R_nl(r), Y_lm(r̂)              -> φ_znlm(r_ij)
    coupling      Clebsch–Gordan, symmetric and chain coupling -> C
    kernels       A = Σ_j φ, AA = Π A, B = C·AA, ∂B/∂r          (Numba)
    basis         ACEBasis, TwoLayerBasis (one interface)    -> B_{i,k}, design rows
    models        LinearACEModel, files, ASE calculator, .yace
    fit           data, assembly, solvers, fit(...)          -> model + error report
    verify        symmetry, derivatives, body order, smoothness, span inclusion
    cli           ace-ref: argument parsing around the calls above

Main entry points: :class:`ace_ref.ACEBasis`, :func:`ace_ref.fit` (``ace_ref.fit(train, basis)``
fits and returns the model and its error report), :class:`ace_ref.LinearACEModel`,
:func:`ace_ref.load`, :class:`ace_ref.ACECalculator`, :mod:`ace_ref.verify` and
:mod:`ace_ref.coupling`. Every default is in :mod:`ace_ref.defaults`.
"""

from ace_ref import coupling, fit, verify
from ace_ref.basis import ACEBasis, TwoLayerBasis
from ace_ref.fit import compute_errors
from ace_ref.models import ACECalculator, LinearACEModel, TwoLayerModel, load

__all__ = [
    "ACEBasis",
    "ACECalculator",
    "LinearACEModel",
    "TwoLayerBasis",
    "TwoLayerModel",
    "compute_errors",
    "coupling",
    "fit",
    "load",
    "verify",
    "__version__",
]
__version__ = "0.1.0"
