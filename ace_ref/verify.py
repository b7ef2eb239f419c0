"""Verification toolkit for any ASE calculator: symmetry, derivatives, body order, smoothness.

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

Checks
------
* :func:`check_invariance` — ``E(Qx+t) = E(x)``, ``F(Qx) = Q F(x)``, ``σ(Qx) = Q σ(x) Qᵀ``
  for rotations, reflections (reported separately), translations, permutations of
  same-species atoms and periodic re-wrapping.
* :func:`check_equivariance` — ``f(Qx) = f(x) D^L(Q)ᵀ`` for ``(…, 2L+1)`` features.
* :func:`check_forces` — central differences of ``E`` against forces and stress.
* :func:`body_order` — the many-body expansion ``V_M`` of a cluster energy.
* :func:`check_smoothness` — no jumps of ``E`` or ``F`` when a dimer crosses the cutoff.
* :func:`verify_report` / :func:`format_report` — all of the above as one table.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import itertools
import logging
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms

from ace_ref.atomic import atomic_path
from ace_ref.rotations import random_o3, wigner_d_real

__all__ = [
    "DEFAULT_STEPS",
    "FLOORS",
    "LJ_PARAMETERS",
    "MAX_EVALUATIONS",
    "BodyOrderSpectrum",
    "CheckResult",
    "body_order",
    "calculator_from_spec",
    "check_equivariance",
    "check_forces",
    "check_invariance",
    "check_smoothness",
    "default_structure",
    "format_report",
    "plot_body_order",
    "verify_report",
]

log = logging.getLogger(__name__)

FLOORS = {"energy": 1e-2, "forces": 1e-2, "stress": 1e-4, "features": 1e-6}
"""Smallest ``scale`` used in ``tol = rtol · max(scale, floor)`` (eV, eV/Å, eV/Å³, 1)."""

MAX_EVALUATIONS = 2**14
""":func:`body_order` refuses to need more energy evaluations than this (all subsets of a
14-atom cluster) unless told otherwise."""

DEFAULT_STEPS = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6)
"""Finite-difference steps of :func:`check_forces` (Å for positions, 1 for strain)."""

LJ_PARAMETERS = {"sigma": 2.0, "epsilon": 0.01, "rc": 5.0}
"""Parameters of the ``lj`` calculator of :func:`calculator_from_spec` (Å, eV, Å)."""


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


# ---------------------------------------------------------------------- invariance
@_serial
def check_invariance(
    calc,
    atoms: Atoms,
    n_trials: int = 5,
    seed: int = 0,
    rtol: float = 1e-8,
    floors: dict | None = None,
) -> list[CheckResult]:
    """Symmetry of energy, forces and stress under the Euclidean group and permutations.

    For each transformation ``g`` (``n_trials`` random ones of each kind, seeded):

    * rotation ``x → Qx`` (``det Q = +1``, cell rotated too) and, reported separately,
      reflection (``det Q = −1``): ``E' = E``, ``F' = F Qᵀ`` (per atom ``F'_i = Q F_i``),
      ``σ' = Q σ Qᵀ``;
    * translation ``x → x + t``: everything unchanged;
    * permutation of same-species atoms ``x' = x[π]``: ``E' = E``, ``F' = F[π]``, ``σ' = σ``;
    * periodic re-wrapping (structures periodic along some axis): translate, then wrap the
      atoms back into the cell: everything unchanged.

    One row per (transformation, quantity) with the maximum absolute deviation over trials,
    ``scale`` = largest magnitude of the quantity and ``tol = rtol · max(scale, floor)``
    (:data:`FLOORS`). Stress is compared only for fully periodic structures of calculators
    that implement it. A model that passes rotations but fails reflections is chiral: its
    reflection rows say "not reflection-invariant".
    """
    floors = {**FLOORS, **(floors or {})}
    rng = np.random.default_rng(seed)
    stress = _has_stress(calc, atoms)
    quantities = ["energy", "forces"] + (["stress"] if stress else [])
    try:
        ref = _evaluate(calc, atoms, stress)
    except Exception as exc:  # noqa: BLE001 - the calculator's failure is the result
        return [_error_row("invariance", "reference evaluation", exc)]

    kinds: dict[str, list[tuple[Atoms, dict]]] = {}
    for kind in ("rotation", "reflection"):
        trials = []
        for _ in range(n_trials):
            Q = random_o3(rng, improper=kind == "reflection")
            expect = {"energy": ref["energy"], "forces": ref["forces"] @ Q.T}
            if stress:
                expect["stress"] = Q @ ref["stress"] @ Q.T
            trials.append((_transformed(atoms, Q=Q), expect))
        kinds[kind] = trials
    kinds["translation"] = [
        (_transformed(atoms, shift=rng.normal(size=3) * 3.0), ref) for _ in range(n_trials)
    ]
    perms = [_same_species_permutation(atoms, rng) for _ in range(n_trials)]
    if perms[0] is not None:
        kinds["permutation"] = [
            (_transformed(atoms, perm=p), {**ref, "forces": ref["forces"][p]}) for p in perms
        ]
    if np.any(atoms.pbc):
        kinds["re-wrapping"] = [
            (_transformed(atoms, shift=atoms.cell.array.T @ rng.uniform(-2, 2, 3), wrap=True), ref)
            for _ in range(n_trials)
        ]

    rows = []
    for kind, trials in kinds.items():
        err = dict.fromkeys(quantities, 0.0)
        scale = {q: float(np.max(np.abs(ref[q]))) for q in quantities}
        try:
            for moved, expect in trials:
                out = _evaluate(calc, moved, stress)
                for q in quantities:
                    err[q] = max(err[q], float(np.max(np.abs(out[q] - expect[q]))))
                    scale[q] = max(scale[q], float(np.max(np.abs(out[q]))))
        except Exception as exc:  # noqa: BLE001
            rows.append(_error_row("invariance", kind, exc))
            continue
        for q in quantities:
            tol = _tol(rtol, scale[q], floors[q])
            rows.append(
                CheckResult(
                    "invariance",
                    f"{kind}: {q}",
                    err[q] <= tol,
                    err[q],
                    scale[q],
                    tol,
                    _verdict(err[q], tol),
                    {"n_trials": len(trials)},
                )
            )
    rotation_ok = all(r.passed for r in rows if r.name.startswith("rotation"))
    for r in rows:
        if r.name.startswith("reflection") and not r.passed and r.max_error == r.max_error:
            r.message = (
                "not reflection-invariant"
                + (" (rotations pass: chiral model?)" if rotation_ok else "")
                + f"; max |Δ| = {r.max_error:.3g} > tol {r.tol:.3g}"
            )
    return rows


# ---------------------------------------------------------------------- equivariance
@_serial
def check_equivariance(
    features_fn,
    atoms: Atoms,
    L: int,
    n_trials: int = 3,
    seed: int = 0,
    rtol: float = 1e-8,
    floor: float = FLOORS["features"],
) -> list[CheckResult]:
    """``f(Qx) = f(x) D^L(Q)ᵀ`` for features ``f(atoms) -> array (…, 2L+1)``.

    ``D^L`` is the exact real Wigner matrix of :func:`ace_ref.rotations.wigner_d_real`
    (including the parity ``(−1)^L`` of improper ``Q``). Rows ``"rotation"`` and
    ``"reflection"``; ``tol = rtol · max(max |f|, floor)``. A features function that
    passes rotations and transforms with the opposite parity under reflections is reported
    as a pseudo-tensor.
    """
    if isinstance(L, bool) or int(L) != L or L < 0:
        raise ValueError(f"L must be a non-negative integer, got {L!r}")
    L = int(L)
    rng = np.random.default_rng(seed)
    try:
        ref = np.asarray(features_fn(atoms.copy()), dtype=float)
    except Exception as exc:  # noqa: BLE001
        return [_error_row("equivariance", f"L={L} reference evaluation", exc)]
    if ref.ndim == 0 or ref.shape[-1] != 2 * L + 1:
        return [
            CheckResult(
                "equivariance",
                f"L={L} shape",
                False,
                message=f"features have shape {ref.shape}; the last axis must be "
                f"2L+1 = {2 * L + 1}",
            )
        ]
    rows = []
    for kind in ("rotation", "reflection"):
        err = err_pseudo = 0.0
        scale = float(np.max(np.abs(ref))) if ref.size else 0.0
        try:
            for _ in range(n_trials):
                Q = random_o3(rng, improper=kind == "reflection")
                expect = ref @ wigner_d_real(L, Q).T
                got = np.asarray(features_fn(_transformed(atoms, Q=Q)), dtype=float)
                if got.shape != ref.shape:
                    raise ValueError(f"shape changed from {ref.shape} to {got.shape}")
                err = max(err, float(np.max(np.abs(got - expect), initial=0.0)))
                err_pseudo = max(err_pseudo, float(np.max(np.abs(got + expect), initial=0.0)))
                scale = max(scale, float(np.max(np.abs(got), initial=0.0)))
        except Exception as exc:  # noqa: BLE001
            rows.append(_error_row("equivariance", f"L={L} {kind}", exc))
            continue
        tol = _tol(rtol, scale, floor)
        message = _verdict(err, tol)
        if kind == "reflection" and err > tol and err_pseudo <= tol:
            message = f"transforms as a pseudo-tensor (parity (−1)^(L+1)); {message}"
        rows.append(
            CheckResult(
                "equivariance", f"L={L} {kind}", err <= tol, err, scale, tol, message, {"L": L}
            )
        )
    return rows


# ---------------------------------------------------------------------- derivatives
def _curve_row(name, steps, errors, scale, rtol, floor, extra) -> CheckResult:
    errors = [float(e) for e in errors]
    best = int(np.argmin(errors))
    tol = _tol(rtol, scale, floor)
    passed = errors[best] <= tol
    message = f"best step {steps[best]:g}: " + (
        "ok" if passed else f"error {errors[best]:.3g} exceeds tol {tol:.3g}"
    )
    details = {
        "steps": [float(h) for h in steps],
        "errors": errors,
        "best_step": float(steps[best]),
    }
    details.update(extra)
    return CheckResult("forces", name, passed, errors[best], scale, tol, message, details)


@_serial
def check_forces(
    calc,
    atoms: Atoms,
    steps=DEFAULT_STEPS,
    max_pairs: int = 12,
    seed: int = 0,
    rtol: float = 1e-5,
    floors: dict | None = None,
) -> list[CheckResult]:
    """Forces (and stress) against central finite differences of the energy.

    For ``max_pairs`` random (atom, direction) pairs (all ``3N`` if ``3N ≤ max_pairs``) and
    every step ``h``: ``F_FD = −(E(x + h e) − E(x − h e)) / 2h``; the error at ``h`` is the
    largest ``|F_FD − F|``. The automatic step is the one of smallest error (truncation error
    ``∝ h²`` on the left, round-off ``∝ ε|E|/h`` on the right); the row passes when that
    error ``≤ rtol · max(max |F|, floor)``.

    Fully periodic structures (and calculators with stress) add a stress row: for each of
    the six symmetric strains ``ε`` (``ε_ab = ε_ba = h/2``, or ``h`` on the diagonal), the
    cell and the atoms are deformed by ``I + ε`` and ``σ_FD = (E(+) − E(−)) / (2h V)``, the
    ASE convention ``σ = (1/V) ∂E/∂ε``.
    """
    floors = {**FLOORS, **(floors or {})}
    steps = [float(h) for h in steps]
    if not steps or any(not (h > 0 and math.isfinite(h)) for h in steps):
        raise ValueError(f"steps must be positive numbers, got {steps}")
    stress = _has_stress(calc, atoms)
    try:
        ref = _evaluate(calc, atoms, stress)
    except Exception as exc:  # noqa: BLE001
        return [_error_row("forces", "reference evaluation", exc)]
    rng = np.random.default_rng(seed)
    n = len(atoms)
    all_pairs = [(i, a) for i in range(n) for a in range(3)]
    if len(all_pairs) <= max_pairs:
        pairs = all_pairs
    else:
        pick = rng.choice(len(all_pairs), size=max_pairs, replace=False)
        pairs = [all_pairs[k] for k in sorted(pick)]
    rows = []
    F = ref["forces"]
    try:
        errors = []
        for h in steps:
            worst = 0.0
            for i, a in pairs:
                plus, minus = atoms.copy(), atoms.copy()
                plus.positions[i, a] += h
                minus.positions[i, a] -= h
                fd = -(_energy(calc, plus) - _energy(calc, minus)) / (2 * h)
                worst = max(worst, abs(fd - F[i, a]))
            errors.append(worst)
        rows.append(
            _curve_row(
                "forces vs −dE/dx",
                steps,
                errors,
                float(np.max(np.abs(F))),
                rtol,
                floors["forces"],
                {"pairs": [list(p) for p in pairs]},
            )
        )
    except Exception as exc:  # noqa: BLE001
        rows.append(_error_row("forces", "forces vs −dE/dx", exc))
    if stress:
        try:
            sigma = ref["stress"]
            volume = atoms.get_volume()
            cell = atoms.cell.array
            errors = []
            for h in steps:
                worst = 0.0
                for a, b in itertools.combinations_with_replacement(range(3), 2):
                    eps = np.zeros((3, 3))
                    eps[a, b] += h / 2
                    eps[b, a] += h / 2
                    energies = []
                    for sign in (1, -1):
                        strained = atoms.copy()
                        strained.set_cell(cell @ (np.eye(3) + sign * eps).T, scale_atoms=True)
                        energies.append(_energy(calc, strained))
                    fd = (energies[0] - energies[1]) / (2 * h * volume)
                    worst = max(worst, abs(fd - sigma[a, b]))
                errors.append(worst)
            rows.append(
                _curve_row(
                    "stress vs (1/V) dE/dε",
                    steps,
                    errors,
                    float(np.max(np.abs(sigma))),
                    rtol,
                    floors["stress"],
                    {},
                )
            )
        except Exception as exc:  # noqa: BLE001
            rows.append(_error_row("forces", "stress vs (1/V) dE/dε", exc))
    return rows


# ---------------------------------------------------------------------- body order
@dataclass
class BodyOrderSpectrum:
    """Many-body expansion of a cluster energy (see :func:`body_order`).

    ``M[k]``, ``max_abs[k]``, ``mean_abs[k]``, ``n_subsets[k]``: the size ``M``, the largest
    and the mean ``|V_M(T)|`` over the ``n_subsets`` subsets ``T`` of that size examined.
    ``energy_scale`` is ``max_U |E(U)|`` over the evaluated subsets (eV): round-off of
    ``V_M`` is relative to it. ``error`` holds the calculator's exception message, if any.
    """

    n_atoms: int
    n_evaluations: int
    sample: int | None
    M: list[int]
    max_abs: list[float]
    mean_abs: list[float]
    n_subsets: list[int]
    energy_scale: float
    seconds: float
    error: str | None = None

    def zero_tol(self, rtol: float = 1e-9) -> float:
        """``rtol · max(energy_scale, floor)``: below this a ``V_M`` counts as zero."""
        return _tol(rtol, self.energy_scale, FLOORS["energy"])

    def apparent_body_order(self, rtol: float = 1e-9) -> int:
        """Largest ``M`` with ``max |V_M| > zero_tol(rtol)`` (0 if none)."""
        tol = self.zero_tol(rtol)
        nonzero = [M for M, v in zip(self.M, self.max_abs, strict=True) if v > tol]
        return max(nonzero, default=0)

    def check(self, expected_body_order: int | None = None, rtol: float = 1e-9) -> CheckResult:
        """Row: ``max |V_M| ≤ zero_tol`` for every ``M > expected_body_order``.

        Without a claim the row passes and reports the apparent body order.
        """
        details = {
            "M": self.M,
            "max_abs": self.max_abs,
            "mean_abs": self.mean_abs,
            "n_subsets": self.n_subsets,
            "energy_scale": self.energy_scale,
            "n_evaluations": self.n_evaluations,
            "sample": self.sample,
            "n_atoms": self.n_atoms,
        }
        name = f"{self.n_atoms}-atom cluster"
        if self.error is not None:
            return CheckResult("body order", name, False, message=self.error, details=details)
        tol = self.zero_tol(rtol)
        apparent = self.apparent_body_order(rtol)
        spectrum = ", ".join(f"V{M} {v:.2g}" for M, v in zip(self.M, self.max_abs, strict=True))
        if expected_body_order is None:
            return CheckResult(
                "body order",
                name,
                True,
                max(self.max_abs, default=0.0),
                self.energy_scale,
                tol,
                f"apparent body order {apparent} (nothing claimed); max |V_M|: {spectrum}",
                details,
            )
        above = [v for M, v in zip(self.M, self.max_abs, strict=True) if M > expected_body_order]
        err = max(above, default=0.0)
        passed = err <= tol
        if not above:
            msg = f"cluster too small to test above body order {expected_body_order}"
        elif passed:
            msg = f"V_M ≈ 0 for M > {expected_body_order} as claimed"
        else:
            msg = (
                f"body order {apparent} > claimed {expected_body_order}: "
                f"max |V_M| = {err:.3g} > tol {tol:.3g} for M > {expected_body_order}"
            )
        if expected_body_order in self.M:
            at = self.max_abs[self.M.index(expected_body_order)]
            if at <= tol:
                msg += f" (note: V_{expected_body_order} ≈ 0 too)"
        details["expected_body_order"] = expected_body_order
        return CheckResult(
            "body order", name, passed, err, self.energy_scale, tol, f"{msg}; {spectrum}", details
        )


def _submask_patterns(M: int) -> tuple[np.ndarray, np.ndarray]:
    """Selection matrix ``(2^M, M)`` of all sub-selections and their signs ``(−1)^{M−|U|}``."""
    codes = np.arange(2**M, dtype=np.int64)
    P = (codes[:, None] >> np.arange(M)[None, :]) & 1
    signs = np.where((M - P.sum(axis=1)) % 2 == 0, 1.0, -1.0)
    return P, signs


def _sample_subsets(n: int, M: int, K: int, rng: np.random.Generator) -> np.ndarray:
    total = math.comb(n, M)
    if total <= K:
        return np.array(list(itertools.combinations(range(n), M)), dtype=np.int64)
    if total <= 50_000:
        combos = list(itertools.combinations(range(n), M))
        pick = rng.choice(total, size=K, replace=False)
        return np.array([combos[k] for k in sorted(pick)], dtype=np.int64)
    chosen: set[tuple[int, ...]] = set()
    while len(chosen) < K:
        chosen.add(tuple(sorted(rng.choice(n, size=M, replace=False).tolist())))
    return np.array(sorted(chosen), dtype=np.int64)


@_serial
def body_order(
    calc,
    cluster: Atoms,
    max_M: int | None = None,
    progress: bool = True,
    sample: int | None = None,
    seed: int = 0,
    max_evaluations: int = MAX_EVALUATIONS,
) -> BodyOrderSpectrum:
    """Many-body expansion ``E(S) = Σ_{T⊆S} V_{|T|}(T)`` of a finite cluster ``S``.

    With ``E(∅) = 0``, the ``M``-body term of a subset ``T`` (``|T| = M``) is the Möbius
    inversion

    .. math:: V_M(T) = \\sum_{U \\subseteq T} (-1)^{|T|-|U|} E(U),

    so ``V_1({i}) = E({i})`` (isolated atom). A potential of body order ``K`` (e.g. a linear
    ACE model of correlation order ``ν``, ``K = ν + 1``) has ``V_M ≡ 0`` for ``M > K``.

    Every subset energy is computed once and reused: all ``Σ_{M ≤ max_M} C(n, M)`` non-empty
    subsets (``2^n − 1`` without ``max_M``). When that exceeds ``max_evaluations`` a
    ``ValueError`` says so, unless ``sample=K``: then ``K`` subsets of each size ``M ≤ max_M``
    are drawn (seeded; all of them if fewer exist) and only their sub-subsets are evaluated.
    The number of evaluations is logged (and printed to stderr when ``progress``) before
    starting and returned as ``n_evaluations``; ``progress`` shows a tqdm bar.

    Exceptions of the calculator are returned in ``error`` (not raised); invalid arguments
    raise ``ValueError``.
    """
    if not isinstance(cluster, Atoms):
        raise TypeError(f"body_order: expected ase.Atoms, got {type(cluster).__name__}")
    n = len(cluster)
    if n == 0:
        raise ValueError("body_order: the cluster has no atoms")
    if np.any(cluster.pbc):
        raise ValueError(
            "body_order needs a finite cluster (pbc all False); cut one out of a periodic "
            "structure first"
        )
    if n > 62:
        raise ValueError(f"body_order: {n} atoms; at most 62 are supported (subset bit masks)")
    if max_M is None:
        max_M = n
    if isinstance(max_M, bool) or int(max_M) != max_M or max_M < 1:
        raise ValueError(f"max_M must be a positive integer, got {max_M!r}")
    max_M = min(int(max_M), n)
    if sample is not None and (isinstance(sample, bool) or int(sample) != sample or sample < 1):
        raise ValueError(f"sample must be a positive integer, got {sample!r}")

    bits = np.int64(1) << np.arange(n, dtype=np.int64)
    if sample is None:
        needed_count = sum(math.comb(n, M) for M in range(1, max_M + 1))
        what = "all 2^n − 1 subsets" if max_M == n else f"all subsets of ≤ {max_M} atoms"
        if needed_count > max_evaluations:
            raise ValueError(
                f"body_order: a {n}-atom cluster needs {needed_count} energy evaluations "
                f"({what}; 2^{n} = {2**n}), more than max_evaluations={max_evaluations}; "
                "pass sample=K to sample K subsets of each size, max_M to limit the subset "
                "size, or a smaller cluster"
            )
        targets = {
            M: np.array(list(itertools.combinations(range(n), M)), dtype=np.int64)
            for M in range(1, max_M + 1)
        }
        needed = np.sort(np.concatenate([bits[t].sum(axis=1) for t in targets.values()]))
    else:
        if 2**max_M > max_evaluations:
            raise ValueError(
                f"body_order: each sampled subset of {max_M} atoms needs 2^{max_M} = "
                f"{2**max_M} evaluations, more than max_evaluations={max_evaluations}; "
                "lower max_M"
            )
        rng = np.random.default_rng(seed)
        targets = {M: _sample_subsets(n, M, int(sample), rng) for M in range(1, max_M + 1)}
        masks = []
        for M, t in targets.items():
            P, _ = _submask_patterns(M)
            masks.append((bits[t] @ P.T).ravel())
        needed = np.unique(np.concatenate(masks))
        needed = needed[needed != 0]
        what = f"sub-subsets of {int(sample)} sampled subsets per size ≤ {max_M}"
        if len(needed) > max_evaluations:
            raise ValueError(
                f"body_order: sampling needs {len(needed)} energy evaluations, more than "
                f"max_evaluations={max_evaluations}; lower sample or max_M"
            )
    n_eval = len(needed)
    note = f"body_order: {n_eval} energy evaluations ({what} of a {n}-atom cluster)"
    log.info(note)
    if progress:
        print(note, file=sys.stderr)

    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    energies = np.zeros(n_eval)
    error = None
    with tqdm(total=n_eval, desc="body order", disable=not progress, leave=False) as bar:
        for k, mask in enumerate(needed.tolist()):
            idx = [i for i in range(n) if (mask >> i) & 1]
            try:
                energies[k] = _energy(calc, cluster[idx])
            except Exception as exc:  # noqa: BLE001
                error = f"calculator raised {type(exc).__name__} on the subset {idx}: {exc}"
                break
            bar.update()
    M_list, max_abs, mean_abs, n_subsets = [], [], [], []
    if error is None:
        for M, t in targets.items():
            P, signs = _submask_patterns(M)
            sub = bits[t] @ P.T
            pos = np.searchsorted(needed, sub)
            E = np.where(sub == 0, 0.0, energies[np.minimum(pos, n_eval - 1)])
            V = np.abs(E @ signs)
            M_list.append(M)
            max_abs.append(float(V.max()))
            mean_abs.append(float(V.mean()))
            n_subsets.append(len(t))
    return BodyOrderSpectrum(
        n_atoms=n,
        n_evaluations=n_eval,
        sample=None if sample is None else int(sample),
        M=M_list,
        max_abs=max_abs,
        mean_abs=mean_abs,
        n_subsets=n_subsets,
        energy_scale=float(np.max(np.abs(energies))) if error is None else math.nan,
        seconds=time.perf_counter() - t0,
        error=error,
    )


# ---------------------------------------------------------------------- smoothness
def _known_cutoff(calc, a: str, b: str) -> float | None:
    """Pair cutoff the calculator declares: our models, ASE LennardJones; else ``None``."""
    model = getattr(calc, "model", None)
    basis = getattr(model, "basis", None)
    if basis is not None and a in basis.elements and b in basis.elements:
        return float(basis.r_cut[basis.elements.index(a), basis.elements.index(b)])
    from ase.calculators.lj import LennardJones

    if isinstance(calc, LennardJones):
        rc = calc.parameters.rc
        return float(rc if rc is not None else 3 * calc.parameters.sigma)
    return None


def _dimer_scan(calc, a: str, b: str, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    E = np.empty(len(r))
    f = np.empty(len(r))
    for k, x in enumerate(r):
        out = _evaluate(calc, Atoms([a, b], positions=[[0.0, 0.0, 0.0], [x, 0.0, 0.0]]))
        E[k] = out["energy"]
        f[k] = out["forces"][1, 0]
    return E, f


def _estimate_cutoff(calc, a: str, b: str, r_range=(0.5, 12.0), step: float = 0.02):
    r = np.arange(r_range[0], r_range[1] + step / 2, step)
    E, f = _dimer_scan(calc, a, b, r)
    noise = 1e3 * np.finfo(float).eps * max(float(np.max(np.abs(E))), 1.0)
    active = (np.abs(f) > noise) | (np.abs(E - E[-1]) > noise)
    if not np.any(active):
        return None
    return float(r[np.flatnonzero(active)[-1]] + step / 2)


@_serial
def check_smoothness(
    calc,
    species=None,
    r_cut: float | None = None,
    width: float = 0.25,
    n_points: int = 1001,
    rtol_energy: float = 1e-2,
    rtol_forces: float = 0.1,
) -> list[CheckResult]:
    """Continuity of energy and force when one atom of a dimer moves through the cutoff.

    The second atom moves along ``x`` over ``n_points`` distances in
    ``[r_cut − width, r_cut + width]`` (step ``h``); ``f_k`` is the force on it along ``x``.

    * energy: how far the change ``ΔE_k = E_{k+1} − E_k`` lies outside the interval
      ``[−f_k h, −f_{k+1} h]`` the end-point slopes predict (``O(h³)`` when smooth; zero at
      a mere jump of the force; the size of the jump at a discontinuity of ``E``);
    * forces: ``|Δf_k − Δf_n|`` with ``Δf_n`` the closer of the neighbouring steps
      ``Δf_{k±1}`` (``O(h²)`` when smooth, the jump at a discontinuity of ``f``; a mere kink
      of ``f`` does not count).

    Each row passes when the largest such excess is ``≤ max(rtol · scale, noise)``,
    ``scale`` being the largest slope-predicted change ``max_k |f_k| h`` (energy) or
    ``max_k |Δf_k|`` (forces) on the grid and ``noise = 10³ ε max|E|`` (``max|f|``) the
    round-off level. The message locates the largest excess.

    ``species``: a pair of symbols, or ``None`` for every pair of our model's elements
    (``("H", "H")`` for other calculators). ``r_cut``: ``None`` takes the calculator's own
    cutoff (our models, LennardJones) or else locates the outermost distance with a
    non-zero interaction on a 0.02 Å scan of 0.5–12 Å.
    """
    if species is None:
        basis = getattr(getattr(calc, "model", None), "basis", None)
        if basis is not None:
            pairs = list(itertools.combinations_with_replacement(basis.elements, 2))
        else:
            pairs = [("H", "H")]
    else:
        species = tuple(species)
        if len(species) != 2 or not all(isinstance(s, str) for s in species):
            raise ValueError(f"species must be a pair of chemical symbols, got {species!r}")
        pairs = [species]
    if n_points < 5:
        raise ValueError(f"n_points must be at least 5, got {n_points}")
    rows = []
    for a, b in pairs:
        name = f"{a}-{b} dimer"
        try:
            rc = r_cut if r_cut is not None else _known_cutoff(calc, a, b)
            if rc is None:
                rc = _estimate_cutoff(calc, a, b)
                if rc is None:
                    rows.append(
                        CheckResult(
                            "smoothness",
                            name,
                            True,
                            0.0,
                            message="no interaction found between 0.5 and 12 Å",
                        )
                    )
                    continue
            lo = max(float(rc) - width, 0.3)
            r = np.linspace(lo, float(rc) + width, n_points)
            h = float(r[1] - r[0])
            E, f = _dimer_scan(calc, a, b, r)
        except Exception as exc:  # noqa: BLE001
            rows.append(_error_row("smoothness", name, exc))
            continue
        eps = np.finfo(float).eps
        # energy: distance of ΔE_k from the interval spanned by the end-point slopes
        dE = np.diff(E)
        ends = np.stack([-f[:-1] * h, -f[1:] * h])
        e_pred = np.clip(dE, ends.min(axis=0), ends.max(axis=0))
        e_jump = np.abs(dE - e_pred)
        e_scale = float(np.max(np.abs(ends)))
        e_tol = max(rtol_energy * e_scale, 1e3 * eps * float(np.max(np.abs(E))))
        # forces: Δf_k against the closer of the neighbouring steps Δf_{k±1}
        df = np.diff(f)
        prev = np.concatenate([[np.nan], df[:-1]])
        nxt = np.concatenate([df[1:], [np.nan]])
        d_prev = np.nan_to_num(np.abs(df - prev), nan=np.inf)
        d_next = np.nan_to_num(np.abs(df - nxt), nan=np.inf)
        f_pred = np.where(d_prev <= d_next, prev, nxt)
        f_jump = np.abs(df - f_pred)
        f_scale = float(np.max(np.abs(df)))
        f_tol = max(rtol_forces * f_scale, 1e3 * eps * float(np.max(np.abs(f))))
        for q, jump, change, pred, scale, tol in (
            ("energy", e_jump, dE, e_pred, e_scale, e_tol),
            ("forces", f_jump, df, f_pred, f_scale, f_tol),
        ):
            k = int(np.argmax(jump))
            err = float(jump[k])
            where = 0.5 * (r[k] + r[k + 1])
            msg = (
                f"continuous (cutoff {rc:.4g} Å)"
                if err <= tol
                else f"jump of {change[k]:.3g} at r = {where:.4f} Å where the slope predicts "
                f"{pred[k]:.3g} (excess {err:.3g} > tol {tol:.3g})"
            )
            details = {
                "r_cut": float(rc),
                "r_range": [float(r[0]), float(r[-1])],
                "h": h,
                "at_r": float(where),
            }
            rows.append(
                CheckResult("smoothness", f"{name}: {q}", err <= tol, err, scale, tol, msg, details)
            )
    return rows


# ---------------------------------------------------------------------- report
def _local_cluster(atoms: Atoms, size: int) -> Atoms:
    """Atom 0 and its ``size − 1`` nearest neighbours (periodic images included), as a
    finite cluster."""
    if not np.any(atoms.pbc):
        size = min(size, len(atoms))
        vectors = atoms.positions - atoms.positions[0]
        order = np.argsort(np.linalg.norm(vectors, axis=1), kind="stable")[:size]
        return Atoms(atoms.numbers[order], positions=atoms.positions[order])
    from ase.neighborlist import neighbor_list

    cutoff = 3.0
    while True:
        i, j, D = neighbor_list("ijD", atoms, cutoff, self_interaction=False)
        mine = i == 0
        if mine.sum() >= size - 1 or cutoff > 40.0:
            break
        cutoff *= 1.5
    j, D = j[mine], D[mine]
    order = np.argsort(np.linalg.norm(D, axis=1), kind="stable")[: size - 1]
    numbers = np.concatenate([[atoms.numbers[0]], atoms.numbers[j[order]]])
    positions = atoms.positions[0] + np.vstack([np.zeros(3), D[order]])
    return Atoms(numbers, positions=positions)


def _claimed_body_order(calc) -> int | None:
    basis = getattr(getattr(calc, "model", None), "basis", None)
    if callable(getattr(basis, "body_order", None)):  # e.g. the two-layer basis
        return int(basis.body_order())
    order = getattr(basis, "order", None)
    return None if order is None else int(order) + 1


def verify_report(
    calc,
    atoms: Atoms,
    *,
    n_trials: int = 3,
    seed: int = 0,
    max_M: int | None = None,
    sample: int | None = None,
    expected_body_order: int | None = None,
    features_fn=None,
    L: int = 1,
    smoothness: bool = True,
    body_cluster_size: int = 6,
    progress: bool = False,
) -> list[CheckResult]:
    """Run every applicable check; returns the rows (see :func:`format_report`).

    * invariance (:func:`check_invariance`) and finite differences (:func:`check_forces`)
      on ``atoms``;
    * equivariance of ``features_fn`` at ``L`` (default for our models: the basis' ``L``
      features);
    * body order of ``atoms`` if it is a finite cluster of at most 8 atoms, otherwise of the
      ``body_cluster_size`` atoms nearest to atom 0 (periodic images included); compared with
      ``expected_body_order`` (default for our models: correlation order + 1). The row's
      ``details`` hold the spectrum (for :func:`plot_body_order`);
    * smoothness (:func:`check_smoothness`) of every pair of species present in ``atoms``.
    """
    rows = check_invariance(calc, atoms, n_trials=n_trials, seed=seed)
    basis = getattr(getattr(calc, "model", None), "basis", None)
    equivariant = getattr(basis, "has_equivariant_features", True)
    if features_fn is None and basis is not None and equivariant:

        def features_fn(a, _basis=basis, _L=L):
            return _basis.features(a, L=_L)

    if features_fn is not None:
        rows += check_equivariance(features_fn, atoms, L, n_trials=n_trials, seed=seed)
    rows += check_forces(calc, atoms, seed=seed)
    if not np.any(atoms.pbc) and len(atoms) <= 8:
        cluster = atoms
    else:
        cluster = _local_cluster(atoms, body_cluster_size)
    spectrum = body_order(calc, cluster, max_M=max_M, sample=sample, seed=seed, progress=progress)
    if expected_body_order is None:
        expected_body_order = _claimed_body_order(calc)
    rows.append(spectrum.check(expected_body_order))
    if smoothness:
        symbols = sorted(set(atoms.get_chemical_symbols()))
        for pair in itertools.combinations_with_replacement(symbols, 2):
            rows += check_smoothness(calc, species=pair)
    return rows


def format_report(rows: list[CheckResult]) -> str:
    """Plain-text table: check, sub-check, PASS/FAIL, max error, scale, tol, message."""
    head = (
        f"{'check':<13} {'sub-check':<26} {'result':<6} {'max err':>10} {'scale':>10} "
        f"{'tol':>10}  note"
    )
    lines = [head, "-" * len(head)]

    def num(x):
        return f"{x:>10.3g}" if x is not None and math.isfinite(x) else f"{'-':>10}"

    for r in rows:
        lines.append(
            f"{r.check:<13} {r.name:<26} {'PASS' if r.passed else 'FAIL':<6} "
            f"{num(r.max_error)} {num(r.scale)} {num(r.tol)}  {r.message}"
        )
    n_fail = sum(not r.passed for r in rows)
    lines.append(
        f"{len(rows) - n_fail}/{len(rows)} checks passed" + (f"; {n_fail} FAILED" if n_fail else "")
    )
    return "\n".join(lines)


def plot_body_order(spectrum, path: str | Path, rtol: float = 1e-9) -> Path:
    """PNG of ``log |V_M|`` against ``M`` (max and mean), written atomically.

    ``spectrum``: a :class:`BodyOrderSpectrum` or the ``details`` of its report row. The
    dashed line is the round-off level ``rtol · max(energy_scale, floor)``; exact zeros are
    drawn at the bottom of the axis.
    """
    if isinstance(spectrum, BodyOrderSpectrum):
        d = asdict(spectrum)
    else:
        d = dict(spectrum)
    if not d.get("M"):
        raise ValueError("no body-order spectrum to plot (the evaluation failed)")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    M = np.asarray(d["M"])
    mx = np.asarray(d["max_abs"], dtype=float)
    mean = np.asarray(d["mean_abs"], dtype=float)
    level = _tol(rtol, float(d["energy_scale"]), FLOORS["energy"])
    bottom = min(level, np.min(mx[mx > 0], initial=level)) / 100
    fig, ax = plt.subplots(figsize=(5, 3.8))
    ax.semilogy(M, np.maximum(mx, bottom), "o-", label="max |V_M|")
    ax.semilogy(M, np.maximum(mean, bottom), "s--", ms=4, label="mean |V_M|")
    ax.axhline(level, color="k", ls=":", lw=1, label=f"round-off ({rtol:g} × scale)")
    if d.get("expected_body_order"):
        ax.axvline(d["expected_body_order"] + 0.5, color="r", lw=0.8, label="claimed body order")
    ax.set_ylim(bottom=bottom)
    ax.set_xticks(M)
    ax.set_xlabel("M (bodies)")
    ax.set_ylabel("|V_M| (eV)")
    title = f"{d['n_atoms']}-atom cluster"
    if d.get("sample"):
        title += f", {d['sample']} samples per M"
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=110)
    finally:
        plt.close(fig)
    return path


# ---------------------------------------------------------------------- CLI helpers
def calculator_from_spec(spec: str):
    """The calculator named on the command line.

    * a model file (``.npz`` of :meth:`ace_ref.model.LinearACEModel.save`):
      ``ace_ref.model.load(path).calculator()``;
    * ``emt``: :class:`ase.calculators.emt.EMT`;
    * ``lj``: :class:`ase.calculators.lj.LennardJones` with :data:`LJ_PARAMETERS`
      (σ = 2.0 Å, ε = 0.01 eV, r_c = 5.0 Å; ASE's unsmoothed form: energy shifted to zero
      at r_c, forces jump there);
    * ``module:factory``: ``importlib.import_module(module).factory()``.

    Raises ``ValueError`` for anything else.
    """
    key = spec.strip()
    if key.lower() == "emt":
        from ase.calculators.emt import EMT

        return EMT()
    if key.lower() == "lj":
        from ase.calculators.lj import LennardJones

        return LennardJones(**LJ_PARAMETERS)
    path = Path(key)
    if path.exists() or key.endswith(".npz"):
        from ace_ref.model import load

        return load(path).calculator()
    if ":" in key:
        module_name, _, attr = key.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ValueError(f"cannot import module {module_name!r} of {spec!r}: {exc}") from exc
        factory = getattr(module, attr, None)
        if not callable(factory):
            raise ValueError(f"{module_name} has no callable {attr!r}")
        calc = factory()
        if not hasattr(calc, "get_potential_energy") and not hasattr(calc, "calculate"):
            raise ValueError(f"{spec}() returned {type(calc).__name__}, not an ASE calculator")
        return calc
    raise ValueError(
        f"unknown calculator {spec!r}: give a model file (.npz), 'emt', 'lj' or 'module:factory'"
    )


def _random_cluster(elements, n: int, rng, d_min: float = 1.0, d_max: float = 2.0) -> Atoms:
    symbols = [elements[k % len(elements)] for k in range(n)]
    rng.shuffle(symbols)
    pos = [np.zeros(3)]
    while len(pos) < n:
        anchor = pos[rng.integers(len(pos))]
        v = rng.normal(size=3)
        cand = anchor + v / np.linalg.norm(v) * rng.uniform(d_min, d_max)
        if min(np.linalg.norm(cand - p) for p in pos) >= d_min:
            pos.append(cand)
    return Atoms(symbols, positions=np.array(pos))


def default_structure(calc, seed: int = 0) -> Atoms:
    """A small finite cluster suited to ``calc`` (used when no structure is given).

    Our models: 5 atoms of the model's elements at random positions (seeded), each within
    1–2 Å of another and no two closer than 1 Å. ``EMT`` and any other calculator: a
    5-atom Cu cluster (fcc nearest-neighbour fragment, a = 3.61 Å, rattled by 0.05 Å).
    ``LennardJones``: the same fragment scaled to σ-sized spacing, as Ar.
    """
    rng = np.random.default_rng(seed)
    basis = getattr(getattr(calc, "model", None), "basis", None)
    if basis is not None:
        return _random_cluster(list(basis.elements), 5, rng)
    frag = np.array([[0, 0, 0], [1, 1, 0], [1, 0, 1], [0, 1, 1], [1, -1, 0]], dtype=float) / 2
    from ase.calculators.lj import LennardJones

    if isinstance(calc, LennardJones):
        spacing = 2 ** (1 / 6) * calc.parameters.sigma
        atoms = Atoms("Ar5", positions=frag * spacing * np.sqrt(2))
    else:
        atoms = Atoms("Cu5", positions=frag * 3.61)
    atoms.rattle(0.05, seed=seed)
    return atoms
