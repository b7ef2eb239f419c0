"""Side-by-side speed: ace_ref vs pyace (ML-PACE C++ evaluator) on the identical basis spec.

Energy+forces per atom with random coefficients, ace_ref ``LinearACEModel.predict`` (Numba,
1 and 2 threads) against pyace's B-basis evaluator and its recursive C-tilde evaluator (what
LAMMPS ``pair_style pace`` runs by default), both single-threaded C++, timed in one process
and interleaved (round robin), on

* ``Si64``: 64-atom diamond Si (cubic 2×2×2, rattled 0.05 Å, seed 0);
* ``acac``: the acetylacetone test set ``test_MD_300K.xyz`` (650 configurations of 15 atoms,
  packaged with ace_ref), or every ``stride``-th configuration;
* ``CHO64``: a 64-atom periodic C/H/O box, 6 methanol + 4 water + 4 formaldehyde molecules
  placed with random orientations at 0.9 g/cm³ (seed 0; atoms of different molecules at least
  1.5 Å apart, so no pair is closer than 0.9 Å).

Specifications (pacemaker ``nradmax_by_orders`` = ``max_n``, ``lmax_by_orders`` = ``max_l``;
function counts are equal in both codes): ``si703`` (Si, order 3, n [8,6,4], l [0,6,4]),
``si1642`` (order 4, n [8,6,4,3], l [0,6,4,3]), ``cho3`` (C/H/O, order 3 with the caps of
``si703``: 42 579 functions). r_cut = 5 Å. Both codes use their own radial functions (ours:
Bessel × envelope, exact; pyace: SBessel from cubic splines), so the work per function is
comparable but not bit-identical. Both timings include the code's own neighbour list.

Run alone: ``python benchmarks/bench_basis.py [--quick] [--markdown FILE]``;
``benchmarks/run_all.py`` calls :func:`energy_forces_case` for the suite.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from importlib import resources
from pathlib import Path

import numba
import numpy as np
from ase import Atoms
from ase.build import bulk, molecule
from ase.io import read

from ace_ref import ACEBasis
from ace_ref.models.linear import LinearACEModel
from ace_ref.verify.peers import pyace_basis_configuration

R_CUT = 5.0

SPECS = {
    "si703": (["Si"], [8, 6, 4], [0, 6, 4]),
    "si1642": (["Si"], [8, 6, 4, 3], [0, 6, 4, 3]),
    "cho3": (["C", "H", "O"], [8, 6, 4], [0, 6, 4]),
}

SPEC_LABELS = {
    "si703": "Si order 3, n[8,6,4] l[0,6,4]",
    "si1642": "Si order 4, n[8,6,4,3] l[0,6,4,3]",
    "cho3": "C/H/O order 3, n[8,6,4] l[0,6,4]",
}


# ------------------------------------------------------------------ structures
def si64(seed: int = 0) -> Atoms:
    atoms = bulk("Si", "diamond", a=5.43, cubic=True).repeat(2)
    atoms.rattle(0.05, seed=seed)
    return atoms


def acac_test(stride: int = 1, limit: int | None = None) -> list[Atoms]:
    """Acetylacetone ``test_MD_300K.xyz`` (packaged), every ``stride``-th configuration."""
    path = resources.files("ace_ref") / "example_data" / "acac" / "test_MD_300K.xyz"
    configs = read(str(path), ":")[::stride]
    for a in configs:
        a.calc = None
    return configs[:limit] if limit else configs


def cho64(seed: int = 0, density: float = 0.9, min_intermolecular: float = 1.5) -> Atoms:
    """64-atom periodic C/H/O liquid-like box: 6 CH3OH + 4 H2O + 4 CH2O, random rigid
    placement (uniform random rotations and positions) at ``density`` g/cm³, rejecting any
    molecule closer than ``min_intermolecular`` Å (minimum image) to one already placed."""
    from scipy.spatial.transform import Rotation

    mols = ["CH3OH"] * 6 + ["H2O"] * 4 + ["H2CO"] * 4
    templates = [molecule(m) for m in mols]
    mass = sum(t.get_masses().sum() for t in templates)  # amu
    volume = mass * 1.66053906660 / density  # Å^3
    L = volume ** (1 / 3)
    cell = np.eye(3) * L
    rng = np.random.default_rng(seed)
    symbols: list[str] = []
    positions = np.zeros((0, 3))
    for t in templates:
        pos0 = t.positions - t.get_center_of_mass()
        for _attempt in range(100_000):
            rot = Rotation.random(random_state=int(rng.integers(2**31))).as_matrix()
            new = pos0 @ rot.T + rng.uniform(0, L, 3)
            if len(positions):
                d = new[:, None, :] - positions[None, :, :]
                d -= L * np.round(d / L)
                if np.min(np.linalg.norm(d, axis=-1)) < min_intermolecular:
                    continue
            break
        else:  # pragma: no cover - the default density packs in a few hundred attempts
            raise RuntimeError("could not place molecule")
        symbols += t.get_chemical_symbols()
        positions = np.vstack([positions, new])
    atoms = Atoms(symbols, positions=positions, cell=cell, pbc=True)
    atoms.wrap()
    return atoms


def structures(name: str, quick: bool = False) -> list[Atoms]:
    """``Si64`` and ``CHO64`` are one structure; ``acac`` is every 5th test configuration
    (130 of 650) or, with ``quick``, the first 8 of those."""
    if name == "Si64":
        return [si64()]
    if name == "CHO64":
        return [cho64()]
    if name == "acac":
        return acac_test(stride=5, limit=8 if quick else None)
    raise ValueError(name)


def min_distance(atoms: Atoms) -> float:
    from ace_ref.one_particle.neighbours import neighbour_list

    nl = neighbour_list(atoms, 3.5)
    d = np.linalg.norm(nl.vectors, axis=1)
    return float(d.min()) if len(d) else float("inf")


# ------------------------------------------------------------------ models
def ours_model(spec: str, seed: int = 0) -> LinearACEModel:
    elements, max_n, max_l = SPECS[spec]
    basis = ACEBasis(elements, len(max_n), max_n=max_n, max_l=max_l, r_cut=R_CUT)
    c = np.random.default_rng(seed).normal(size=len(basis)) * 0.1
    return LinearACEModel(basis, c)


def pyace_calculators(elements, max_n, max_l, r_cut=R_CUT, seed=0, kinds=("B", "recursive")):
    """pyace's B-basis evaluator and its recursive C-tilde evaluator (what LAMMPS
    ``pair_style pace`` runs by default), same random coefficients, projections off."""
    from pyace import ACEBBasisSet, PyACECalculator

    cfg = pyace_basis_configuration(elements, max_n, max_l, r_cut)
    rng = np.random.default_rng(seed)
    cfg.set_func_coeffs(rng.normal(size=len(cfg.get_func_coeffs())) * 0.1)
    bbasis = ACEBBasisSet(cfg)
    out = {}
    if "B" in kinds:
        out["B"] = PyACECalculator(bbasis)
    if "recursive" in kinds:
        out["recursive"] = PyACECalculator(
            bbasis.to_ACECTildeBasisSet(), recursive_evaluator=True, recursive=True
        )
    for calc in out.values():
        calc.compute_projections = False  # plain energy+forces (projections cost extra)
    return out


def tree_stats(model: LinearACEModel, atoms_list: list[Atoms]) -> dict:
    """Sizes that set the cost per atom (for the roofline estimate)."""
    b = model.basis
    tree = model._tree
    species_ptr = np.asarray(tree.species_ptr)
    internal_ptr = np.asarray(tree.internal_ptr)
    counts = np.zeros(len(b.elements))
    pairs = 0
    n_atoms = 0
    for atoms in atoms_list:
        species, i, j, D, offsets, pair_type = b.pairs(atoms, "bench")
        counts += np.bincount(species, minlength=len(b.elements))
        pairs += len(i)
        n_atoms += len(atoms)
    w = counts / counts.sum()
    nodes = np.diff(species_ptr)
    internal = np.diff(internal_ptr)
    n_lm_of_n = np.asarray(model._n_lm_of_n)
    return {
        "nodes_per_atom": float(w @ nodes),
        "internal_nodes_per_atom": float(w @ internal),
        "n_nodes_total": int(tree.n_nodes),
        "n_products": int(tree.n_products),
        "neighbours_per_atom": pairs / n_atoms,
        "n_max": int(b.n_max),
        "l_max": int(b.l_max),
        "n_lm": int((b.l_max + 1) ** 2),
        "slots_used_per_species": int(n_lm_of_n.sum()),
        "n_species": len(b.elements),
    }


# ------------------------------------------------------------------ timing
def _pass_ours(model, atoms_list, threads):
    numba.set_num_threads(threads)
    t0 = time.perf_counter()
    for a in atoms_list:
        model.predict(a)
    return time.perf_counter() - t0


def _pass_prepare(basis, atoms_list):
    t0 = time.perf_counter()
    for a in atoms_list:
        basis.pairs(a, "bench")
    return time.perf_counter() - t0


def _pass_pyace(calc, atoms_list):
    from ase.calculators.calculator import all_changes

    t0 = time.perf_counter()
    for a in atoms_list:
        calc.calculate(a, ["energy", "forces"], all_changes)
    return time.perf_counter() - t0


def energy_forces_case(
    structure: str,
    spec: str,
    impls=("ours1", "ours2", "pyace_B", "pyace_recursive"),
    repeats: int = 5,
    min_time: float = 1.0,
    quick: bool = False,
    split: bool = True,
) -> dict:
    """Seconds per atom of every implementation in ``impls`` on one (structure, spec) pair.

    One warm-up pass each (Numba compilation and caches excluded), then round robin: every
    round times one full pass over the structures for every implementation, until
    ``repeats`` rounds and ``min_time`` seconds have passed. Returns min and median per atom,
    and the product-tree sizes of our model. With ``split`` (and ``ours1``) two more runners
    split our one-thread time: ``split_prepare`` (neighbour list and Python set-up of
    ``predict``) and ``split_zero`` (the same model with zero coefficients: empty tree, so
    only the radial functions, Y_lm and their gradients per pair are computed).
    """
    atoms_list = structures(structure, quick)
    n_atoms = sum(len(a) for a in atoms_list)
    elements, max_n, max_l = SPECS[spec]
    t0 = time.perf_counter()
    runners = {}
    out = {
        "structure": structure,
        "spec": spec,
        "n_atoms": n_atoms,
        "n_configs": len(atoms_list),
        "min_distance": min(min_distance(a) for a in atoms_list),
    }
    if any(k.startswith("ours") for k in impls):
        model = ours_model(spec)
        out["n_functions"] = len(model.basis)
        out["tree"] = tree_stats(model, atoms_list)
        out["setup_ours_s"] = time.perf_counter() - t0
        for k in impls:
            if k.startswith("ours"):
                runners[k] = lambda m=model, th=int(k[4:]): _pass_ours(m, atoms_list, th)
        if split and "ours1" in impls:
            # cost split (1 thread): neighbour list + Python set-up alone, and a model with
            # all coefficients zero (empty tree, no A slots: R_n, Y_lm, ∇Y_lm per pair only)
            zero = LinearACEModel(model.basis, np.zeros(len(model.basis)))
            runners["split_prepare"] = lambda b=model.basis: _pass_prepare(b, atoms_list)
            runners["split_zero"] = lambda m=zero: _pass_ours(m, atoms_list, 1)
    py_kinds = [k.split("_", 1)[1] for k in impls if k.startswith("pyace")]
    if py_kinds:
        t1 = time.perf_counter()
        calcs = pyace_calculators(elements, max_n, max_l, kinds=py_kinds)
        out["setup_pyace_s"] = time.perf_counter() - t1
        out["n_functions_pyace"] = int(
            pyace_basis_configuration(elements, max_n, max_l, R_CUT).total_number_of_functions
        )
        for kind, calc in calcs.items():
            runners[f"pyace_{kind}"] = lambda c=calc: _pass_pyace(c, atoms_list)
    for run in runners.values():
        run()  # warm-up
    samples = {k: [] for k in runners}
    start = time.perf_counter()
    rounds = 0
    while rounds < repeats or (time.perf_counter() - start < min_time and rounds < 50):
        for k, run in runners.items():
            samples[k].append(run() / n_atoms)
        rounds += 1
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    out["times"] = {
        k: {"min": min(v), "median": statistics.median(v), "samples": v} for k, v in samples.items()
    }
    out["rounds"] = rounds
    return out


def energy_forces_memory(structure: str, spec: str, impl: str, quick: bool = False) -> dict:
    """One warm-up and one timed pass of a single implementation (for a peak-RSS subprocess)."""
    return energy_forces_case(
        structure, spec, (impl,), repeats=1, min_time=0.0, quick=quick, split=False
    )


# ------------------------------------------------------------------ stand-alone use
CASES = [("Si64", "si703"), ("Si64", "si1642"), ("acac", "cho3"), ("CHO64", "cho3")]


def run(markdown: Path | None, quick: bool):
    cases = CASES[:1] + CASES[2:3] if quick else CASES
    rows = []
    for structure, spec in cases:
        r = energy_forces_case(structure, spec, repeats=2 if quick else 5, quick=quick)
        rows.append(r)
        t = r["times"]
        print(json.dumps({k: round(v["median"] * 1e3, 4) for k, v in t.items()}), structure, spec)
    lines = [
        "| structure | basis | functions | ours 1 thr | ours 2 thr | pyace B | pyace recursive "
        "| ours(1)/recursive |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        t = {k: v["median"] * 1e3 for k, v in r["times"].items()}
        lines.append(
            f"| {r['structure']} | {SPEC_LABELS[r['spec']]} | {r['n_functions']} | "
            f"{t['ours1']:.3f} | {t['ours2']:.3f} | {t['pyace_B']:.3f} | "
            f"{t['pyace_recursive']:.3f} | {t['ours1'] / t['pyace_recursive']:.2f} |"
        )
    text = "\n".join(lines)
    print(text)
    if markdown:
        markdown.write_text(text + "\n")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--markdown", type=Path)
    p.add_argument("--quick", action="store_true")
    a = p.parse_args()
    run(a.markdown, a.quick)
