"""ace_ref: the full linear Atomic Cluster Expansion, exact and verified.

Main entry points: :class:`ace_ref.ACEBasis` (basis, features, design rows),
:class:`ace_ref.LinearACEModel` (fitted model: predict, save), :func:`ace_ref.load` (read a
model file), :class:`ace_ref.ACECalculator` (ASE calculator) and :mod:`ace_ref.coupling`
(exact coupling coefficients).
"""

from ace_ref.basis import ACEBasis
from ace_ref.model import ACECalculator, LinearACEModel, load

__all__ = ["ACEBasis", "ACECalculator", "LinearACEModel", "load", "__version__"]
__version__ = "0.1.0"
