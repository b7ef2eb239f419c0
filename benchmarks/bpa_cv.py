"""3BPA: 5-fold cross-validated RMSE on train_300K.xyz (published linear ACE, Kovács et al.
2021, on the held-out 300 K test set: 7.1 meV / 27.1 meV/Å).

Run: ``python benchmarks/bpa_cv.py [--degree 10,10,7] [--wl 1] [--rcut 4.5]``. Folds are a seeded
random partition of the 500 configurations; each fold is fitted on the other 400 with BLR and
the smoothness prior (p = 2); E0 from iso_atoms.xyz.
"""

from __future__ import annotations

import argparse
import json
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from ace_ref import ACEBasis
from ace_ref.cli import error_table
from ace_ref.fit.assembly import Weights, assemble
from ace_ref.fit.data import read_configs, read_e0
from ace_ref.fit.solvers import smoothness_prior, solve
from ace_ref.models.linear import LinearACEModel

BPA = Path(__file__).resolve().parents[2] / "shared" / "data" / "3bpa"


def main(degree, w_L, r_cut, folds):
    configs = read_configs(BPA / "train_300K.xyz")
    e0 = read_e0(BPA / "iso_atoms.xyz")
    basis = ACEBasis(["H", "C", "N", "O"], order=3, max_degree=degree, w_L=w_L, r_cut=r_cut)
    order = np.random.default_rng(0).permutation(len(configs))
    parts = np.array_split(order, folds)
    e_sq, f_sq, n_e, n_f = 0.0, 0.0, 0, 0
    t0 = time.perf_counter()
    for k, held in enumerate(parts):
        train = [configs[i] for i in order if i not in set(held)]
        test = [configs[i] for i in held]
        system = assemble(basis, train, e0, Weights(), progress=False)
        sol = solve(system, "blr", smoothness_prior(basis, 2.0))
        row = error_table(LinearACEModel(basis, sol.coefficients, e0), test, "fold")["fold"]
        print(
            json.dumps(
                {
                    "fold": k,
                    "energy_rmse_meV": row["energy_rmse_meV"],
                    "forces_rmse_meV_per_A": row["forces_rmse_meV_per_A"],
                }
            ),
            flush=True,
        )
        e_sq += row["energy_rmse_meV"] ** 2 * len(test)
        n_e += len(test)
        n_atoms = sum(len(c.atoms) for c in test)
        f_sq += row["forces_rmse_meV_per_A"] ** 2 * 3 * n_atoms
        n_f += 3 * n_atoms
    print(
        json.dumps(
            {
                "basis_functions": len(basis),
                "degree": [str(d) for d in degree],
                "w_L": str(w_L),
                "r_cut": r_cut,
                "folds": folds,
                "cv_energy_rmse_meV": float(np.sqrt(e_sq / n_e)),
                "cv_forces_rmse_meV_per_A": float(np.sqrt(f_sq / n_f)),
                "seconds": time.perf_counter() - t0,
            }
        )
    )


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--degree", default="10,10,7")
    p.add_argument("--wl", default="1")
    p.add_argument("--rcut", type=float, default=4.5)
    p.add_argument("--folds", type=int, default=5)
    a = p.parse_args()
    main([int(x) for x in a.degree.split(",")], Fraction(a.wl), a.rcut, a.folds)
