"""Shared pieces of the checks: result rows, scaled tolerances, safe calls, transformed copies.

Works with our models (``LinearACEModel(...).calculator()``), ASE's EMT or LennardJones, or
any object with the ASE calculator interface. Every check returns :class:`CheckResult` rows
and never lets an exception of the calculator escape: it becomes a failed row carrying the
message. (Invalid *arguments* of a check still raise ``ValueError``.)

Tolerances are scaled to the magnitude of the quantity compared:

.. math:: \\mathrm{tol} = \\mathrm{rtol} \\cdot \\max(\\mathrm{scale}, \\mathrm{floor}),

where ``scale`` is the largest magnitude of that quantity seen in the check (``|E|`` in eV,
``max |F|`` in eV/Å, ``max |σ|`` in eV/Å³, ``max |f|`` for features) and ``floor`` (the
same units, :data:`FLOORS`) keeps the tolerance meaningful when the quantity is (nearly)
zero, e.g. the forces of a relaxed structure. ``rtol`` defaults suit float64 calculators
(invariance 1e-8, finite differences 1e-5, body order 1e-9 of ``max |E(U)|``); for a
float32 calculator pass ``rtol`` of about ``1e-4``. :func:`check_smoothness` compares jumps
with the local slope instead (see there).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import sys
from dataclasses import asdict, dataclass, field

import numpy as np
from ase import Atoms

__all__ = ["FLOORS", "MAX_EVALUATIONS", "DEFAULT_STEPS", "CheckResult"]


log = logging.getLogger(__name__)


FLOORS = {"energy": 1e-2, "forces": 1e-2, "stress": 1e-4, "features": 1e-6}
"""Smallest ``scale`` used in ``tol = rtol · max(scale, floor)`` (eV, eV/Å, eV/Å³, 1)."""


MAX_EVALUATIONS = 2**14
""":func:`body_order` refuses to need more energy evaluations than this (all subsets of a
14-atom cluster) unless told otherwise."""


DEFAULT_STEPS = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6)
"""Finite-difference steps of :func:`check_forces` (Å for positions, 1 for strain)."""


# ---------------------------------------------------------------------- results
@dataclass
class CheckResult:
    """One row of a verification report.

    Attributes
    ----------
    check
        Family of the check (``"invariance"``, ``"equivariance"``, ``"forces"``,
        ``"body order"``, ``"smoothness"``).
    name
        The sub-check, e.g. ``"rotation: forces"``.
    passed
        ``max_error ≤ tol`` (and no exception).
    max_error
        Largest absolute deviation found (units of the quantity).
    scale
        Magnitude of the quantity used to scale the tolerance.
    tol
        Tolerance used: ``rtol · max(scale, floor)`` unless the check documents otherwise.
    message
        Human-readable verdict; the exception text when the calculator raised.
    details
        Check-specific data (error curves, spectra, …), JSON-friendly.
    """

    check: str
    name: str
    passed: bool
    max_error: float = math.nan
    scale: float = math.nan
    tol: float = math.nan
    message: str = ""
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Plain-JSON form (NaN and inf become ``None``, arrays become lists)."""
        return _jsonable(asdict(self))


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, np.generic):
        return _jsonable(x.item())
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _tol(rtol: float, scale: float, floor: float) -> float:
    return float(rtol * max(scale, floor))


def _error_row(check: str, name: str, exc: BaseException) -> CheckResult:
    return CheckResult(check, name, False, message=f"calculator raised {type(exc).__name__}: {exc}")


def _verdict(err: float, tol: float) -> str:
    return "ok" if err <= tol else f"max |Δ| = {err:.3g} exceeds tol {tol:.3g}"


# ---------------------------------------------------------------------- evaluation
@contextlib.contextmanager
def _serial_numba():
    """Run numba kernels on one thread (thread-local setting, restored afterwards).

    The checks evaluate hundreds of tiny structures, for which thread start-up of a
    parallel kernel costs far more than the work; the results are identical.
    """
    numba = sys.modules.get("numba")
    if numba is None:
        yield
        return
    try:
        previous = numba.get_num_threads()
        numba.set_num_threads(1)
    except Exception:  # noqa: BLE001 - no threading layer: nothing to change
        yield
        return
    try:
        yield
    finally:
        numba.set_num_threads(previous)


def _serial(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with _serial_numba():
            return func(*args, **kwargs)

    return wrapper


def _attach(calc, atoms: Atoms) -> Atoms:
    a = atoms.copy()
    a.set_constraint()
    a.calc = calc
    return a


def _energy(calc, atoms: Atoms) -> float:
    return float(_attach(calc, atoms).get_potential_energy())


def _evaluate(calc, atoms: Atoms, stress: bool = False) -> dict:
    """Energy (eV), forces (eV/Å) and optionally the 3 × 3 stress (eV/Å³)."""
    a = _attach(calc, atoms)
    out = {
        "energy": float(a.get_potential_energy()),
        "forces": np.array(a.get_forces(), dtype=float),
    }
    if stress:
        out["stress"] = np.array(a.get_stress(voigt=False), dtype=float)
    return out


def _has_stress(calc, atoms: Atoms) -> bool:
    return bool(np.all(atoms.pbc)) and "stress" in getattr(calc, "implemented_properties", ())


def _transformed(atoms: Atoms, Q=None, shift=None, perm=None, wrap: bool = False) -> Atoms:
    a = atoms.copy() if perm is None else atoms[perm]
    if Q is not None:
        a.set_cell(a.cell.array @ Q.T, scale_atoms=False)
        a.positions = a.positions @ Q.T
    if shift is not None:
        a.positions = a.positions + shift
    if wrap:
        a.wrap()
    return a


def _same_species_permutation(atoms: Atoms, rng: np.random.Generator) -> np.ndarray | None:
    numbers = atoms.numbers
    perm = np.arange(len(atoms))
    moved = False
    for z in np.unique(numbers):
        idx = np.flatnonzero(numbers == z)
        if len(idx) > 1:
            new = rng.permutation(idx)
            while np.array_equal(new, idx):
                new = rng.permutation(idx)
            perm[idx] = new
            moved = True
    return perm if moved else None
