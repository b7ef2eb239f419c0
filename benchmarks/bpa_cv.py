"""3BPA: k-fold cross-validated RMSE on train_300K.xyz with the fit the command line would run
(published linear ACE, Kovács et al. 2021, on the held-out 300 K test set: 7.1 meV / 27.1 meV/Å).

Run::

    python benchmarks/bpa_cv.py [--degree 10,10,7 --wl 1 | --preset default] [--rcut 4.5]
                                [--radial sbessel] [--pair-rcut 6 [--pair-max-n 16]]
                                [--element-degrees H=0.8,C=1.1|none] [--select K|auto|none]
                                [--ranking-rows N|auto|all] [--weights energy=30,forces=1]
                                [--purify]
                                [--folds 5] [--only 0 1] [--json out.json]

Folds are a seeded random partition of the 500 configurations; each fold is fitted on the
others by :func:`ace_ref.fit` (BLR, smoothness prior, data-driven pair cutoffs, ZBL core — the
``ace-ref fit`` defaults) with E0 from iso_atoms.xyz. Without ``--degree`` the degrees are
chosen from the fold's data and the free memory as ``ace-ref fit`` chooses them
(:func:`ace_ref.fit.presets.choose_degree_for_data`), with ``ace-ref fit``'s per-element degree
budgets (``defaults.ELEMENT_DEGREE_SCALE``) unless ``--element-degrees`` says otherwise, and
its greedy selection (``--select`` and ``--ranking-rows``, as ``ace-ref fit`` resolves them:
:func:`ace_ref.fit.presets.resolve_select`, :func:`~ace_ref.fit.presets.resolve_ranking_rows`).
``--only`` runs a subset of the folds (the CV line then covers those folds only). Every fold
prints the plan (estimated time and memory) before it starts.
"""

from __future__ import annotations

import argparse
import json
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

import ace_ref
from ace_ref import ACEBasis, defaults
from ace_ref.basis import pair_and_many_body
from ace_ref.fit.assembly import Weights
from ace_ref.fit.data import pair_cutoffs_from_data, read_configs
from ace_ref.fit.presets import (
    choose_degree_for_data,
    parse_element_scales,
    resolve_ranking_rows,
    resolve_select,
    selects,
)
from ace_ref.one_particle.radial import RADIAL_KINDS

BPA = Path(__file__).resolve().parents[2] / "shared" / "data" / "3bpa"
ELEMENTS = ["H", "C", "N", "O"]


def main(
    degree,
    w_L,
    preset,
    r_cut,
    folds,
    only,
    out,
    radial=defaults.RADIAL,
    pair_rcut=None,
    pair_max_n=defaults.PAIR_MAX_N,
    element_degrees="default",
    select=None,
    ranking_rows=None,
    weights=defaults.WEIGHTS,
    purify=False,
) -> None:
    weights_text, weights = weights, Weights.parse(weights)
    configs = read_configs(BPA / "train_300K.xyz")
    order = np.random.default_rng(0).permutation(len(configs))
    parts = np.array_split(order, folds)
    results = []
    e_sq = f_sq = 0.0
    n_e = n_f = 0
    t0 = time.perf_counter()
    for k, held in enumerate(parts):
        if only and k not in only:
            continue
        held_set = set(held.tolist())
        train = [configs[i] for i in order if i not in held_set]
        test = [configs[i] for i in held]
        if degree is None:
            choice = choose_degree_for_data(
                train,
                ELEMENTS,
                preset=preset,
                w_L=w_L,
                element_degree_scale=element_degrees,
                for_selection=selects(select),
            )
            fold_degree, reason = choice.max_degree, choice.reason
            scales = choice.element_degree_scale
        else:
            fold_degree, reason = degree, "given"
            scales = None if element_degrees == "default" else element_degrees
        basis = ACEBasis(
            ELEMENTS,
            3,
            max_degree=fold_degree,
            w_L=w_L,
            r_cut=pair_cutoffs_from_data(train, ELEMENTS, r_cut),
            radial=radial,
            element_degree_scale=scales,
            purify=purify,
        )
        if pair_rcut is not None:  # as ace-ref fit --pair-rcut R (data pair cutoffs)
            basis = pair_and_many_body(
                ELEMENTS,
                pair_r_cut=pair_cutoffs_from_data(train, ELEMENTS, pair_rcut),
                pair_max_n=pair_max_n,
                many_body=basis,
            )
        degrees = ",".join(str(d) for d in fold_degree)
        print(f"fold {k}: {len(basis)} coefficients, degree {degrees} ({reason})", flush=True)
        fold_select, line = resolve_select(select, train, weights, basis, degree is None)
        if line:
            print(line, flush=True)
        fold_ranking_rows, line = resolve_ranking_rows(
            ranking_rows, fold_select, train, weights, basis, preset
        )
        if line:
            print(line, flush=True)
        result = ace_ref.fit(
            train,
            basis,
            e0=BPA / "iso_atoms.xyz",
            test={"fold": test},
            on_plan=lambda cost: print(cost.format(), flush=True),
            select=fold_select,
            ranking_rows=fold_ranking_rows,
            weights=weights,
        )
        row = result.errors.sets()["fold"]
        print(result.summary(), flush=True)
        entry = {
            "fold": k,
            "n_coefficients": len(result.model.basis),
            "pool": len(basis) if fold_select is not None else None,
            "ranking_rows": (result.model.metadata.get("selection") or {}).get("ranking_rows"),
            "degree": [str(d) for d in fold_degree],
            "element_degree_scale": {el: str(v) for el, v in (scales or {}).items()},
            "energy_rmse_meV": row["energy_rmse_meV"],
            "forces_rmse_meV_per_A": row["forces_rmse_meV_per_A"],
            "seconds": result.seconds_total,
            "estimated_seconds": result.cost.total_seconds,
            "timings": result.timings,
        }
        print(json.dumps(entry), flush=True)
        results.append(entry)
        e_sq += row["energy_rmse_meV"] ** 2 * len(test)
        n_e += len(test)
        n_atoms = sum(len(c.atoms) for c in test)
        f_sq += row["forces_rmse_meV_per_A"] ** 2 * 3 * n_atoms
        n_f += 3 * n_atoms
    summary = {
        "folds": folds,
        "folds_run": [r["fold"] for r in results],
        "w_L": str(w_L),
        "r_cut": r_cut,
        "radial": radial,
        "pair_rcut": pair_rcut,
        "pair_max_n": pair_max_n if pair_rcut is not None else None,
        "weights": weights_text,
        "purify": purify,
        "cv_energy_rmse_meV": float(np.sqrt(e_sq / n_e)),
        "cv_forces_rmse_meV_per_A": float(np.sqrt(f_sq / n_f)),
        "seconds": time.perf_counter() - t0,
        "per_fold": results,
    }
    print(json.dumps({k: v for k, v in summary.items() if k != "per_fold"}))
    if out:
        Path(out).write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--degree", help="e.g. 10,10,7; default: chosen from the data (--preset)")
    p.add_argument("--preset", default="default", choices=list(defaults.PRESETS))
    p.add_argument("--wl", default=str(defaults.W_L))
    p.add_argument("--rcut", type=float, default=defaults.R_CUT)
    p.add_argument("--radial", default=defaults.RADIAL, choices=list(RADIAL_KINDS))
    p.add_argument("--pair-rcut", type=float, help="add a two-body part with this cutoff")
    p.add_argument("--pair-max-n", type=int, default=defaults.PAIR_MAX_N)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--only", type=int, nargs="+", help="run only these folds")
    p.add_argument("--json", help="write every fold's numbers here")
    p.add_argument(
        "--element-degrees",
        default="default",
        help="per-element degree budgets as ace-ref fit takes them, e.g. H=0.8,C=1.1, or "
        "'none'; default: ace-ref fit's (defaults.ELEMENT_DEGREE_SCALE) where the degree is "
        "chosen from the data",
    )
    p.add_argument(
        "--select",
        help="greedy selection as ace-ref fit takes it: K, 'auto' or 'none'; default: auto "
        "where the degree is chosen from the data, otherwise none",
    )
    p.add_argument(
        "--ranking-rows",
        help="with selection: rank on the Gram summary of at most N rows (configurations "
        "drawn at random), 'auto' (default, as ace-ref fit resolves it) or 'all'",
    )
    p.add_argument(
        "--weights",
        default=defaults.WEIGHTS,
        help="observable weights as ace-ref fit --weights takes them (default: its default)",
    )
    p.add_argument(
        "--purify", action="store_true", help="self-interaction-free basis (ace-ref fit --purify)"
    )
    a = p.parse_args()
    element_degrees = a.element_degrees
    if element_degrees != "default":
        element_degrees = parse_element_scales(element_degrees)
    deg = None if a.degree is None else [Fraction(x) for x in a.degree.split(",")]
    main(
        deg,
        Fraction(a.wl),
        a.preset,
        a.rcut,
        a.folds,
        a.only,
        a.json,
        a.radial,
        a.pair_rcut,
        a.pair_max_n,
        element_degrees,
        a.select,
        a.ranking_rows,
        a.weights,
        a.purify,
    )
