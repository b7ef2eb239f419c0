"""Error-vs-basis-size curve for acetylacetone: train on train_300K, test on test_MD_300K.

Run: ``python benchmarks/acac_accuracy.py [NAME ...] [--out results.json]`` (names from
``SPECS``). Each spec is fitted with ``ace-ref fit``'s machinery (streamed QR, BLR, smoothness
prior p = 2); wall times of assembly and solve are reported separately. Uses
../shared/data/acac if present, else the packaged copy.

``python benchmarks/acac_accuracy.py --plot docs/img/acac_accuracy.png --from-json
benchmarks/acac_accuracy.json`` draws the error-vs-size curve of recorded results.
"""

from __future__ import annotations

import argparse
import json
import time
from fractions import Fraction
from pathlib import Path

from ace_ref import ACEBasis
from ace_ref.fit.assembly import Weights, assemble
from ace_ref.fit.data import read_configs, read_e0
from ace_ref.fit.errors import compute_errors
from ace_ref.fit.solvers import smoothness_prior, solve
from ace_ref.models.linear import LinearACEModel

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
    "wL1_deg11_11_10": dict(order=3, max_degree=[11, 11, 10], w_L=1, r_cut=4.5),
    "wL1_deg13_13_10": dict(order=3, max_degree=[13, 13, 10], w_L=1, r_cut=4.5),
    "wL1_deg14_14_10": dict(order=3, max_degree=[14, 14, 10], w_L=1, r_cut=4.5),
    "wL0.75_deg12_12_9.5": dict(order=3, max_degree=[12, 12, 9.5], w_L=0.75, r_cut=4.5),
    "wL0.8_deg12_12_10": dict(order=3, max_degree=[12, 12, 10], w_L=0.8, r_cut=4.5),
    "wL0.9_deg12_12_10.4": dict(order=3, max_degree=[12, 12, 10.4], w_L=0.9, r_cut=4.5),
    "wL1_o4_deg12_12_10_7": dict(order=4, max_degree=[12, 12, 10, 7], w_L=1, r_cut=4.5),
    "wL0.75_deg12_12_9": dict(order=3, max_degree=[12, 12, 9], w_L=0.75, r_cut=4.5),
    "wL0.8_deg12_12_9.6": dict(order=3, max_degree=[12, 12, 9.6], w_L=0.8, r_cut=4.5),
    "wL0.66_deg12_12_9": dict(order=3, max_degree=[12, 12, 9], w_L=0.66, r_cut=4.5),
    "wL0.6_deg12_12_8.8": dict(order=3, max_degree=[12, 12, 8.8], w_L=0.6, r_cut=4.5),
    "wL0.75_deg12_12_10": dict(order=3, max_degree=[12, 12, 10], w_L=0.75, r_cut=4.5),
    "wL0.6_deg12_12_9.2": dict(order=3, max_degree=[12, 12, 9.2], w_L=0.6, r_cut=4.5),
    "wL0.5_deg12_12_8.5": dict(order=3, max_degree=[12, 12, 8.5], w_L=0.5, r_cut=4.5),
    "wL0.75_deg13_13_9.5": dict(order=3, max_degree=[13, 13, 9.5], w_L=0.75, r_cut=4.5),
    "wL0.75_o4_deg12_12_9.5_6.5": dict(order=4, max_degree=[12, 12, 9.5, 6.5], w_L=0.75, r_cut=4.5),
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
        row = compute_errors(model, test, "test").sets()["test"]
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
    return results


def plot(records: list[dict], path: str) -> None:
    """Test energy and force RMSE against the number of coefficients, one series per w_L."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), constrained_layout=True)
    series: dict[str, list[dict]] = {}
    for rec in records:
        spec = rec["spec"]
        label = f"order {spec['order']}, w_L = {spec.get('w_L', '3/2')}"
        series.setdefault(label, []).append(rec)
    for label, recs in sorted(series.items()):
        recs = sorted(recs, key=lambda r: r["n_coefficients"])
        k = [r["n_coefficients"] for r in recs]
        axes[0].plot(k, [r["test_energy_rmse_meV"] for r in recs], "o-", label=label)
        axes[1].plot(k, [r["test_forces_rmse_meV_per_A"] for r in recs], "o-", label=label)
    from ace_ref import defaults

    default = [str(d) for d in defaults.MAX_DEGREE]
    for rec in records:
        spec = rec["spec"]
        mine = [str(Fraction(d)) for d in spec["max_degree"]]
        if mine == default and str(Fraction(str(spec.get("w_L", "3/2")))) == defaults.W_L:
            k = rec["n_coefficients"]
            axes[0].plot(k, rec["test_energy_rmse_meV"], "k*", ms=14, zorder=5, label=None)
            axes[1].plot(k, rec["test_forces_rmse_meV_per_A"], "k*", ms=14, zorder=5,
                         label="ace-ref fit default")  # fmt: skip
    for ax, target, unit in ((axes[0], 3.0, "meV"), (axes[1], 12.0, "meV/Å")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.axhline(target, color="grey", ls="--", lw=1)
        ax.set_xlabel("coefficients K")
        ax.set_ylabel(f"test RMSE ({unit})")
    axes[0].set_title("energy (target ≤ 3 meV)")
    axes[1].set_title("forces (target ≤ 12 meV/Å)")
    axes[1].legend(fontsize=7, loc="lower left")
    fig.suptitle("acetylacetone, train_300K → test_MD_300K, BLR")
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("names", nargs="*", default=[])
    p.add_argument("--out")
    p.add_argument("--weights", default="energy=30,forces=1")
    p.add_argument("--method", default="qr", choices=["normal", "qr"])
    p.add_argument("--plot", help="write the error-vs-size plot here")
    p.add_argument("--from-json", help="plot these recorded results instead of fitting")
    a = p.parse_args()
    if a.from_json:
        plot(json.loads(Path(a.from_json).read_text()), a.plot or "acac_accuracy.png")
    else:
        records = run(a.names or list(SPECS), a.out, a.weights, a.method)
        if a.plot:
            plot(records, a.plot)
