"""ASE calculator for any ace_ref model with a ``predict(atoms)`` method."""

from __future__ import annotations

from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

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
            self.results["stress"] = full_3x3_to_voigt_6_stress(out["stress"])
        elif "stress" in properties:
            raise PropertyNotImplementedError("stress needs a fully periodic structure")
