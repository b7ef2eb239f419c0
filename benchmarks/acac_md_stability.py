"""MD stability of a fitted acetylacetone model: Langevin at 600 K from test frames.

What a user runs next after a fit is MD. This runs ``--runs`` Langevin trajectories
(``--temperature`` K, friction 0.01/fs, ``--steps`` steps of ``--dt`` fs; default 10 × 10 ps at
600 K with 0.5 fs) from evenly spaced ``test_MD_300K`` frames and counts how many stay
physical:

* no bonded pair (bonded in the start frame, 1.2 × covalent radii) and no other pair closer
  than 0.7 Å;
* no atom leaving: every atom keeps a neighbour within 2.5 Å;
* finite energies and forces.

Every ``--sample`` steps it also records how many pairs lie outside the trained distance
ranges and the largest extrapolation grade γ (if the model carries them).

Usage (from the repository root)::

    ace-ref fit --example acac -o acac.npz
    python benchmarks/acac_md_stability.py acac.npz --json md.json

Any molecule's model and frames work the same way, e.g. 3BPA (BENCHMARKS.md, "Beyond RMSE on
3BPA")::

    python benchmarks/acac_md_stability.py bpa_full.npz \
        --frames ../shared/data/3bpa/train_300K.xyz --temperature 300 --json md.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from ase import units
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary, ZeroRotation

import ace_ref
from ace_ref.fit import read_configs

EXAMPLE = Path(ace_ref.__file__).parent / "example_data" / "acac" / "test_MD_300K.xyz"
MIN_DISTANCE = 0.7
MAX_NEAREST = 2.5


def trajectory(model, atoms, temperature, dt, steps, sample, seed) -> dict:
    atoms = atoms.copy()
    atoms.calc = model.calculator()
    rng = np.random.default_rng(seed)
    MaxwellBoltzmannDistribution(atoms, temperature_K=temperature, rng=rng)
    Stationary(atoms)
    ZeroRotation(atoms)
    dyn = Langevin(
        atoms, dt * units.fs, temperature_K=temperature, friction=0.01 / units.fs, rng=rng
    )
    u = model.uncertainty
    record = {"steps": 0, "failure": None, "min_distance": np.inf, "max_nearest": 0.0,
              "max_outside": 0, "max_gamma": 0.0, "max_temperature": 0.0}  # fmt: skip
    upper = np.triu_indices(len(atoms), 1)
    t0 = time.perf_counter()
    for step in range(0, steps, sample):
        dyn.run(sample)
        record["steps"] = step + sample
        D = atoms.get_all_distances()
        record["min_distance"] = min(record["min_distance"], float(D[upper].min()))
        np.fill_diagonal(D, np.inf)
        nearest = float(D.min(axis=1).max())
        record["max_nearest"] = max(record["max_nearest"], nearest)
        record["max_temperature"] = max(record["max_temperature"], atoms.get_temperature())
        e = atoms.get_potential_energy()
        if not np.isfinite(e) or not np.all(np.isfinite(atoms.get_forces())):
            record["failure"] = f"non-finite energy or forces at step {step + sample}"
        elif record["min_distance"] < MIN_DISTANCE:
            record["failure"] = f"pair closer than {MIN_DISTANCE} Å at step {step + sample}"
        elif nearest > MAX_NEAREST:
            record["failure"] = f"an atom left (no neighbour within {MAX_NEAREST} Å)"
        if u is not None:
            a = u.assess(model.basis, atoms) if u.active_set is not None else {}
            if u.coverage is not None:
                record["max_outside"] = max(
                    record["max_outside"], len(u.coverage.outside(model.basis, atoms))
                )
            if "max_extrapolation_grade" in a:
                record["max_gamma"] = max(record["max_gamma"], a["max_extrapolation_grade"])
        if record["failure"]:
            break
    record["seconds"] = time.perf_counter() - t0
    record["stable"] = record["failure"] is None
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--frames", default=str(EXAMPLE), help="start frames (extxyz)")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--temperature", type=float, default=600.0)
    parser.add_argument("--dt", type=float, default=0.5, help="fs")
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--sample", type=int, default=200)
    parser.add_argument("--json")
    args = parser.parse_args()
    model = ace_ref.load(args.model)
    frames = read_configs([args.frames], require=())
    picks = np.linspace(0, len(frames) - 1, args.runs).astype(int)
    runs = []
    for k, idx in enumerate(picks):
        r = trajectory(
            model, frames[idx].atoms, args.temperature, args.dt, args.steps, args.sample, seed=k
        )
        r["frame"] = int(idx)
        runs.append(r)
        print(
            f"run {k}: frame {idx}, {r['steps']} steps in {r['seconds']:.0f} s, "
            f"{'stable' if r['stable'] else 'FAILED: ' + r['failure']}; min d "
            f"{r['min_distance']:.2f} Å, pairs outside {r['max_outside']}, "
            f"max γ {r['max_gamma']:.1f}",
            flush=True,
        )
    n = sum(r["stable"] for r in runs)
    print(f"{n} of {len(runs)} trajectories stayed physical ({args.temperature:g} K, "
          f"{args.steps * args.dt / 1000:g} ps each)")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps({"model": args.model, "args": vars(args),
                                               "n_stable": n, "runs": runs}, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
