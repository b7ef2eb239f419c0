"""Invariance and equivariance checks under O(3), translations, permutations and re-wrapping.

``E(Qx+t) = E(x)``, ``F(Qx) = Q F(x)``, ``σ(Qx) = Q σ(x) Qᵀ`` and, for ``(…, 2L+1)`` features,
``f(Qx) = f(x) D^L(Q)ᵀ`` with the exact real Wigner matrices of :mod:`ace_ref.coupling.rotations`.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms

from ace_ref.coupling.rotations import random_o3, wigner_d_real
from ace_ref.verify._common import (
    FLOORS,
    CheckResult,
    _error_row,
    _evaluate,
    _has_stress,
    _same_species_permutation,
    _serial,
    _tol,
    _transformed,
    _verdict,
)

__all__ = ["check_invariance", "check_equivariance"]


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

    ``D^L`` is the exact real Wigner matrix of :func:`ace_ref.coupling.rotations.wigner_d_real`
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
