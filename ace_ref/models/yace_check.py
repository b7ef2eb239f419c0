"""Check an exported ``.yace`` file against the model with pyace (the ML-PACE evaluator).

pyace (``pip install --pre python-ace``, extras ``bench``/``lammps``) wraps the same C++
library (ML-PACE) that LAMMPS ``pair_style pace`` runs. :data:`PYACE_EVALUATORS` names its
three evaluators: ``recursive`` and ``product`` are LAMMPS' ``pair_style pace recursive`` /
``pair_style pace product`` (both ``ACERecursiveEvaluator``, as in LAMMPS' ``PairPACE``);
``ctilde`` is pyace's default ``ACECTildeEvaluator``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

__all__ = ["PYACE_EVALUATORS", "pyace_calculator", "pyace_agreement"]

PYACE_EVALUATORS = {
    "recursive": {"recursive_evaluator": True, "recursive": True},
    "product": {"recursive_evaluator": True, "recursive": False},
    "ctilde": {"recursive_evaluator": False, "recursive": False},
}


def pyace_calculator(path: str | Path, evaluator: str = "recursive"):
    """``pyace.PyACECalculator`` reading ``path`` with one of :data:`PYACE_EVALUATORS`."""
    if evaluator not in PYACE_EVALUATORS:
        raise ValueError(f"evaluator must be one of {list(PYACE_EVALUATORS)}, got {evaluator!r}")
    import pyace

    return pyace.PyACECalculator(str(path), **PYACE_EVALUATORS[evaluator])


def pyace_agreement(model, path: str | Path, structures: Iterable, evaluator: str = "recursive"):
    """Largest differences between ``model`` and pyace reading ``path``, absolute and relative.

    Relative measures: energy, per structure, ``|ΔE| / |E − Σ_i E0(z_i)|`` (relative to what the
    expansion contributes, not to the isolated-atom energies); per-atom energies, forces and
    stress (ASE sign, eV/Å³ for both), the largest ``|Δ|`` over all structures divided by the
    largest ``|value|`` over all structures (``|E_i − E0(z_i)|`` for per-atom energies), so that
    forces that vanish by symmetry do not divide by round-off.

    ``"energy_roundoff"`` is the model's own floating-point resolution on the same scale,
    ``max_structures ε Σ_{i,k} |c_k B_ik| / |E − Σ E0|`` (``ε = 2⁻⁵²``): two exact evaluations
    that sum in different orders may differ by about this much. Ill-conditioned fits (huge
    cancelling coefficients) raise it, and no export can agree better than it.

    Returns
    -------
    dict
        ``{"energy", "energies", "forces", "stress"}`` (relative; ``stress`` is ``None`` without
        periodic structures), ``{"abs_energy", "abs_energies", "abs_forces", "abs_stress"}``
        (eV, eV, eV/Å, eV/Å³), ``"energy_roundoff"``, ``"n_structures"`` and ``"evaluator"``.
    """
    calc = pyace_calculator(path, evaluator)
    d = {"energy": [], "energies": [], "forces": [], "stress": []}
    ref = {"energies": [], "forces": [], "stress": []}
    rel_energy = []
    roundoff = []
    c = np.abs(model.coefficients)
    n = 0
    for atoms in structures:
        ours = model.predict(atoms)
        a = atoms.copy()
        a.calc = calc
        e0 = np.array([model.e0[s] for s in atoms.get_chemical_symbols()])
        theirs = {
            "energy": a.get_potential_energy(),
            "energies": a.get_potential_energies(),
            "forces": a.get_forces(),
        }
        if "stress" in ours:
            theirs["stress"] = a.get_stress(voigt=False)
        if getattr(model, "core", None) is not None:  # LAMMPS overlays it (a pair table)
            E_core, F_core, W_core = model.core.energy_forces(model.basis.pairs(atoms), len(atoms))
            theirs["energy"] += E_core.sum()
            theirs["energies"] = theirs["energies"] + E_core
            theirs["forces"] = theirs["forces"] + F_core
            if "stress" in theirs:
                theirs["stress"] = theirs["stress"] + 0.5 * (W_core + W_core.T) / atoms.get_volume()
        de = abs(theirs["energy"] - ours["energy"])
        d["energy"].append(de)
        rel_energy.append(de / abs(ours["energy"] - e0.sum()))
        scale = float((np.abs(model.basis.features(atoms)) @ c).sum())
        roundoff.append(np.finfo(float).eps * scale / abs(ours["energy"] - e0.sum()))
        d["energies"].append(np.abs(theirs["energies"] - ours["energies"]).max())
        ref["energies"].append(np.abs(ours["energies"] - e0).max())
        d["forces"].append(np.abs(theirs["forces"] - ours["forces"]).max())
        ref["forces"].append(np.abs(ours["forces"]).max())
        if "stress" in ours:
            d["stress"].append(np.abs(theirs["stress"] - ours["stress"]).max())
            ref["stress"].append(np.abs(ours["stress"]).max())
        n += 1
    if n == 0:
        raise ValueError("no structures given")
    out = {"energy": float(max(rel_energy)), "energy_roundoff": float(max(roundoff))}
    for key in ("energies", "forces", "stress"):
        out[key] = float(max(d[key]) / max(ref[key])) if d[key] else None
    for key in ("energy", "energies", "forces", "stress"):
        out[f"abs_{key}"] = float(max(d[key])) if d[key] else None
    out["n_structures"] = n
    out["evaluator"] = evaluator
    return out
