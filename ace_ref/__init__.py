"""ace_ref: the full linear Atomic Cluster Expansion, exact and verified.

Main entry points: :class:`ace_ref.ACEBasis` (basis, features, design rows) and
:mod:`ace_ref.coupling` (exact coupling coefficients).
"""

from ace_ref.basis import ACEBasis

__all__ = ["ACEBasis", "__version__"]
__version__ = "0.1.0"
