"""Smoothness at the cutoff: no jump of ``E`` or ``F`` when a dimer crosses it."""

from __future__ import annotations

import itertools

import numpy as np
from ase import Atoms

from ace_ref.verify._common import CheckResult, _error_row, _evaluate, _serial

__all__ = ["check_smoothness"]


# ---------------------------------------------------------------------- smoothness
def _declared_cutoff(obj) -> float | None:
    """A cutoff an object states as an attribute ``cutoff``, ``r_cut`` or ``r_max``
    (a number or a one-element array/tensor), else ``None``."""
    for name in ("cutoff", "r_cut", "r_max"):
        value = getattr(obj, name, None)
        try:
            value = float(np.asarray(value.detach() if hasattr(value, "detach") else value))
        except (TypeError, ValueError):
            continue
        if np.isfinite(value) and value > 0:
            return value
    return None


def _known_cutoff(calc, a: str, b: str) -> float | None:
    """Pair cutoff the calculator declares: our models, ASE LennardJones, or any calculator
    (or its ``model``) with a ``cutoff``/``r_cut``/``r_max`` attribute (e.g.
    :class:`ace_ref.neural.mace.MACEModelCalculator`, mace-torch's ``MACECalculator``); else
    ``None``."""
    model = getattr(calc, "model", None)
    basis = getattr(model, "basis", None)
    if basis is not None and a in basis.elements and b in basis.elements:
        return float(basis.r_cut[basis.elements.index(a), basis.elements.index(b)])
    for obj in (calc, model):
        declared = _declared_cutoff(obj) if obj is not None else None
        if declared is not None:
            return declared
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
