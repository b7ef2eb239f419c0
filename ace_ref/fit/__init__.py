r"""Stage 6 — fitting: data, design rows, streamed assembly, solvers, the one fit call.

* :mod:`~ace_ref.fit.data` — extxyz reading and validation, isolated-atom energies E0;
* :mod:`~ace_ref.fit.assembly` — weighted design rows folded into an ``O(K²)`` summary (QR
  triangle or Gram matrix) on threads, in a fixed reduction plan (:mod:`~ace_ref.fit.reduction`);
* :mod:`~ace_ref.fit.distributed` — the same summary assembled on a Dask cluster;
* :mod:`~ace_ref.fit.solvers` — ridge, Bayesian linear regression, truncated SVD, LSQR with the
  smoothness prior ``Γ_kk = (1 + deg_k)^p`` (the LAPACK layer behind them is private);
* :mod:`~ace_ref.fit.pipeline` — :func:`fit`, the library's one fit call (:func:`plan`: its
  cost without running it), and
  :mod:`~ace_ref.fit.errors` — :func:`compute_errors` and its :class:`ErrorReport`.

Paper: the linear least-squares fit of ACE (Drautz 2019; arXiv:2205.06643 Sec. 7 for the
datasets); ``design rows → solver → model`` in the data flow.
"""

import sys
import types

from ace_ref.fit.assembly import (
    LinearSystem,
    Weights,
    assemble,
    merge,
    summarise,
    write_config_rows,
)
from ace_ref.fit.data import Config, elements_of, fit_e0, mean_e0, read_configs, read_e0
from ace_ref.fit.errors import ErrorReport, compute_errors
from ace_ref.fit.pipeline import FitResult, fit, plan
from ace_ref.fit.solvers import SOLVERS, Solution, smoothness_prior, solve

__all__ = [
    "SOLVERS",
    "Config",
    "ErrorReport",
    "FitResult",
    "LinearSystem",
    "Solution",
    "Weights",
    "assemble",
    "compute_errors",
    "elements_of",
    "fit",
    "plan",
    "fit_e0",
    "mean_e0",
    "merge",
    "read_configs",
    "read_e0",
    "smoothness_prior",
    "solve",
    "summarise",
    "write_config_rows",
]


class _CallableModule(types.ModuleType):
    """``ace_ref.fit`` is both this package and the fit call: ``ace_ref.fit(train, basis)`` is
    :func:`ace_ref.fit.pipeline.fit` (``from ace_ref.fit import assemble`` keeps working)."""

    def __call__(self, *args, **kwargs) -> FitResult:
        return fit(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
