"""What every basis offers: the interface the fit, the models and the checks rely on.

A basis maps a structure to per-atom features ``B_{i,k}`` (packed layout: column
``z·K + k`` for central species ``z``) that are linear in the coefficients, so that

.. math:: E = \\sum_i \\Big[E_0(z_i) + \\sum_k c_{z_i,k} B_{i,k}\\Big]

and its exact derivatives give the design rows of energies, forces and virials. Both
:class:`~ace_ref.basis.ace.ACEBasis` and :class:`~ace_ref.basis.two_layer.TwoLayerBasis`
satisfy it; a new kind of basis (user-built, or an adapter around another code) needs only
these members to be fitted by :func:`ace_ref.fit.fit`, saved, loaded and verified.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
from ase import Atoms

from ace_ref.basis.tables import DesignRows

__all__ = ["Basis"]


@runtime_checkable
class Basis(Protocol):
    """A linear basis of atomic features (structural typing: no base class to inherit)."""

    elements: list[str]
    """Chemical symbols, sorted by atomic number; column blocks follow this order."""

    has_equivariant_features: bool
    """True if :meth:`features` also gives ``L > 0`` features (for equivariance checks)."""

    def __len__(self) -> int:
        """Number of linear coefficients (all central species)."""

    def describe(self) -> str:
        """A human-readable summary: sizes per order, truncation, cutoffs."""

    def to_dict(self) -> dict:
        """Plain-data specification; ``from_dict(to_dict())`` rebuilds the same basis."""

    def fingerprint(self) -> str:
        """SHA-256 of what the coefficients depend on (detects a changed basis at load)."""

    def pairs(self, atoms: Atoms, where: str = "structure"):
        """The neighbour pairs the basis sees (:class:`~ace_ref.basis.ace.Pairs`)."""

    def features(self, atoms: Atoms, L: int = 0, where: str = "structure") -> np.ndarray:
        """Per-atom features ``(n_atoms, len(self))`` (or ``(…, 2L+1)`` for ``L > 0``)."""

    def design_rows(self, atoms: Atoms, where: str = "structure") -> DesignRows:
        """Energy, force and virial rows of the design matrix for one structure."""

    def column_degrees(self) -> np.ndarray:
        """Polynomial degree of every column, for the smoothness prior."""

    def column_orders(self) -> np.ndarray:
        """Correlation order ``ν`` of every column (packed layout), for per-order prior
        weights (:func:`ace_ref.fit.solvers.smoothness_prior`)."""

    def body_order(self) -> int:
        """The largest body order any feature reaches (ν + 1 for ACE)."""
