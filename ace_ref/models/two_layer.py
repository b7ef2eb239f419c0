"""Fitted two-layer (multi-ACE) model and its file format ``ace_ref.TwoLayerModel``.

``E = Σ_i [E0(z_i) + Σ_k c_k B_{i,k}]`` with the packed columns of
:class:`ace_ref.basis.two_layer.TwoLayerBasis`; forces and stress from its exact design rows.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms

from ace_ref.models.base import FittedModel

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "TwoLayerModel"]


FORMAT_NAME = "ace_ref.TwoLayerModel"


FORMAT_VERSION = 3
"""2: + uncertainty arrays; 3: + ``header_sha256`` over the whole header. Older versions are
still read."""


# ---------------------------------------------------------------------------- model
class TwoLayerModel(FittedModel):
    """Fitted two-layer model: ``E = Σ_i [E0(z_i) + Σ_k c_k B_{i,k}]`` with the packed columns
    of :class:`TwoLayerBasis`; forces and stress from its exact design rows."""

    FORMAT_NAME = FORMAT_NAME
    FORMAT_VERSION = FORMAT_VERSION

    def predict(self, atoms: Atoms, where: str = "structure") -> dict:
        rows = self.basis.design_rows(atoms, where)
        e0 = np.array([self.e0[s] for s in atoms.get_chemical_symbols()])
        energies = self.basis.features(atoms, where=where) @ self.coefficients + e0
        out = {
            "energy": float(rows.energy @ self.coefficients + e0.sum()),
            "energies": energies,
            "forces": rows.forces @ self.coefficients,
        }
        W = rows.virial @ self.coefficients
        if self.core is not None:
            E_core, F_core, W_core = self.core.energy_forces(
                self.basis.pairs(atoms, where), len(atoms)
            )
            out["energy"] += float(E_core.sum())
            out["energies"] = energies + E_core
            out["forces"] = out["forces"] + F_core
            W = W + W_core
        if np.all(atoms.pbc):
            out["stress"] = 0.5 * (W + W.T) / atoms.get_volume()
        return out
