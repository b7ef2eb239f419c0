"""What every basis offers: the interface the fit, the models and the checks rely on.

A basis maps a structure to per-atom features ``B_{i,k}`` (packed layout: column
``z·K + k`` for central species ``z``; a basis whose elements have different numbers of
functions says where each element's block is with ``species_columns``) that are linear in the
coefficients, so that

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

__all__ = ["Basis", "require_same_functions_per_species", "species_columns"]


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


def species_columns(basis: Basis, s: int) -> np.ndarray:
    """The columns of central species ``s`` (index in ``basis.elements``): the basis's own
    ``species_columns(s)`` if it has one (blocks of different widths, e.g. per-element degree
    budgets), else the packed block ``s K … (s+1) K − 1`` with ``K = len(basis) / n_species``."""
    own = getattr(basis, "species_columns", None)
    if own is not None:
        return np.asarray(own(s), dtype=np.int64)
    K = len(basis) // len(basis.elements)
    return np.arange(s * K, (s + 1) * K)


def require_same_functions_per_species(basis: Basis, what: str) -> None:
    """Refuse a basis whose elements have different function lists (per-element degree
    budgets, selected functions) where ``what`` compares function lists column by column.

    Raises
    ------
    ValueError
        Naming ``what`` and the budgets or the selection.
    """
    scales = getattr(basis, "element_degree_scale", None)
    if scales is not None:
        text = ", ".join(f"{el} × {v}" for el, v in scales.items())
        raise ValueError(
            f"{what} needs the same function list for every element, but this basis has "
            f"per-element degree budgets ({text}); use the basis without element_degree_scale "
            "(each element's functions are a subset of its list)"
        )
    if getattr(basis, "selected_functions", None) is not None:
        raise ValueError(
            f"{what} needs the same function list for every element, but this basis keeps "
            "selected functions per element; use the basis it was selected from (each "
            "element's functions are a subset of its list)"
        )
