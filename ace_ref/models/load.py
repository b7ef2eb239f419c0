"""Read any ace_ref model file, linear or two-layer; pick the model class that fits a basis."""

from __future__ import annotations

from pathlib import Path

from ace_ref.basis.ace import ACEBasis
from ace_ref.basis.sum_basis import SumBasis
from ace_ref.basis.two_layer import TwoLayerBasis
from ace_ref.models import sum_model, two_layer
from ace_ref.models.files import model_from_parts, read_model_file
from ace_ref.models.linear import FORMAT_NAME, FORMAT_VERSION, LinearACEModel
from ace_ref.models.two_layer import TwoLayerModel

__all__ = ["load", "model_for"]


def load(path: str | Path, cache_dir="default") -> LinearACEModel | TwoLayerModel:
    """Read a model written by :meth:`LinearACEModel.save` (or a
    :class:`ace_ref.models.two_layer.TwoLayerModel`); any defect raises ModelFileError."""
    path, header, coefficients, arrays = read_model_file(path)
    if header.get("format") == sum_model.FORMAT_NAME:
        return sum_model.model_from_file_parts(path, header, coefficients, arrays, cache_dir)
    if header.get("format") == two_layer.FORMAT_NAME:
        return two_layer.model_from_file_parts(path, header, coefficients, arrays, cache_dir)
    return model_from_parts(
        path,
        header,
        coefficients,
        arrays,
        format_name=FORMAT_NAME,
        version=FORMAT_VERSION,
        basis_class=ACEBasis,
        model_class=LinearACEModel,
        cache_dir=cache_dir,
    )


def model_for(basis, coefficients, e0=None, metadata=None, uncertainty=None, core=None):
    """The model class that goes with ``basis``: a :class:`TwoLayerModel` for a two-layer
    basis, a :class:`~ace_ref.models.sum_model.SumModel` for a sum of bases, a
    :class:`LinearACEModel` for any other."""
    if isinstance(basis, SumBasis):
        return sum_model.SumModel(basis, coefficients, e0, metadata, uncertainty, core)
    if isinstance(basis, TwoLayerBasis):
        return TwoLayerModel(basis, coefficients, e0, metadata, uncertainty, core)
    return LinearACEModel(basis, coefficients, e0, metadata, uncertainty, core)
