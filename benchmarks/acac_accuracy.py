"""Error-vs-basis-size curve for acetylacetone: train on train_300K, test on test_MD_300K.

Run: ``python benchmarks/acac_accuracy.py [--specs quick|full] [--out results.json]``.
Each spec is fitted with ``ace-ref fit``'s machinery (BLR, smoothness prior p = 2); wall time
covers assembly + solve. Uses ../shared/data/acac if present, else the packaged copy.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ace_ref import ACEBasis
from ace_ref.cli import error_table
from ace_ref.data import read_configs, read_e0
from ace_ref.fit import Weights, assemble, smoothness_prior, solve
from ace_ref.model import LinearACEModel

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "acac"
PACKAGED = Path(__file__).resolve().parents[1] / "ace_ref" / "example_data" / "acac"

SPECS = {
    "deg8": dict(order=3, max_degree=[8, 8, 6], r_cut=5.0),
    "deg10": dict(order=3, max_degree=[10, 10, 8], r_cut=5.0),
    "deg12": dict(order=3, max_degree=[12, 12, 10], r_cut=5.0),
    "deg12_rc4.5": dict(order=3, max_degree=[12, 12, 10], r_cut=4.5),
    "deg12_rc6": dict(order=3, max_degree=[12, 12, 10], r_cut=6.0),
    "deg13": dict(order=3, max_degree=[14, 13, 11], r_cut=5.0),
    "o4_deg12": dict(order=4, max_degree=[12, 12, 10, 8], r_cut=4.5),
    "deg12_11": dict(order=3, max_degree=[12, 12, 11], r_cut=4.5),
    "wL1_deg11": dict(order=3, max_degree=[11, 11, 9], w_L=1, r_cut=4.5),
    "wL1_deg16_13_9": dict(order=3, max_degree=[16, 13, 9], w_L=1, r_cut=4.5),
    "wL1_deg12_12_10": dict(order=3, max_degree=[12, 12, 10], w_L=1, r_cut=4.5),
    "poly_wL1_deg11": dict(order=3, max_degree=[11, 11, 9], w_L=1, r_cut=4.5, radial="polynomial"),
    "agnesi_wL1_deg11": dict(
        order=3,
        max_degree=[11, 11, 9],
        w_L=1,
        r_cut=4.5,
        radial="polynomial",
        radial_options={"transform": "agnesi", "r_0": 1.2, "q": 4},
    ),
}


def run(names, out, weights_text, method):
    root = SHARED if SHARED.exists() else PACKAGED
    train = read_configs(root / "train_300K.xyz")
    test = read_configs(root / "test_MD_300K.xyz")
    e0 = read_e0(root / "isolated_atoms.xyz")
    results = []
    for name in names:
        spec = SPECS[name]
        basis = ACEBasis(["H", "C", "O"], **spec)
        t0 = time.perf_counter()
        system = assemble(
            basis, train, e0, Weights.parse(weights_text), progress=False, method=method
        )
        t1 = time.perf_counter()
        sol = solve(system, "blr", smoothness_prior(basis, 2.0))
        t2 = time.perf_counter()
        model = LinearACEModel(basis, sol.coefficients, e0)
        row = error_table(model, test, "test")["test"]
        rec = {
            "name": name,
            "spec": {k: (list(map(str, v)) if isinstance(v, list) else v) for k, v in spec.items()},
            "n_coefficients": len(basis),
            "weights": weights_text,
            "seconds_assembly": t1 - t0,
            "seconds_solve": t2 - t1,
            "test_energy_rmse_meV": row["energy_rmse_meV"],
            "test_forces_rmse_meV_per_A": row["forces_rmse_meV_per_A"],
        }
        print(json.dumps(rec), flush=True)
        results.append(rec)
    if out:
        Path(out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("names", nargs="*", default=list(SPECS))
    p.add_argument("--out")
    p.add_argument("--weights", default="energy=30,forces=1")
    p.add_argument("--method", default="normal", choices=["normal", "qr"])
    a = p.parse_args()
    run(a.names, a.out, a.weights, a.method)
