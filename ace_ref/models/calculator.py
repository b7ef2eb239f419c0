"""ASE calculator for any ace_ref model with a ``predict(atoms)`` method."""

from __future__ import annotations

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

__all__ = ["ACECalculator"]


class ACECalculator(Calculator):
    """ASE calculator: energy, free_energy, energies, forces and (periodic) stress.

    ``model`` is any ace_ref model (:class:`~ace_ref.models.linear.LinearACEModel`,
    :class:`~ace_ref.models.two_layer.TwoLayerModel`): anything whose ``predict(atoms)`` returns
    ``energy``, ``energies``, ``forces`` and, for periodic structures, the 3×3 ``stress``.
    """

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress"]

    def __init__(self, model, **kwargs) -> None:
        super().__init__(**kwargs)
        self.model = model

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        out = self.model.predict(self.atoms)
        self.results = {
            "energy": out["energy"],
            "free_energy": out["energy"],
            "energies": out["energies"],
            "forces": out["forces"],
        }
        if "stress" in out:
            s = out["stress"]
            self.results["stress"] = np.array(
                [s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]]
            )
        elif "stress" in properties:
            from ase.calculators.calculator import PropertyNotImplementedError

            raise PropertyNotImplementedError("stress needs a fully periodic structure")
