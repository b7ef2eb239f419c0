"""Periodic tantalum with stresses: per-group errors beside linear SNAP (FitSNAP) on the same data.

Data: ../shared/data/ta (Thompson et al. 2015), stress in bar, stored as the pressure tensor
(P = −σ; checked against dE/dV of the Volume_BCC series). Like the SNAP reference, the model
is fitted to all groups and the table reports errors on the same data (training errors).
SNAP numbers are the "Unweighted" rows of SNAP_reference_metrics.md (energy eV per
configuration, forces eV/Å, stress bar); note SNAP also subtracted a ZBL reference potential.

Run: ``python benchmarks/ta_snap.py [--out results.json]``.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import numpy as np
from ase.units import bar

from ace_ref import ACEBasis
from ace_ref.fit.assembly import Weights, assemble
from ace_ref.fit.data import fit_e0, read_configs
from ace_ref.fit.solvers import smoothness_prior, solve
from ace_ref.models.linear import LinearACEModel

TA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ta"


def snap_reference():
    table = {}
    for line in (TA / "SNAP_reference_metrics.md").read_text().splitlines():
        m = re.match(
            r"\|\s*\('([^']+)', 'Unweighted', '(\w+)'\)\s*\|\s*(\d+)\s*\|\s*([\d.e+-]+)"
            r"\s*\|\s*([\d.e+-]+)",
            line,
        )
        if m:
            table.setdefault(m.group(1), {})[m.group(2)] = float(m.group(5))
    return table


def snap_group_weights() -> dict[str, dict[str, float]]:
    """FitSNAP's per-group weights, read off as Weighted / Unweighted RMSE per observable."""
    rmse: dict = {}
    for line in (TA / "SNAP_reference_metrics.md").read_text().splitlines():
        m = re.match(
            r"\|\s*\('([^']+)', '(Weighted|Unweighted)', '(\w+)'\)\s*\|\s*\d+\s*\|"
            r"\s*[\d.e+-]+\s*\|\s*([\d.e+-]+)",
            line,
        )
        if m and m.group(1) != "*ALL":
            rmse.setdefault(m.group(1), {}).setdefault(m.group(3), {})[m.group(2)] = float(
                m.group(4)
            )
    return {
        group: {obs: v["Weighted"] / v["Unweighted"] for obs, v in by_obs.items()}
        for group, by_obs in rmse.items()
    }


def snap_like_weights_text() -> str:
    """Our ``Weights`` string with SNAP's relative group weights.

    Multipliers are SNAP's weights relative to a reference group per observable (energies:
    Volume_BCC, forces and stresses: Displaced_BCC), applied on top of energy=30 (per atom),
    forces=1, virial=1.
    """
    w = snap_group_weights()
    ref = {
        "Energy": w["Volume_BCC"]["Energy"],
        "Force": w["Displaced_BCC"]["Force"],
        "Stress": w["Displaced_BCC"]["Stress"],
    }
    names = {"Energy": "energy", "Force": "forces", "Stress": "virial"}
    items = ["energy=30", "forces=1", "virial=1"]
    for group in sorted(w):
        for obs, value in sorted(w[group].items()):
            items.append(f"{group}:{names[obs]}={value / ref[obs]:.6g}")
    return ",".join(items)


def main(out, weights_mode="uniform"):
    files = sorted(TA.glob("*.xyz"))
    configs = []
    for f in files:
        for c in read_configs(f, stress_unit="bar", stress_convention="pressure"):
            c.config_type = f.stem
            configs.append(c)
    e0 = fit_e0(configs, ["Ta"])
    basis = ACEBasis("Ta", order=4, max_degree=[16, 14, 10, 8], w_L=1, r_cut=5.0)
    t0 = time.perf_counter()
    weights_text = (
        snap_like_weights_text() if weights_mode == "snap" else "energy=30,forces=1,virial=1"
    )
    system = assemble(basis, configs, e0, Weights.parse(weights_text), progress=False)
    sol = solve(system, "blr", smoothness_prior(basis, 2.0))
    seconds = time.perf_counter() - t0
    model = LinearACEModel(basis, sol.coefficients, e0)
    groups: dict[str, dict[str, list]] = {}
    for c in configs:
        p = model.predict(c.atoms)
        for key in (c.config_type, "*ALL"):
            g = groups.setdefault(key, {"Energy": [], "Force": [], "Stress": []})
            g["Energy"].append(p["energy"] - c.energy)
            g["Force"].extend((p["forces"] - c.forces).ravel())
            if c.stress is not None:
                g["Stress"].extend(((p["stress"] - c.stress) / bar).ravel())
    snap = snap_reference()
    rows = []
    for key in ["*ALL"] + sorted(k for k in groups if k != "*ALL"):
        g = groups[key]
        rmse = {q: float(np.sqrt(np.mean(np.square(v)))) if v else None for q, v in g.items()}
        rows.append({"group": key, "ace_ref": rmse, "snap": snap.get(key, {})})
    lines = [
        f"ACE basis: {len(basis)} functions (order 4, degree [16,14,10,8], w_L 1, "
        f"r_cut 5 Å); fit {seconds:.1f} s on {len(configs)} configurations; "
        f"weights {weights_mode}: {weights_text}",
        "| group | E RMSE ace_ref (eV) | E RMSE SNAP | F RMSE ace_ref (eV/Å) | F RMSE SNAP | "
        "σ RMSE ace_ref (bar) | σ RMSE SNAP |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        a, s = r["ace_ref"], r["snap"]

        def f(x):
            return f"{x:.4g}" if x is not None else "-"

        lines.append(
            f"| {r['group']} | {f(a['Energy'])} | {f(s.get('Energy'))} | "
            f"{f(a['Force'])} | {f(s.get('Force'))} | {f(a['Stress'])} | "
            f"{f(s.get('Stress'))} |"
        )
    print("\n".join(lines))
    if out:
        Path(out).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--out")
    p.add_argument(
        "--weights",
        choices=["uniform", "snap"],
        default="uniform",
        help="uniform observable weights, or SNAP's per-group weights (relative)",
    )
    args = p.parse_args()
    main(args.out, args.weights)
