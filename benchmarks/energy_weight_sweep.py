"""Energy weight sweep from one assembly: how much does the energy/force balance matter?

The energy rows and the force rows are assembled into two QR summaries (``Weights`` with
``forces=0`` and with ``energy=0``). For an energy weight ``w`` the summary of the weighted
problem is the merge of ``w·[R_E | z_E]`` with ``[R_F | z_F]`` (exact: both are triangular
factors of their rows, and scaling rows scales the factor), so every weight costs one merge
(``(2/3) K³``) and one BLR solve instead of a new assembly. Everything else is the
``ace-ref fit`` default (prior (30, 3, 1), p = 2, data pair cutoffs). Training errors come
from the two summaries alone (``LinearSystem.squared_error``).

Data: ``--data 3bpa`` trains on the four fifths of ../shared/data/3bpa/train_300K.xyz that
``benchmarks/bpa_cv.py`` uses for fold 0 and tests on the fifth held out (basis size chosen
from the data as there); ``--data acac`` trains on the packaged train_300K and tests on
test_MD_300K (the default basis).

Run: ``python benchmarks/energy_weight_sweep.py --data 3bpa --weights 30 100 300 1000
[--json out.json]``.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

import ace_ref
from ace_ref import defaults
from ace_ref.fit.assembly import LinearSystem, Weights, assemble, merge
from ace_ref.fit.data import pair_cutoffs_from_data, read_configs, read_e0
from ace_ref.fit.errors import compute_errors
from ace_ref.fit.presets import choose_degree_for_data
from ace_ref.fit.solvers import smoothness_prior, solve
from ace_ref.models.linear import LinearACEModel

ROOT = Path(__file__).resolve().parents[1]
ACAC = ROOT / "ace_ref" / "example_data" / "acac"
BPA = ROOT.parent / "shared" / "data" / "3bpa"


def scaled(system: LinearSystem, w: float) -> LinearSystem:
    """The summary of the same rows times ``w``."""
    return replace(system, R=w * system.R, z=w * system.z, yy=w * w * system.yy)


def data(name: str):
    if name == "acac":
        train = read_configs(ACAC / "train_300K.xyz")
        test = read_configs(ACAC / "test_MD_300K.xyz")
        return ["H", "C", "O"], train, test, read_e0(ACAC / "isolated_atoms.xyz"), None
    configs = read_configs(BPA / "train_300K.xyz")
    order = np.random.default_rng(0).permutation(len(configs))
    held = set(np.array_split(order, 5)[0].tolist())
    train = [configs[i] for i in order if i not in held]
    test = [configs[i] for i in sorted(held)]
    elements = ["H", "C", "N", "O"]
    # the uniform default basis of the sweep recorded in BENCHMARKS.md (before the
    # per-element budgets became the default)
    degree = choose_degree_for_data(train, elements, element_degree_scale=None).max_degree
    return elements, train, test, read_e0(BPA / "iso_atoms.xyz"), degree


def main(name: str, energy_weights: list[float], out: str | None) -> list[dict]:
    elements, train, test, e0, degree = data(name)
    basis = ace_ref.ACEBasis(
        elements,
        defaults.ORDER,
        max_degree=list(defaults.MAX_DEGREE) if degree is None else degree,
        r_cut=pair_cutoffs_from_data(train, elements, defaults.R_CUT),
    )
    t0 = time.perf_counter()
    energies = assemble(basis, train, e0, Weights(energy=1.0, forces=0.0, virial=0.0), False)
    forces = assemble(basis, train, e0, Weights(energy=0.0, forces=1.0, virial=0.0), False)
    print(f"{name}: K = {len(basis)}, two assemblies {time.perf_counter() - t0:.0f} s", flush=True)
    gamma = smoothness_prior(basis, defaults.SMOOTHNESS, defaults.ORDER_WEIGHTS)
    rows = []
    for w in energy_weights:
        t0 = time.perf_counter()
        system = merge([scaled(energies, w), forces])
        solution = solve(system, "blr", gamma)
        c = solution.coefficients
        model = LinearACEModel(basis, c, e0)
        held = compute_errors(model, test, "test").sets()["test"]
        row = {
            "energy_weight": w,
            "K": len(basis),
            "train_energy_rmse_meV_per_atom": 1e3
            * float(np.sqrt(energies.squared_error(c) / energies.n_rows)),
            "train_forces_rmse_meV_per_A": 1e3
            * float(np.sqrt(forces.squared_error(c) / forces.n_rows)),
            "test_energy_rmse_meV": held["energy_rmse_meV"],
            "test_forces_rmse_meV_per_A": held["forces_rmse_meV_per_A"],
            "effective_parameters": solution.info.get("effective_parameters"),
            "seconds": time.perf_counter() - t0,
        }
        print(json.dumps(row), flush=True)
        rows.append(row)
    if out:
        Path(out).write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", choices=["acac", "3bpa"], default="acac")
    p.add_argument("--weights", type=float, nargs="+", default=[30.0])
    p.add_argument("--json")
    a = p.parse_args()
    main(a.data, a.weights, a.json)
