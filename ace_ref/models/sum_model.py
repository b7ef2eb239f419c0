"""Fitted model on a :class:`~ace_ref.basis.sum_basis.SumBasis`; file format ``ace_ref.SumModel``.

``E = Σ_i [E0(z_i) + Σ_p Σ_k c^{(p)}_{z_i,k} B^{(p)}_{i,k}] (+ core)``: every part is
predicted by its own :class:`~ace_ref.models.linear.LinearACEModel` (product tree, one adjoint
sweep) on its slice of the coefficients, and the sums are added; E0, the repulsive core and the
uncertainty data belong to the whole model.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms

from ace_ref.basis.sum_basis import SumBasis
from ace_ref.models.base import FittedModel
from ace_ref.models.linear import LinearACEModel

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "SumModel"]

FORMAT_NAME = "ace_ref.SumModel"
FORMAT_VERSION = 2
"""2: + ``header_sha256`` over the whole header (E0, parts, core). Version 1 is still read."""


class SumModel(FittedModel):
    """Linear model on a sum of bases (see module docstring)."""

    FORMAT_NAME = FORMAT_NAME
    FORMAT_VERSION = FORMAT_VERSION

    def __init__(
        self,
        basis: SumBasis,
        coefficients,
        e0=None,
        metadata=None,
        uncertainty=None,
        core=None,
    ) -> None:
        super().__init__(basis, coefficients, e0, metadata, uncertainty, core)
        zero = dict.fromkeys(basis.elements, 0.0)
        self.parts = [
            LinearACEModel(part, self.coefficients[basis.columns(k)], zero)
            for k, part in enumerate(basis.parts)
        ]

    def predict(self, atoms: Atoms, where: str = "structure") -> dict:
        """Energy, per-atom energies, forces and (periodic) stress: the parts' sum, plus E0 and
        the core."""
        outs = [m.predict(atoms, where) for m in self.parts]
        e0 = np.array([self.e0[s] for s in atoms.get_chemical_symbols()])
        energies = sum(o["energies"] for o in outs) + e0
        forces = sum(o["forces"] for o in outs)
        stress = sum(o["stress"] for o in outs) if "stress" in outs[0] else None
        if self.core is not None:
            E_core, F_core, W_core = self.core.energy_forces(
                self.basis.pairs(atoms, where), len(atoms)
            )
            energies, forces = energies + E_core, forces + F_core
            if stress is not None:
                stress = stress + 0.5 * (W_core + W_core.T) / atoms.get_volume()
        out = {"energy": float(energies.sum()), "energies": energies, "forces": forces}
        if stress is not None:
            out["stress"] = stress
        return out
