"""Side-by-side speed: ace_ref vs pyace (ML-PACE C++ evaluator) on the identical basis spec.

Measures, per atom, on a 64-atom periodic Si box (diamond, rattled 0.05 Å, r_cut = 5 Å) and
on ethanol (rMD17 configuration from ../shared/data if present, else ASE's molecule):

* energy+forces with random coefficients: ace_ref ``LinearACEModel.predict`` (Numba, 1 and
  2 threads) vs pyace ``PyACECalculator`` (single-threaded C++), same spec
  (``order=3, max_n=[8,6,4], max_l=[0,6,4]``: 703 functions) and, for Si, the order-4
  1642-function spec;
* features + gradients (full design rows, ``dB/dr`` for every function) for ace_ref.

Both codes use their own radial functions (ours: Bessel × envelope; pyace: SBessel), so the
work per function is comparable but not bit-identical. Run:
``python benchmarks/bench_basis.py [--markdown BENCHMARKS_basis.md]``.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numba
import numpy as np
from ase.build import bulk, molecule
from ase.io import read

from ace_ref import ACEBasis
from ace_ref.model import LinearACEModel
from ace_ref.peers import pyace_basis_configuration

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def structures():
    si = bulk("Si", "diamond", a=5.43, cubic=True).repeat(2)
    si.rattle(0.05, seed=0)
    eth_path = SHARED / "ethanol" / "train.xyz"
    eth = read(eth_path, 0) if eth_path.exists() else molecule("CH3CH2OH")
    return {"Si64": si, "ethanol": eth}


def timeit(fn, min_time=1.0, min_repeats=5):
    fn()
    times = []
    t_start = time.perf_counter()
    while len(times) < min_repeats or time.perf_counter() - t_start < min_time:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def pyace_calculators(elements, max_n, max_l, r_cut, seed):
    """pyace's B-basis evaluator and its recursive C-tilde evaluator (what LAMMPS
    ``pair_style pace`` runs by default), with the same random coefficients."""
    from pyace import ACEBBasisSet, PyACECalculator

    cfg = pyace_basis_configuration(elements, max_n, max_l, r_cut)
    rng = np.random.default_rng(seed)
    cfg.set_func_coeffs(rng.normal(size=len(cfg.get_func_coeffs())) * 0.1)
    bbasis = ACEBBasisSet(cfg)
    return {
        "B": PyACECalculator(bbasis),
        "recursive": PyACECalculator(
            bbasis.to_ACECTildeBasisSet(), recursive_evaluator=True, recursive=True
        ),
    }


def run(markdown: Path | None):
    rows = []
    specs = [
        ("n[8,6,4] l[0,6,4]", [8, 6, 4], [0, 6, 4]),
        ("n[8,6,4,3] l[0,6,4,3]", [8, 6, 4, 3], [0, 6, 4, 3]),
    ]
    for name, atoms in structures().items():
        elements = sorted(set(atoms.get_chemical_symbols()))
        for label, max_n, max_l in specs:
            if name == "ethanol" and len(max_n) == 4:
                continue
            basis = ACEBasis(elements, len(max_n), max_n=max_n, max_l=max_l, r_cut=5.0)
            c = np.random.default_rng(0).normal(size=len(basis)) * 0.1
            model = LinearACEModel(basis, c)
            n = len(atoms)
            ours = {}
            for threads in (1, 2):
                numba.set_num_threads(threads)
                ours[threads] = timeit(lambda m=model, a=atoms: m.predict(a)) / n
            numba.set_num_threads(1)
            design = timeit(lambda b=basis, a=atoms: b.design_rows(a), min_repeats=3) / n
            numba.set_num_threads(2)
            peers = {}
            try:
                for kind, calc in pyace_calculators(elements, max_n, max_l, 5.0, 0).items():
                    a2 = atoms.copy()
                    a2.calc = calc

                    def pyace_ef(a2=a2):
                        a2.calc.reset()
                        a2.get_potential_energy()
                        a2.get_forces()

                    peers[kind] = timeit(pyace_ef) / n
            except ImportError:
                pass
            rows.append((name, n, label, len(basis), ours[1], ours[2], peers, design))
    header = (
        "| structure | atoms | basis | functions | ace_ref E+F 1 thr (ms/atom) | ace_ref 2 thr | "
        "pyace B evaluator | pyace recursive (LAMMPS default) | ours(1 thr)/recursive | "
        "ours(2 thr)/recursive | ace_ref features+gradients 1 thr |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|"
    )
    lines = [header]
    for name, n, label, K, o1, o2, peers, design in rows:
        b_ = peers.get("B")
        rec = peers.get("recursive")

        def ms(x):
            return f"{x * 1e3:.3f}" if x else "-"

        lines.append(
            f"| {name} | {n} | {label} | {K} | {ms(o1)} | {ms(o2)} | {ms(b_)} | {ms(rec)} | "
            f"{o1 / rec:.2f} | {o2 / rec:.2f} | {design * 1e3:.2f} |"
            if rec
            else f"| {name} | {n} | {label} | {K} | {ms(o1)} | {ms(o2)} | - | - | - | - | "
            f"{design * 1e3:.2f} |"
        )
    text = "\n".join(lines)
    machine = (
        f"{platform.processor() or platform.machine()}, {numba.config.NUMBA_NUM_THREADS} "
        f"cores, Python {platform.python_version()}, numba {numba.__version__}"
    )
    print(text)
    print(machine)
    if markdown:
        markdown.write_text(text + "\n\nMachine: " + machine + "\n")


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--markdown", type=Path)
    run(p.parse_args().markdown)
