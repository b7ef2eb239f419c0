"""Acetylacetone: one assembly, many priors. For each prior the 300 K and 600 K errors and the
probe of the first test frame (holes deeper than 0.5 eV).

Run::

    NUMBA_NUM_THREADS=2 python benchmarks/acac_priors.py \\
        --weights 1,1,1 30,3,1 10,3,1 20,2,1 100,10,1 1,10,100 [--smoothness 2] \\
        [--radial bessel] [--save-dir DIR] [--json out.json]

Each ``--weights`` entry is the per-order prior weight ``w_ν`` of
:func:`ace_ref.fit.solvers.smoothness_prior` (``Γ_kk = w_ν (1 + deg_k)^p``). The basis, the data
cutoffs, E0, the data weights and the ZBL core are those of ``ace-ref fit``; the training
summary (streamed QR of ``train_300K``) is assembled once and every prior is a BLR solve on it,
so a sweep costs one assembly plus about one solve per setting. No committee or active set is
computed (the probe reports energies only); ``benchmarks/acac_extrapolation.py`` runs the full
pipeline of a chosen setting.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import ace_ref
from ace_ref import defaults
from ace_ref.fit.assembly import Weights, assemble
from ace_ref.fit.data import pair_cutoffs_from_data, read_configs, read_e0
from ace_ref.fit.errors import compute_errors
from ace_ref.fit.pipeline import training_uncertainty
from ace_ref.fit.solvers import smoothness_prior, solve
from ace_ref.models.core import RepulsiveCore
from ace_ref.models.load import model_for
from ace_ref.verify.probe import probe

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "acac"
ELEMENTS = ["H", "C", "O"]


def main(settings, smoothness: float, radial: str, save_dir, out) -> list[dict]:
    train = read_configs(DATA / "train_300K.xyz")
    test = read_configs(DATA / "test_MD_300K.xyz")
    hot = read_configs(DATA / "train_600K.xyz")
    e0 = read_e0(DATA / "isolated_atoms.xyz")
    basis = ace_ref.ACEBasis(
        ELEMENTS,
        defaults.ORDER,
        max_degree=list(defaults.MAX_DEGREE),
        r_cut=pair_cutoffs_from_data(train, ELEMENTS, defaults.R_CUT),
        radial=radial,
    )
    t0 = time.perf_counter()
    system = assemble(basis, train, e0, Weights.parse(defaults.WEIGHTS), False)
    print(f"K = {len(basis)}, assembly {time.perf_counter() - t0:.0f} s", flush=True)
    rows = []
    for w in settings:
        t0 = time.perf_counter()
        solution = solve(system, "blr", smoothness_prior(basis, smoothness, w))
        uncertainty = training_uncertainty(basis, train, solution, 0)
        core = RepulsiveCore.from_coverage(
            ELEMENTS, uncertainty.coverage, defaults.CORE_INNER, defaults.CORE_OUTER
        )
        model = model_for(basis, solution.coefficients, e0, {}, uncertainty, core)
        sets = (compute_errors(model, test, "test") | compute_errors(model, hot, "hot")).sets()
        report = probe(model.calculator(), test[0].atoms).to_dict()
        row = {
            "order_weights": list(w),
            "smoothness": smoothness,
            "radial": radial,
            "alpha": solution.info.get("alpha"),
            "test_MD_300K": [
                sets["test"]["energy_rmse_meV"],
                sets["test"]["forces_rmse_meV_per_A"],
            ],
            "train_600K": [sets["hot"]["energy_rmse_meV"], sets["hot"]["forces_rmse_meV_per_A"]],
            "holes": report["n_holes"],
            "scan_minima_eV": {s["label"]: s["min_energy_eV"] for s in report["scans"]},
            "seconds": time.perf_counter() - t0,
        }
        print(
            f"w = {','.join(f'{x:g}' for x in w)}: 300 K {row['test_MD_300K'][0]:.3f} / "
            f"{row['test_MD_300K'][1]:.2f}, 600 K {row['train_600K'][0]:.2f} / "
            f"{row['train_600K'][1]:.2f}, holes {row['holes']}, "
            f"worst scan {min(row['scan_minima_eV'].values()):.2f} eV",
            flush=True,
        )
        rows.append(row)
        if save_dir:
            name = "_".join(f"{x:g}" for x in w)
            model.save(Path(save_dir) / f"acac_w{name}_p{smoothness:g}.npz")
    if out:
        Path(out).write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", nargs="+", default=["1", "30,3,1"])
    p.add_argument("--smoothness", type=float, default=defaults.SMOOTHNESS)
    p.add_argument("--radial", default=defaults.RADIAL)
    p.add_argument("--save-dir")
    p.add_argument("--json")
    a = p.parse_args()
    settings = [tuple(float(x) for x in text.split(",")) for text in a.weights]
    main(settings, a.smoothness, a.radial, a.save_dir, a.json)
