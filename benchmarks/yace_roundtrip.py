"""`.yace` export round trip: fitted models, exported, evaluated by ML-PACE (pyace).

Two fits with the exportable ``ace1`` radial basis (BLR, smoothness prior p = 2):

* acetylacetone: order 3, total degree [9, 9, 7] (w_L = 1), r_cut 4.5 Å, on the first
  ``--acac-train`` configurations of the packaged train_300K; compared on the whole packaged
  test_MD_300K set;
* tantalum (../shared/data/ta, stress in bar, pressure convention): order 4, degree
  [14, 12, 10, 8], r_cut 5 Å, on all 363 configurations (``--ta-stride k``: every k-th);
  compared on all configurations (periodic, with stress). The RMSE printed for Ta is on
  those configurations (training error, as in ``benchmarks/ta_snap.py``).

For each pyace evaluator (``recursive``/``product`` = LAMMPS ``pair_style pace
recursive|product``; ``ctilde`` = pyace's default) it prints the largest relative and
absolute differences (:func:`ace_ref.models.yace_check.pyace_agreement`) and the model's own
round-off scale.

``--compare-radials`` also fits both data sets with the Bessel radial basis and with
``ace1`` at ``q = 2`` and prints their errors beside the exported model's (accuracy of the
exportable basis; not needed for the round trip).

``--model model.npz`` instead exports a model file (e.g. the one ``ace-ref fit --example acac``
writes, Bessel radial basis written as ML-PACE ``ChebPow``) and compares it on the packaged
acac test_MD_300K set (all structures; ``--structures N`` for the first N).

Run: ``python benchmarks/yace_roundtrip.py [--compare-radials] [--model M.npz]
[--out results.json]``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from ace_ref import ACEBasis
from ace_ref.fit.assembly import Weights, assemble
from ace_ref.fit.data import fit_e0, read_configs, read_e0
from ace_ref.fit.solvers import smoothness_prior, solve
from ace_ref.models.linear import LinearACEModel
from ace_ref.models.yace_check import PYACE_EVALUATORS, pyace_agreement

ROOT = Path(__file__).resolve().parents[1]
ACAC = ROOT / "ace_ref" / "example_data" / "acac"
TA = ROOT.parent / "shared" / "data" / "ta"


def _fit(basis, configs, e0):
    system = assemble(basis, configs, e0, Weights.parse("energy=30,forces=1,virial=1"), False)
    solution = solve(system, "blr", smoothness_prior(basis, 2.0))
    return LinearACEModel(basis, solution.coefficients, e0)


def _rmse(model, configs):
    e = [(model.predict(c.atoms)["energy"] - c.energy) / len(c.atoms) for c in configs]
    f = np.concatenate([(model.predict(c.atoms)["forces"] - c.forces).ravel() for c in configs])
    return float(np.sqrt(np.mean(np.square(e)))), float(np.sqrt(np.mean(f**2)))


def compare_radials(name, spec, train, e0, test):
    """Errors of the same specification with other radial bases (see module docstring)."""
    for radial, options in (("bessel", {}), ("ace1", {"q": 2}), ("ace1", {})):
        model = _fit(ACEBasis(**spec, radial=radial, radial_options=options), train, e0)
        e, f = _rmse(model, test)
        print(f"{name} {radial} {options or '(defaults)'}: RMSE {1e3 * e:.2f} meV/atom, "
              f"{1e3 * f:.1f} meV/Å")  # fmt: skip


def run(name, model, structures, workdir, test_configs):
    t0 = time.perf_counter()
    out = model.export_yace(Path(workdir) / f"{name}.yace")
    t_export = time.perf_counter() - t0
    e_rmse, f_rmse = _rmse(model, test_configs)
    rows = []
    for evaluator in PYACE_EVALUATORS:
        agreement = pyace_agreement(model, out.path, structures, evaluator)
        rows.append(agreement)
    return {
        "name": name,
        "functions": len(model.basis),
        "file_bytes": out.n_bytes,
        "ctilde_functions": out.n_functions,
        "seconds_export": t_export,
        "max_abs_coefficient": float(np.abs(model.coefficients).max()),
        "test_rmse_E_per_atom_eV": e_rmse,
        "test_rmse_F_eV_per_A": f_rmse,
        "agreement": rows,
    }


def fit_and_run(name, spec, train, e0, test, workdir, compare: bool) -> dict:
    """Fit ``spec`` with the ``ace1`` radial basis, export it and compare on ``test``."""
    basis = ACEBasis(**spec, radial="ace1")
    t0 = time.perf_counter()
    model = _fit(basis, train, e0)
    print(f"{name}: {len(basis)} functions fitted on {len(train)} configs in "
          f"{time.perf_counter() - t0:.1f} s")  # fmt: skip
    result = run(name, model, [c.atoms for c in test], workdir, test)
    if compare:
        compare_radials(name, spec, train, e0, test)
    return result


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--acac-train", type=int, default=100)
    p.add_argument("--ta-stride", type=int, default=1)
    p.add_argument("--compare-radials", action="store_true")
    p.add_argument("--model", help="export this model file and compare on acac test_MD_300K")
    p.add_argument("--structures", type=int, default=None)
    p.add_argument("--out")
    args = p.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory() as work:
        if args.model:
            from ace_ref.models.load import load

            model = load(args.model)
            test = read_configs(ACAC / "test_MD_300K.xyz")[: args.structures]
            print(f"{args.model}: {len(model.basis)} functions, radial {model.basis.radial_kind!r}")
            results.append(run("model", model, [c.atoms for c in test], work, test))
        else:
            train = read_configs(ACAC / "train_300K.xyz")[: args.acac_train]
            test = read_configs(ACAC / "test_MD_300K.xyz")
            spec = dict(elements=["H", "C", "O"], order=3, max_degree=[9, 9, 7], w_L=1, r_cut=4.5)
            e0 = read_e0(ACAC / "isolated_atoms.xyz")
            results.append(fit_and_run("acac", spec, train, e0, test, work, args.compare_radials))
            if TA.is_dir():
                configs = []
                for f in sorted(TA.glob("*.xyz")):
                    configs += read_configs(f, stress_unit="bar", stress_convention="pressure")
                train = configs[:: args.ta_stride]
                spec = dict(elements="Ta", order=4, max_degree=[14, 12, 10, 8], w_L=1, r_cut=5.0)
                e0 = fit_e0(train, ["Ta"])
                results.append(
                    fit_and_run("Ta", spec, train, e0, configs, work, args.compare_radials)
                )
            else:
                print(f"Ta data not found at {TA}: skipped")

    def g(x):
        return "-" if x is None else f"{x:.1e}"

    print(
        "| model | functions | .yace size | evaluator | structures | E rel | E_i rel | F rel | "
        "σ rel | max |ΔF| (eV/Å) | max |Δσ| (eV/Å³) | round-off scale |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        for a in r["agreement"]:
            print(
                f"| {r['name']} | {r['functions']} | {r['file_bytes'] / 1e3:.0f} kB | "
                f"{a['evaluator']} | {a['n_structures']} | {g(a['energy'])} | "
                f"{g(a['energies'])} | {g(a['forces'])} | {g(a['stress'])} | "
                f"{g(a['abs_forces'])} | {g(a['abs_stress'])} | {g(a['energy_roundoff'])} |"
            )
    for r in results:
        print(
            f"{r['name']}: export {r['seconds_export']:.2f} s, max |c| "
            f"{r['max_abs_coefficient']:.3g}, RMSE {1e3 * r['test_rmse_E_per_atom_eV']:.2f} "
            f"meV/atom, {1e3 * r['test_rmse_F_eV_per_A']:.1f} meV/Å"
        )
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
