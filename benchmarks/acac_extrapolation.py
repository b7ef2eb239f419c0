"""Beyond RMSE on acetylacetone: train at 300 K, look at 600 K, at holes and at what the
model says of its own reliability (issue "Beyond RMSE").

For each variant of the fit (basis and prior options) this script fits on ``train_300K`` only,
then reports

* RMSE on ``test_MD_300K`` and on the hotter ``train_600K`` (never used for fitting);
* how well the committee spread and the extrapolation grade γ rank the true errors on
  ``train_600K`` (Spearman, and the share of the 5 % worst configurations among the 5 % most
  uncertain);
* the hole probe (torsions of every rotatable bond, stretches of every species pair, random
  displacements) of the first ``test_MD_300K`` frame, and the fit time.

Usage (from the repository root; needs ../shared/data/acac)::

    python benchmarks/acac_extrapolation.py --variants default oo_cutoff --json out.json

Variants are defined in ``VARIANTS`` below: keyword changes to ``ACEBasis`` and
``ace_ref.fit`` relative to the ``ace-ref fit`` defaults.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import ace_ref
from ace_ref import defaults
from ace_ref.basis import pair_and_many_body
from ace_ref.fit import read_configs, read_e0
from ace_ref.fit.data import pair_cutoffs_from_data
from ace_ref.fit.errors import assess_configs, predict_all, rank_signals
from ace_ref.verify.probe import probe

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "acac"

VARIANTS = {
    "default": {},
    "smooth3": {"fit": {"smoothness": 3.0}},
    "smooth4": {"fit": {"smoothness": 4.0}},
    "oo_cutoff": {"basis": {"r_cut": {"default": defaults.R_CUT, ("O", "O"): 3.2}}},
    "oo_cutoff_smooth3": {
        "basis": {"r_cut": {"default": defaults.R_CUT, ("O", "O"): 3.2}},
        "fit": {"smoothness": 3.0},
    },
    "data_cutoffs": {"data_cutoffs": True},
    "data_cutoffs_smooth3": {"data_cutoffs": True, "fit": {"smoothness": 3.0}},
    "data_cutoffs_nocore": {"data_cutoffs": True, "fit": {"core": None}},
    "data_cutoffs_bare": {
        "data_cutoffs": True,
        "fit": {"core": None, "committee_size": 0, "active_set_size": 0},
    },
    "data_cutoffs_smooth1": {"data_cutoffs": True, "fit": {"smoothness": 1.0}},
    "data_cutoffs_ace1": {"data_cutoffs": True, "basis": {"radial": "ace1"}},
    "order_weights_30_3_1": {"data_cutoffs": True, "fit": {"order_weights": (30.0, 3.0, 1.0)}},
    "order_weights_equal": {"data_cutoffs": True, "fit": {"order_weights": None}},
    "data_cutoffs_sbessel": {"data_cutoffs": True, "basis": {"radial": "sbessel"}},
    "data_cutoffs_bessel": {"data_cutoffs": True, "basis": {"radial": "bessel"}},
    "data_cutoffs_polynomial": {"data_cutoffs": True, "basis": {"radial": "polynomial"}},
    "data_cutoffs_rc4": {"data_cutoffs": True, "r_cut": 4.0},
    "gap_cutoffs": {"data_cutoffs": True, "max_gap": 0.3},
    "pair45_mb35": {"data_cutoffs": True, "r_cut": 3.5, "pair": {"r_cut": 4.5, "max_n": 16}},
    "pair45_mb40": {"data_cutoffs": True, "r_cut": 4.0, "pair": {"r_cut": 4.5, "max_n": 16}},
    "gap_cutoffs_rc4": {"data_cutoffs": True, "max_gap": 0.3, "r_cut": 4.0},
    "data_cutoffs_rc35": {"data_cutoffs": True, "r_cut": 3.5},
    "polynomial": {"basis": {"radial": "polynomial"}},
    "ace1": {"basis": {"radial": "ace1"}},
}


def dgemm_gflops(n: int = 2000, repeats: int = 3) -> float:
    """Measured double-precision matrix-multiply rate (GFLOP/s) of this machine."""
    a = np.random.default_rng(0).normal(size=(n, n))
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        a @ a
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def run(name: str, spec: dict, save_dir: str | None = None) -> dict:
    train = read_configs([DATA / "train_300K.xyz"])
    test = read_configs([DATA / "test_MD_300K.xyz"])
    hot = read_configs([DATA / "train_600K.xyz"])
    e0 = read_e0(DATA / "isolated_atoms.xyz")
    basis_kw = {
        "order": defaults.ORDER,
        "max_degree": list(defaults.MAX_DEGREE),
        **spec.get("basis", {}),
    }
    r_cut = spec.get("r_cut", defaults.R_CUT)
    basis_kw.setdefault("r_cut", r_cut)
    if spec.get("data_cutoffs"):
        basis_kw["r_cut"] = pair_cutoffs_from_data(
            train, ["H", "C", "O"], r_cut, max_gap=spec.get("max_gap")
        )
    basis = ace_ref.ACEBasis(["H", "C", "O"], **basis_kw)
    if "pair" in spec:
        pair_cut = pair_cutoffs_from_data(train, ["H", "C", "O"], spec["pair"]["r_cut"])
        basis = pair_and_many_body(
            ["H", "C", "O"], pair_r_cut=pair_cut, pair_max_n=spec["pair"]["max_n"], many_body=basis
        )
    t0 = time.perf_counter()
    result = ace_ref.fit(train, basis, e0=e0, test={"test_MD_300K": test}, **spec.get("fit", {}))
    seconds = time.perf_counter() - t0
    model = result.model
    if save_dir:
        model.save(Path(save_dir) / f"acac_{name}.npz")
    predictions = predict_all(model, hot)
    errors = result.errors | ace_ref.compute_errors(model, hot, "train_600K", predictions)
    rows = assess_configs(model, hot, predictions)
    ranking = rank_signals(rows)
    with_spread = model.uncertainty is not None and model.uncertainty.committee is not None
    report = probe(model.calculator(uncertainty=with_spread), test[0].atoms)
    out = {
        "variant": name,
        "spec": repr(spec),
        "n_coefficients": len(basis),
        "fit_seconds": seconds,
        "errors": {k: errors[k] for k in ("train", "test_MD_300K", "train_600K")},
        "ranking_600K": ranking,
        "n_outside_600K": sum(1 for r in rows if r.get("n_pairs_outside")),
        "probe": report.to_dict(),
        "probe_table": report.format(),
    }
    print(f"== {name}: K={len(basis)}, fit {seconds:.0f} s")
    print(errors.format())
    for key, r in ranking.items():
        print(f"  {key}: Spearman {r['spearman']:.2f}, caught {100 * r['caught']:.0f} %")
    print(report.format(), flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=["default"], choices=list(VARIANTS))
    parser.add_argument("--json", help="append results to this JSON file")
    parser.add_argument("--save-dir", help="write each fitted model there as acac_VARIANT.npz")
    args = parser.parse_args()
    machine = {"dgemm_gflops_1thread_or_all": dgemm_gflops()}
    print(f"dgemm: {machine['dgemm_gflops_1thread_or_all']:.1f} GFLOP/s")
    results = []
    for name in args.variants:
        results.append({**run(name, VARIANTS[name], args.save_dir), "machine": machine})
        if args.json:
            path = Path(args.json)
            old = json.loads(path.read_text()) if path.exists() else []
            path.write_text(json.dumps(old + [results[-1]], indent=1))


if __name__ == "__main__":
    main()
