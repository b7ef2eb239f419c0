r"""Stage 5 — fitted models ``E = Σ_i [E0(z_i) + Σ_k c_{z_i,k} B_{i,k}]``: files, calculators.

* :class:`~ace_ref.models.base.FittedModel` — what every model holds (coefficients, E0,
  metadata, uncertainty, core), its calculator and its file;
* :class:`~ace_ref.models.linear.LinearACEModel` — prediction through ``c̃ = Cᵀc`` and one
  adjoint sweep; :class:`~ace_ref.models.two_layer.TwoLayerModel` — the multi-ACE model;
* :mod:`~ace_ref.models.files` — the versioned plain-data file format (JSON + arrays,
  ``allow_pickle=False``, checksums, atomic writes); :func:`~ace_ref.models.load.load` reads any
  kind;
* :class:`~ace_ref.models.calculator.ACECalculator` — the ASE calculator;
* :mod:`~ace_ref.models.uncertainty` — what a model knows of its reliability (coverage of the
  training distances, BLR committee, extrapolation grade γ), and :mod:`~ace_ref.models.core`
  — the fixed ZBL repulsive core below the training distances;
* :mod:`~ace_ref.models.yace` — export to ML-PACE ``.yace`` (LAMMPS ``pair_style pace``), and
  :mod:`~ace_ref.models.yace_check` its check with pyace.

Paper: the linear energy model, Eq. (14) of arXiv:2205.06643.
"""

from ace_ref.models.calculator import ACECalculator
from ace_ref.models.files import ModelFileError
from ace_ref.models.linear import LinearACEModel
from ace_ref.models.load import load
from ace_ref.models.two_layer import TwoLayerModel
from ace_ref.models.yace import YaceExportError, export_yace

__all__ = [
    "ACECalculator",
    "LinearACEModel",
    "ModelFileError",
    "TwoLayerModel",
    "YaceExportError",
    "export_yace",
    "load",
]
