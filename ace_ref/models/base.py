"""What every fitted ace_ref model holds, whatever its basis.

A model is a basis, one coefficient per basis column, isolated-atom energies ``E0``, fit
metadata, and optionally the :class:`~ace_ref.models.uncertainty.Uncertainty` of its fit and a
:class:`~ace_ref.models.core.RepulsiveCore`. Subclasses add ``predict`` and name their file
format (``FORMAT_NAME``, ``FORMAT_VERSION``).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from ace_ref.models.calculator import ACECalculator
from ace_ref.models.core import RepulsiveCore
from ace_ref.models.files import checked_core, checked_parts, write_model_file
from ace_ref.models.uncertainty import Uncertainty

__all__ = ["FittedModel"]


class FittedModel:
    """Coefficients, E0, metadata, uncertainty and core of a model on ``basis`` (checked)."""

    FORMAT_NAME: ClassVar[str]
    FORMAT_VERSION: ClassVar[int]

    def __init__(
        self,
        basis,
        coefficients,
        e0: dict[str, float] | None = None,
        metadata: dict | None = None,
        uncertainty: Uncertainty | None = None,
        core: RepulsiveCore | None = None,
    ) -> None:
        self.basis = basis
        self.coefficients, self.e0, self.metadata = checked_parts(basis, coefficients, e0, metadata)
        self.uncertainty = uncertainty
        """:class:`~ace_ref.models.uncertainty.Uncertainty` from the fit, or ``None``."""
        self.core = checked_core(basis, core)
        """Fixed :class:`~ace_ref.models.core.RepulsiveCore` added to the energy, or ``None``."""

    def calculator(self, uncertainty: bool = False, warn_outside: bool = False) -> ACECalculator:
        """An ASE calculator for this model (see :class:`ACECalculator` for the options)."""
        return ACECalculator(self, uncertainty=uncertainty, warn_outside=warn_outside)

    def save(self, path: str | Path) -> Path:
        """Write the model atomically (:func:`ace_ref.models.files.write_model_file`)."""
        return write_model_file(path, self.FORMAT_NAME, self.FORMAT_VERSION, self)
