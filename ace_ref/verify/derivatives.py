"""Forces and stress against central differences of the energy, over a ladder of steps."""

from __future__ import annotations

import itertools
import math

import numpy as np
from ase import Atoms

from ace_ref.verify._common import (
    DEFAULT_STEPS,
    FLOORS,
    CheckResult,
    _energy,
    _error_row,
    _evaluate,
    _has_stress,
    _serial,
    _tol,
)

__all__ = ["check_forces"]


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
