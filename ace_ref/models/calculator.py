"""ASE calculator for any ace_ref model with a ``predict(atoms)`` method."""

from __future__ import annotations

import warnings

from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

__all__ = ["ACECalculator", "ExtrapolationWarning", "UNCERTAINTY_PROPERTIES"]

UNCERTAINTY_PROPERTIES = [
    "energy_std",
    "forces_std",
    "extrapolation_grade",
    "max_extrapolation_grade",
    "n_pairs_outside_training",
]
"""Extra ``results`` of an :class:`ACECalculator` made with ``uncertainty=True``."""


class ExtrapolationWarning(UserWarning):
    """A structure has pair distances outside the trained range (see ``warn_outside``)."""


class ACECalculator(Calculator):
    """ASE calculator: energy, free_energy, energies, forces and (periodic) stress.

    ``model`` is any ace_ref model (:class:`~ace_ref.models.linear.LinearACEModel`,
    :class:`~ace_ref.models.two_layer.TwoLayerModel`): anything whose ``predict(atoms)`` returns
    ``energy``, ``energies``, ``forces`` and, for periodic structures, the 3×3 ``stress``.

    With ``uncertainty=True`` (and a model fitted with its
    :class:`~ace_ref.models.uncertainty.Uncertainty`), ``results`` also hold
    ``energy_std`` (eV) and ``forces_std`` (eV/Å, ``(n, 3)``) of the BLR committee,
    ``extrapolation_grade`` (γ per atom) and its maximum, and ``n_pairs_outside_training``
    (pairs at a distance the training data never showed for their species pair). This costs
    the design rows of the structure: several times a plain energy and forces call.
    ``warn_outside=True`` warns (:class:`ExtrapolationWarning`) on every structure with a pair
    outside the trained range — cheap (the neighbour list only), for MD runs.
    """

    implemented_properties = [
        "energy",
        "free_energy",
        "energies",
        "forces",
        "stress",
        *UNCERTAINTY_PROPERTIES,
    ]

    def __init__(self, model, uncertainty: bool = False, warn_outside: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.model = model
        if (uncertainty or warn_outside) and getattr(model, "uncertainty", None) is None:
            raise ValueError(
                "this model carries no uncertainty data (fit it with ace_ref.fit / ace-ref fit "
                "of this version to record coverage, committee and active sets)"
            )
        self.uncertainty = uncertainty
        self.warn_outside = warn_outside

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
        u = getattr(self.model, "uncertainty", None)
        if self.uncertainty:
            report = u.assess(self.model.basis, self.atoms)
            for key in ("energy_std", "forces_std", "extrapolation_grade"):
                if key in report:
                    self.results[key] = report[key]
            if "max_extrapolation_grade" in report:
                self.results["max_extrapolation_grade"] = report["max_extrapolation_grade"]
            outside = report.get("outside", [])
            self.results["n_pairs_outside_training"] = len(outside)
        elif self.warn_outside and u.coverage is not None:
            outside = u.coverage.outside(self.model.basis, self.atoms)
        else:
            outside = []
        if self.warn_outside and outside:
            worst = max(
                outside, key=lambda o: max(o["trained"][0] - o["r"], o["r"] - o["trained"][1])
            )
            warnings.warn(
                f"{len(outside)} pair(s) outside the trained distance range or in a gap of the "
                f"data, e.g. {worst['pair']} atoms {worst['i']},{worst['j']} at "
                f"{worst['r']:.3f} Å (trained {worst['trained'][0]:.3f}–"
                f"{worst['trained'][1]:.3f} Å)",
                ExtrapolationWarning,
                stacklevel=2,
            )
