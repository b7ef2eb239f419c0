"""Full ACE vs NequIP-style sparsifications vs a two-layer (multi-ACE) basis on acetylacetone.

Run (each spec is one fit; results are merged into the JSON file by name, so specs can be run
separately or in the background):

    NUMBA_NUM_THREADS=1 OMP_NUM_THREADS=1 python benchmarks/sparsify_acac.py [NAMES...] \
        --out benchmarks/sparsify_acac.json
    python benchmarks/sparsify_acac.py --report benchmarks/sparsify_acac.json \
        --plot docs/img/sparsify_acac.png          # markdown table + accuracy-vs-size plot

Train on ``train_300K.xyz`` (500 configurations), test on ``test_MD_300K.xyz`` (650), E0 from
``isolated_atoms.xyz`` (packaged copies in ``ace_ref/example_data/acac``). Every single-layer
basis has the same truncation (order ν = 3, total degree [10, 10, 8], w_L = 1, r_cut 4.5 Å,
Bessel radials): the sparsifications are subsets of the full basis' span (the exact
``coefficient_inclusion`` count of the full directions they miss is reported). Fitting:
streamed QR assembly, BLR with evidence maximisation, smoothness prior p = 2, weights
energy=30 (per atom), forces=1 — the ``ace-ref fit`` defaults.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "ace_ref" / "example_data" / "acac"
ELEMENTS = ["H", "C", "O"]
SINGLE = dict(order=3, max_degree=[10, 10, 8], w_L=1, r_cut=4.5)

SPECS = {
    "full": dict(),
    "chain": dict(coupling="chain"),
    "chain_L0": dict(coupling="chain", lmax_hidden=0),
    "chain_L1": dict(coupling="chain", lmax_hidden=1),
    "chain_L2": dict(coupling="chain", lmax_hidden=2),
    "chain_L3": dict(coupling="chain", lmax_hidden=3),
    "uvu": dict(channels="uvu"),
    "chain_L1_uvu": dict(coupling="chain", lmax_hidden=1, channels="uvu"),
    "chain_L2_uvu": dict(coupling="chain", lmax_hidden=2, channels="uvu"),
    "chain_L2_uvu_paths": dict(coupling="chain", lmax_hidden=2, channels="uvu", independent=False),
    # the size axis: full ACE at lower degrees, uvu at higher degrees (≈ the full basis' size)
    "full_d7": dict(max_degree=[7, 7, 5]),
    "full_d8": dict(max_degree=[8, 8, 6]),
    "full_d9": dict(max_degree=[9, 9, 7]),
    # (max_l 12: the Y_lm tables end there; no uvu function of this degree needs l > 8)
    "uvu_d18": dict(channels="uvu", max_degree=[18, 18, 16], max_l=[0, 12, 12]),
    "chain_L2_uvu_d18": dict(
        coupling="chain", lmax_hidden=2, channels="uvu", max_degree=[18, 18, 16], max_l=[0, 12, 12]
    ),
}
LAYER1 = dict(order=2, max_degree=[10, 10], w_L=1, r_cut=4.5)
TWO_LAYER = {
    # layer 1: the ν ≤ 2 part of the single-layer bases (its invariants are read out, its
    # equivariants with L1 ≤ lmax_hidden are the channels); layer 2: ν2 = 1, n ≤ 4, degree
    # n + l + deg(channel) ≤ 6. Body order 1 + ν2 (ν1 + 1) = 4, as for ν = 3; receptive
    # field 2 × 4.5 Å; size close to the full single-layer basis.
    "two_layer_L1": dict(
        layer1=LAYER1,
        layer2=dict(lmax_hidden=1, max_n=4, order=1, max_degree=6, constant_channel=False),
    ),
    "two_layer_L2": dict(
        layer1=LAYER1,
        layer2=dict(lmax_hidden=2, max_n=4, order=1, max_degree=6, constant_channel=False),
    ),
}
REFERENCE = {"ace_nu2": LAYER1}  # layer 1 alone: what the second layer adds


def build(name):
    from ace_ref import ACEBasis

    if name in SPECS:
        return ACEBasis(ELEMENTS, **{**SINGLE, **SPECS[name]})
    if name in REFERENCE:
        return ACEBasis(ELEMENTS, **REFERENCE[name])
    from ace_ref.basis.two_layer import TwoLayerBasis

    spec = TWO_LAYER[name]
    return TwoLayerBasis(ACEBasis(ELEMENTS, **spec["layer1"]), **spec["layer2"])


def run(names, out: Path, method: str):
    from ace_ref.cli import error_table
    from ace_ref.fit.assembly import Weights, assemble
    from ace_ref.fit.data import read_configs, read_e0
    from ace_ref.fit.solvers import smoothness_prior, solve
    from ace_ref.verify.span import coefficient_inclusion

    train = read_configs(DATA / "train_300K.xyz")
    test = read_configs(DATA / "test_MD_300K.xyz")
    e0 = read_e0(DATA / "isolated_atoms.xyz")
    results = json.loads(out.read_text()) if out.exists() else {}
    full = None
    for name in names:
        t0 = time.perf_counter()
        basis = build(name)
        t_build = time.perf_counter() - t0
        rec = {"name": name, "n_coefficients": len(basis), "seconds_build": t_build}
        if name in SPECS:
            from ace_ref import ACEBasis

            rec.update(
                n_per_species=basis.n_functions_per_species,
                n_paths_per_species=basis.n_paths(0),
                by_order=basis.counts_by_order(),
                spec={k: v for k, v in SPECS[name].items()},
            )
            if "max_degree" not in SPECS[name]:  # same truncation as the full basis
                full = full or ACEBasis(ELEMENTS, **SINGLE)
                inc = coefficient_inclusion(basis, full)
                rec.update(
                    full_dims_missed_per_species=inc["n_unreachable"], included=inc["included"]
                )
        elif name in REFERENCE:
            rec.update(
                n_per_species=basis.n_functions_per_species,
                by_order=basis.counts_by_order(),
                spec=REFERENCE[name],
            )
        else:
            rec.update(
                n_per_species=len(basis) // len(ELEMENTS),
                n_layer1_per_species=basis.layer1.n_functions_per_species,
                spec=TWO_LAYER[name],
            )
        t0 = time.perf_counter()
        system = assemble(
            basis, train, e0, Weights(energy=30, forces=1), progress=False, method=method
        )
        t1 = time.perf_counter()
        sol = solve(system, "blr", smoothness_prior(basis, 2.0))
        t2 = time.perf_counter()
        model = _model(basis, sol.coefficients, e0)
        row = error_table(model, test, "test")["test"]
        row_train = error_table(model, train, "train")["train"]
        rec.update(
            seconds_assembly=t1 - t0,
            seconds_solve=t2 - t1,
            effective_parameters=sol.info.get("effective_parameters"),
            test_energy_rmse_meV=row["energy_rmse_meV"],
            test_forces_rmse_meV_per_A=row["forces_rmse_meV_per_A"],
            train_energy_rmse_meV=row_train["energy_rmse_meV"],
            train_forces_rmse_meV_per_A=row_train["forces_rmse_meV_per_A"],
        )
        print(json.dumps(rec), flush=True)
        results = json.loads(out.read_text()) if out.exists() else {}
        results[name] = rec
        out.write_text(json.dumps(results, indent=1))


def span(names, out: Path):
    """Numerical span_inclusion of single-layer sparsifications against the full basis at
    the benchmark's size; stored next to the exact (coefficient) count."""
    from ace_ref import ACEBasis
    from ace_ref.verify.span import span_inclusion

    full = ACEBasis(ELEMENTS, **SINGLE)
    for name in names:
        basis = build(name)
        rep = span_inclusion(basis, full)
        rec = {
            "included": rep.included,
            "missed_per_species": rep.n_unreachable,
            "missed_by_blocks": sum(b["n_unreachable"] for b in rep.unreachable),
            "excess_max": max(s.excess for s in rep.species),
            "margin_min": min(s.margin for s in rep.species),
            "tol": [s.tol_joint for s in rep.species],
            "rows": [s.n_rows for s in rep.species],
            "seconds": rep.seconds,
        }
        print(name, json.dumps(rec), flush=True)
        print(rep.summary(), flush=True)
        results = json.loads(out.read_text()) if out.exists() else {}
        results.setdefault(name, {"name": name})["span_inclusion"] = rec
        out.write_text(json.dumps(results, indent=1))


def _model(basis, coefficients, e0):
    from ace_ref.models.linear import LinearACEModel

    if hasattr(basis, "layer1"):
        from ace_ref.models.two_layer import TwoLayerModel

        return TwoLayerModel(basis, coefficients, e0)
    return LinearACEModel(basis, coefficients, e0)


LABELS = {
    "full": "full ACE (symmetric coupling)",
    "chain": "chain tree, no cap (same span as full)",
    "chain_L0": "chain, hidden L ≤ 0",
    "chain_L1": "chain, hidden L ≤ 1",
    "chain_L2": "chain, hidden L ≤ 2",
    "chain_L3": "chain, hidden L ≤ 3",
    "uvu": "uvu channels (one n per product), all L",
    "chain_L1_uvu": "chain, L ≤ 1, uvu",
    "chain_L2_uvu": "chain, L ≤ 2, uvu (linearised NequIP)",
    "chain_L2_uvu_paths": "same, every NequIP path a column (dependent)",
    "ace_nu2": "ACE ν ≤ 2 only (= layer 1 of the two-layer bases)",
    "full_d7": "full ACE, degree [7, 7, 5]",
    "full_d8": "full ACE, degree [8, 8, 6]",
    "full_d9": "full ACE, degree [9, 9, 7]",
    "uvu_d18": "uvu, all L, degree [18, 18, 16]",
    "chain_L2_uvu_d18": "chain, L ≤ 2, uvu, degree [18, 18, 16]",
    "two_layer_L1": "two layers: ACE ν1 ≤ 2 → channels L ≤ 1 → ν2 = 1",
    "two_layer_L2": "two layers: ACE ν1 ≤ 2 → channels L ≤ 2 → ν2 = 1",
}


def report(path: Path, plot: Path | None):
    results = json.loads(path.read_text())
    names = list(SPECS) + list(REFERENCE) + list(TWO_LAYER)
    order = [n for n in names if "test_energy_rmse_meV" in results.get(n, {})]
    lines = [
        "| basis | functions / species | NequIP paths / species | full directions missed "
        "/ species | coefficients | BLR effective parameters | test E RMSE (meV) | test F RMSE "
        "(meV/Å) | train E / F | fit (s) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n in order:
        r = results[n]
        lines.append(
            f"| {LABELS.get(n, n)} | {r['n_per_species']} | {r.get('n_paths_per_species', '–')} "
            f"| {r.get('full_dims_missed_per_species', '–')} | {r['n_coefficients']} "
            f"| {r['effective_parameters']:.0f} "
            f"| {r['test_energy_rmse_meV']:.2f} | {r['test_forces_rmse_meV_per_A']:.1f} "
            f"| {r['train_energy_rmse_meV']:.2f} / {r['train_forces_rmse_meV_per_A']:.1f} "
            f"| {r['seconds_assembly'] + r['seconds_solve']:.0f} |"
        )
    print("\n".join(lines))
    spans = [n for n in names if "span_inclusion" in results.get(n, {})]
    if spans:
        print()
        print(
            "| basis | rows / species | full directions missed: exact | numerical (rank) | "
            "numerical (sum over blocks) | max excess | min margin | time (s) |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for n in spans:
            r = results[n]
            sp = r["span_inclusion"]
            print(
                f"| {LABELS.get(n, n)} | {min(sp['rows'])}–{max(sp['rows'])} "
                f"| {r.get('full_dims_missed_per_species', '–')} | {sp['missed_per_species']} "
                f"| {sp['missed_by_blocks']} | {sp['excess_max']:.1e} | {sp['margin_min']:.1e} "
                f"| {sp['seconds']:.0f} |"
            )
    if plot is None:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    short = {
        "full": "full", "chain": "chain", "chain_L0": "L≤0", "chain_L1": "L≤1",
        "chain_L2": "L≤2", "chain_L3": "L≤3", "uvu": "uvu", "chain_L1_uvu": "L≤1 uvu",
        "chain_L2_uvu": "L≤2 uvu", "chain_L2_uvu_paths": "L≤2 uvu, all paths",
        "full_d7": "deg 7", "full_d8": "deg 8", "full_d9": "deg 9", "uvu_d18": "uvu deg 18",
        "chain_L2_uvu_d18": "L≤2 uvu deg 18", "ace_nu2": "ν≤2", "two_layer_L1": "2 layers L≤1",
        "two_layer_L2": "2 layers L≤2",
    }  # fmt: skip

    def family(n):
        if n == "full" or n.startswith("full_"):
            return "full ACE (degree scan)", "k", "s"
        if "uvu" in n:
            return "uvu channels (± chain, hidden-L cap)", "tab:orange", "^"
        if n.startswith("chain"):
            return "chain tree, hidden-L cap", "tab:blue", "o"
        return "two layers (and its layer 1 alone)", "tab:green", "D"

    fig, axes = plt.subplots(1, 2, figsize=(12, 5.2))
    curve = sorted((results[n]["n_coefficients"], n) for n in order if family(n)[1] == "k")
    for ax, key, unit in (
        (axes[0], "test_energy_rmse_meV", "test energy RMSE (meV)"),
        (axes[1], "test_forces_rmse_meV_per_A", "test force RMSE (meV/Å)"),
    ):
        ax.plot([c for c, _ in curve], [results[n][key] for _, n in curve], "k-", lw=0.8)
        seen = set()
        for n in order:
            r = results[n]
            label, color, marker = family(n)
            ax.plot(r["n_coefficients"], r[key], marker, color=color, ms=7,
                    label=None if label in seen else label)  # fmt: skip
            seen.add(label)
            ax.annotate(short.get(n, n), (r["n_coefficients"], r[key]), fontsize=7,
                        xytext=(4, 3), textcoords="offset points")  # fmt: skip
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("linear coefficients")
        ax.set_ylabel(unit)
        ax.grid(alpha=0.3, which="both")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.suptitle(
        "acetylacetone, train 300 K → test MD 300 K (BLR); single layer ν = 3, degree "
        "[10, 10, 8] unless labelled"
    )
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    plot.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(plot, dpi=120)
    print(f"plot written to {plot}")


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("names", nargs="*", default=list(SPECS) + list(REFERENCE) + list(TWO_LAYER))
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "sparsify_acac.json")
    p.add_argument("--method", default="qr", choices=["qr", "normal"])
    p.add_argument("--report", type=Path, help="print the markdown table of this JSON file")
    p.add_argument("--plot", type=Path, help="with --report: write the PNG here")
    p.add_argument("--span", action="store_true", help="numerical span_inclusion of NAMES")
    a = p.parse_args()
    if a.report:
        report(a.report, a.plot)
    elif a.span:
        span(a.names, a.out)
    else:
        run(a.names, a.out, a.method)
