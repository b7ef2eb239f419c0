"""Read any ace_ref model file, whatever its kind; pick the model class that fits a basis."""

from __future__ import annotations

from pathlib import Path

from ace_ref.basis.ace import ACEBasis
from ace_ref.basis.sum_basis import SumBasis
from ace_ref.basis.two_layer import TwoLayerBasis
from ace_ref.models.base import FittedModel
from ace_ref.models.files import model_from_parts, read_model_file
from ace_ref.models.linear import LinearACEModel
from ace_ref.models.sum_model import SumModel
from ace_ref.models.two_layer import TwoLayerModel

__all__ = ["KINDS", "load", "model_for"]

KINDS = [(SumModel, SumBasis), (TwoLayerModel, TwoLayerBasis), (LinearACEModel, ACEBasis)]
"""Every model class with the basis class it stands on; the last is the default."""


def load(path: str | Path, cache_dir="default") -> FittedModel:
    """Read a model written by any model's ``save``: the file's format name picks the class
    (:data:`KINDS`; an unknown name is checked against the linear format and refused). Any
    defect raises :class:`~ace_ref.models.files.ModelFileError`."""
    path, header, coefficients, arrays = read_model_file(path)
    model_class, basis_class = next(
        ((m, b) for m, b in KINDS if m.FORMAT_NAME == header.get("format")), KINDS[-1]
    )
    return model_from_parts(
        path,
        header,
        coefficients,
        arrays,
        format_name=model_class.FORMAT_NAME,
        version=model_class.FORMAT_VERSION,
        basis_class=basis_class,
        model_class=model_class,
        cache_dir=cache_dir,
    )


def model_for(basis, coefficients, e0=None, metadata=None, uncertainty=None, core=None):
    """The model of :data:`KINDS` that goes with ``basis`` (a :class:`LinearACEModel` for any
    basis not listed there)."""
    model_class = next((m for m, b in KINDS if isinstance(basis, b)), KINDS[-1][0])
    return model_class(basis, coefficients, e0, metadata, uncertainty, core)
