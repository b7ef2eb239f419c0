r"""Stage 4 — bases: specification, enumeration and evaluation behind one interface.

* :class:`~ace_ref.basis.ace.ACEBasis` — the full linear ACE basis and its NequIP-style
  sparsifications, ``B_{i,k} = Σ_v C_{kv} Π_t A_{i,v_t}``;
* :class:`~ace_ref.basis.two_layer.TwoLayerBasis` — two-layer linear message passing (multi-ACE);
* :class:`~ace_ref.basis.sum_basis.SumBasis` — parts with their own cutoffs side by side (a
  long-range pair part next to a short-range many-body part);
* :mod:`~ace_ref.basis.interface` — :class:`~ace_ref.basis.interface.Basis`, what every basis
  offers to the fit, the models and the checks;
* :mod:`~ace_ref.basis.tables` — the coupling tables in the layout the kernels read.

Paper: Eqs. (9)–(13) of arXiv:2205.06643 (coupled basis, truncation) and Sec. 6 (multi-ACE).
"""

from ace_ref.basis.ace import ACEBasis
from ace_ref.basis.interface import Basis
from ace_ref.basis.sum_basis import SumBasis, pair_and_many_body
from ace_ref.basis.tables import AtomicBaseGradients, BasisTables, DesignRows, assemble_tables
from ace_ref.basis.two_layer import TwoLayerBasis

__all__ = [
    "ACEBasis",
    "AtomicBaseGradients",
    "Basis",
    "BasisTables",
    "DesignRows",
    "SumBasis",
    "TwoLayerBasis",
    "assemble_tables",
    "pair_and_many_body",
]
