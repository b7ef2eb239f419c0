"""Verified, runnable notes on how to drive pyace (python-ace, the ML-PACE evaluator) from Python.

Checked against ``python-ace`` 0.4.0rc1 (ML-PACE evaluator version 2024.7.4); see
``benchmarks/PYACE_NOTES.md`` for the prose. Everything here is executable:

    python benchmarks/pyace_reference.py            # counts, checks, yace export, timings
    python benchmarks/pyace_reference.py --quick    # skip the order-4 timing and the C/H/O sizes

Each public function names the pyace API it relies on. pyace is imported lazily so that the module
can be imported (and its pure-NumPy formulas used) without pyace installed.

Conventions established here (and asserted by ``check_*`` below):

* Basis specification: pacemaker's ``functions: {ALL: {nradmax_by_orders: max_n,
  lmax_by_orders: max_l}}``. ``max_n[0]`` is ``nradbase`` (number of radial basis functions g_k,
  and the number of nu=1 functions per neighbour species); ``max_l[0]`` must be 0.
* Linear model: one density, ``npot`` ``FinnisSinclairShiftedScaled`` (or ``FinnisSinclair``)
  with ``fs_parameters=[1, 1]`` gives F(rho) = rho exactly, so E_i = sum_k c_k B_ik (+E0 = 0);
  core repulsion is off by default (``core-repulsion`` prefactor 0), so nothing else is added.
* R_nl(r) = sum_k crad[n, l, k] g_k(r) for nu >= 2; nu = 1 uses g_n(r) * Y_00 directly (no crad).
  pacemaker initialises crad to the "delta" matrix (crad[n, l, k] = [n == k]), so R_nl = g_n.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from functools import cache
from itertools import product

import numpy as np

from ace_ref.one_particle.radial import SBesselRadial

# --------------------------------------------------------------------------------------------
# 1. Basis configuration and counts
# --------------------------------------------------------------------------------------------

DEFAULT_RADBASE = "SBessel"  # pacemaker's template default; same choice as ace_ref.verify.peers
DEFAULT_RADPARAMETERS = (5.25,)  # lambda; used by ChebExpCos / ChebPow, ignored by SBessel
DEFAULT_DCUT = 0.01  # width of the extra cosine cut applied by ChebExpCos only


def pyace_potential_config(
    elements,
    order: int,
    max_n,
    max_l,
    r_cut: float = 5.0,
    radbase: str = DEFAULT_RADBASE,
    radparameters=DEFAULT_RADPARAMETERS,
    dcut: float = DEFAULT_DCUT,
    npot: str = "FinnisSinclairShiftedScaled",
    delta_spline_bins: float = 0.001,
) -> dict:
    """pacemaker ``potential:`` dictionary for a *linear* ACE of the given shape.

    API: this is the input of ``pyace.create_multispecies_basis_config`` (same keys as the
    ``potential`` section of a pacemaker ``input.yaml``). ``order`` is the maximal body order
    nu (= len(max_n) = len(max_l)).
    """
    max_n, max_l = list(max_n), list(max_l)
    if not (len(max_n) == len(max_l) == order):
        raise ValueError(f"order={order} needs len(max_n)==len(max_l)=={order}")
    if max_l[0] != 0:
        raise ValueError("max_l[0] must be 0 (nu=1 functions have l=0)")
    return {
        "deltaSplineBins": float(delta_spline_bins),
        "elements": list(elements),
        "embeddings": {"ALL": {"npot": npot, "fs_parameters": [1, 1], "ndensity": 1}},
        "bonds": {
            "ALL": {
                "radbase": radbase,
                "radparameters": list(radparameters),
                "rcut": float(r_cut),
                "dcut": float(dcut),
            }
        },
        "functions": {"ALL": {"nradmax_by_orders": max_n, "lmax_by_orders": max_l}},
    }


def pyace_basis_config(elements, order, max_n, max_l, r_cut=5.0, **kw):
    """Build a ``pyace.BBasisConfiguration``.

    API: ``pyace.create_multispecies_basis_config(potential_config_dict)`` (module
    ``pyace.multispecies_basisextension``). Works for one or many species; coefficients are 0,
    crad is the delta matrix.
    """
    from pyace import create_multispecies_basis_config

    return create_multispecies_basis_config(
        pyace_potential_config(elements, order, max_n, max_l, r_cut, **kw)
    )


def pyace_basis_size(
    elements: list[str], order: int, max_n: list[int], max_l: list[int], r_cut: float = 5.0, **kw
) -> dict:
    """Number of B-basis functions pyace generates for this specification.

    API: ``BBasisConfiguration.funcspecs_blocks`` -> ``BBasisFunctionsSpecificationBlock``
    (``.block_name``, ``.elements_vec``, ``.funcspecs``, ``.radbase``, ``.nradbaseij``,
    ``.nradmaxi``, ``.lmaxi``); each ``BBasisFunctionSpecification`` has ``.elements``
    (central species first, then one species per neighbour slot), ``.ns``, ``.ls``, ``.LS``.
    ``BBasisConfiguration.total_number_of_functions`` is the grand total. The C-tilde count
    uses ``ACEBBasisSet(conf).to_ACECTildeBasisSet()`` and its ``.basis_rank1`` / ``.basis``.

    Returns total, per_order, per_element ({el: {"total", "per_order"}}), per_block, and the
    radial-basis facts (radbase, radparameters, nradbase, nradmax, lmax).
    """
    from pyace import ACEBBasisSet

    conf = pyace_basis_config(elements, order, max_n, max_l, r_cut, **kw)
    per_order: Counter = Counter()
    per_element: dict = {el: {"total": 0, "per_order": Counter()} for el in elements}
    per_block = {}
    for block in conf.funcspecs_blocks:
        orders = Counter(len(f.ns) for f in block.funcspecs)
        per_block[block.block_name] = {"total": len(block.funcspecs), "per_order": dict(orders)}
        central = block.elements_vec[0]
        for f in block.funcspecs:
            assert f.elements[0] == central
        per_element[central]["total"] += len(block.funcspecs)
        per_element[central]["per_order"].update(orders)
        per_order.update(orders)
    b0 = conf.funcspecs_blocks[0]
    ct = ACEBBasisSet(conf).to_ACECTildeBasisSet()
    ctilde_per_element = {
        ct.elements_name[mu]: len(ct.basis_rank1[mu]) + len(ct.basis[mu])
        for mu in range(ct.nelements)
    }
    out = {
        "elements": list(elements),
        "order": order,
        "max_n": list(max_n),
        "max_l": list(max_l),
        "total": int(conf.total_number_of_functions),
        "per_order": dict(sorted(per_order.items())),
        "per_element": {
            el: {"total": v["total"], "per_order": dict(sorted(v["per_order"].items()))}
            for el, v in per_element.items()
        },
        "per_block": per_block,
        "ctilde_per_element": ctilde_per_element,
        "radbase": b0.radbase,
        "radparameters": list(b0.radparameters),
        "nradbase": int(b0.nradbaseij),
        "nradmax": int(b0.nradmaxi),
        "lmax": int(b0.lmaxi),
        "r_cut": float(b0.rcutij),
    }
    assert out["total"] == sum(out["per_order"].values())
    return out


def pyace_whitelist_lmax() -> dict:
    """Largest l the pacemaker basis generator can produce, per body order nu.

    ``create_multispecies_basis_config`` takes the (ls, LS) couplings for every nu >= 1 from a
    precomputed white-list of linearly independent couplings (``pyace/data/
    mus_ns_uni_to_rawlsLS_np_rank.pckl``: {pattern of equal (mu, n) slots: [(ls, LS), ...]}),
    keeping those with max(ls) <= lmax_by_orders[nu-1]. A larger lmax is *silently* capped at the
    white-list's maximum (measured: nu=2 -> 10, 3 -> 6, 4 -> 4, 5 -> 3, 6 -> 2, 7 -> 2, 8..12 -> 1).
    """
    import pickle

    from pyace.multispecies_basisextension import (
        default_mus_ns_uni_to_rawlsLS_np_rank_filename as fn,
    )

    with open(fn, "rb") as fh:
        wl = pickle.load(fh)
    out: dict = {}
    for key, couplings in wl.items():
        nu = len(key)
        for ls, _LS in couplings:
            out[nu] = max(out.get(nu, 0), max(ls))
    return dict(sorted(out.items()))


# --------------------------------------------------------------------------------------------
# 2. Calculator, timing
# --------------------------------------------------------------------------------------------


def pyace_calculator(
    elements,
    order,
    max_n,
    max_l,
    r_cut=5.0,
    seed=0,
    evaluator: str = "ctilde",
    coeff_scale: float = 1.0,
    random_crad: bool = False,
    **kw,
):
    """pyace ASE calculator with random (seeded, N(0, coeff_scale^2)) linear coefficients.

    API: ``BBasisConfiguration.set_func_coeffs(vector)`` (one coefficient per B function, in
    the order of ``get_func_coeffs()``; ndensity=1); optional ``set_radial_coeffs`` for crad.
    ``pyace.PyACECalculator(basis)`` accepts a ``BBasisConfiguration`` / ``ACEBBasisSet``
    (-> ``ACEBEvaluator``, can return B projections), an ``ACECTildeBasisSet`` (->
    ``ACECTildeEvaluator``, what LAMMPS ``pair_style pace`` runs), or a file name
    (``.yaml`` B-basis, ``.yace``/``.ace`` C-tilde). ``recursive_evaluator=True,
    recursive=True`` selects ``ACERecursiveEvaluator`` (``pair_style pace recursive``).

    evaluator: "bbasis" | "ctilde" | "recursive". The returned calculator carries
    ``.bbasis_config`` (the configuration with the coefficients) for later export.
    """
    from pyace import ACEBBasisSet, PyACECalculator

    conf = pyace_basis_config(elements, order, max_n, max_l, r_cut, **kw)
    rng = np.random.default_rng(seed)
    n_func = len(conf.get_func_coeffs())
    conf.set_func_coeffs(rng.normal(scale=coeff_scale, size=n_func))
    if random_crad:
        _randomize_crad(conf, rng)
    if evaluator == "bbasis":
        calc = PyACECalculator(conf)
    elif evaluator == "ctilde":
        calc = PyACECalculator(ACEBBasisSet(conf).to_ACECTildeBasisSet())
    elif evaluator == "recursive":
        calc = PyACECalculator(
            ACEBBasisSet(conf).to_ACECTildeBasisSet(), recursive_evaluator=True, recursive=True
        )
    else:
        raise ValueError(f"unknown evaluator {evaluator!r}")
    calc.bbasis_config = conf
    calc.n_coefficients = n_func
    return calc


def _randomize_crad(conf, rng) -> None:
    """Random crad[n, l, k], identical for the bonds (A, B) and (B, A).

    API: ``BBasisFunctionsSpecificationBlock.radcoefficients`` (shape (nradmax, lmax+1,
    nradbase)); the bond of a block is (elements_vec[0], elements_vec[-1]) for unary/binary
    blocks, ternary+ blocks carry no bond. ``ACEBBasisSet`` rejects a configuration whose
    (A, B) and (B, A) bond data differ ("Bonds specifications for pair ... are inconsistent").
    Reassign ``funcspecs_blocks`` after editing: the pybind getter returns copies.
    """
    blocks = conf.funcspecs_blocks
    cache = {}
    for b in blocks:
        if len(b.elements_vec) > 2 or b.nradbaseij == 0:
            continue
        key = tuple(sorted((b.elements_vec[0], b.elements_vec[-1])))
        shape = np.array(b.radcoefficients).shape
        if key not in cache:
            cache[key] = rng.normal(size=shape)
        b.radcoefficients = cache[key]
    conf.funcspecs_blocks = blocks


def make_si64(seed: int = 0, rattle: float = 0.05):
    """64-atom diamond Si (a = 5.43 Å, cubic 2x2x2), rattled with ASE's ``Atoms.rattle``."""
    from ase.build import bulk

    atoms = bulk("Si", "diamond", a=5.43, cubic=True).repeat(2)
    atoms.rattle(rattle, seed=seed)
    return atoms


def time_energy_forces_detail(calc, atoms, repeats: int = 7, warmup: int = 1) -> dict:
    """Per-atom wall time of one energy+forces evaluation.

    API: ``PyACECalculator.calculate(atoms, ["energy", "forces"], all_changes)`` (forces the
    recomputation ASE would otherwise cache). That call includes pyace's Python-side neighbour
    list (``pyace.atomicenvironment.aseatoms_to_atomicenvironment``) and the C++ evaluation
    ``ACECalculator.compute(ace_atomic_environment, compute_projections=...)``; the latter is
    also timed alone ("cxx"). Returns medians and all samples (seconds per atom).
    """
    from ase.calculators.calculator import all_changes
    from pyace.atomicenvironment import aseatoms_to_atomicenvironment

    nat = len(atoms)
    for _ in range(warmup):
        calc.calculate(atoms, ["energy", "forces"], all_changes)
    full = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        calc.calculate(atoms, ["energy", "forces"], all_changes)
        full.append((time.perf_counter() - t0) / nat)
    ae = aseatoms_to_atomicenvironment(
        atoms, cutoff=calc.cutoff, elements_mapper_dict=calc.elements_mapper_dict
    )
    cxx = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        calc.ace.compute(ae, compute_projections=calc.compute_projections)
        cxx.append((time.perf_counter() - t0) / nat)
    return {
        "median": statistics.median(full),
        "cxx_median": statistics.median(cxx),
        "samples": full,
        "cxx_samples": cxx,
    }


def time_energy_forces(calc, atoms, repeats: int = 7) -> float:
    """Median seconds per atom for energy+forces through ``PyACECalculator.calculate``
    (see ``time_energy_forces_detail`` for the API used)."""
    return time_energy_forces_detail(calc, atoms, repeats)["median"]


def pyace_design_rows(calc, atoms):
    """Per-atom B values and per-function force rows from pyace (a B-basis calculator).

    API: ``pyace.atomicenvironment.aseatoms_to_atomicenvironment(atoms, cutoff,
    elements_mapper_dict)`` then ``ACECalculator.compute(ae, compute_projections=True,
    compute_b_grad=True)`` on ``PyACECalculator.ace`` (evaluator must be ``ACEBEvaluator``);
    afterwards ``.projections`` is B (n_atoms * n_functions, reshape to (n_atoms, K)) and
    ``.forces_bfuncs`` has shape (n_atoms, K, 3) with F_a = sum_k c_k forces_bfuncs[a, k], i.e.
    forces_bfuncs[a, k] = -d(sum_i B_ik)/dr_a. Returns (B, force_rows, ae).
    """
    from pyace.atomicenvironment import aseatoms_to_atomicenvironment

    ae = aseatoms_to_atomicenvironment(
        atoms, cutoff=calc.cutoff, elements_mapper_dict=calc.elements_mapper_dict
    )
    calc.ace.compute(ae, compute_projections=True, compute_b_grad=True)
    B = np.asarray(calc.ace.projections, dtype=float).reshape(len(atoms), -1)
    rows = np.asarray(calc.ace.forces_bfuncs, dtype=float)
    return B, rows, ae


def check_design_rows(calc_bbasis, atoms, repeats: int = 3) -> dict:
    """E_i = B_i . c and F = sum_k c_k forces_bfuncs[:, k] for ``pyace_design_rows``; also the
    median time per atom of that call (features + gradients, single-species coefficients)."""
    B, rows, ae = pyace_design_rows(calc_bbasis, atoms)
    bas = calc_bbasis.basis
    c = np.array([f.coeffs[0] for f in bas.basis_rank1[0]] + [f.coeffs[0] for f in bas.basis[0]])
    F = np.asarray(calc_bbasis.ace.forces, dtype=float)
    E_i = np.asarray(calc_bbasis.ace.energies, dtype=float)
    out = {
        "max|E_i - B.c|": float(np.abs(B @ c - E_i).max()),
        "max|F - rows.c|": float(np.abs(np.einsum("akx,k->ax", rows, c) - F).max()),
    }
    assert out["max|E_i - B.c|"] < 1e-9 * max(1.0, np.abs(E_i).max()), out
    assert out["max|F - rows.c|"] < 1e-8 * max(1.0, np.abs(F).max()), out
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        calc_bbasis.ace.compute(ae, compute_projections=True, compute_b_grad=True)
        ts.append((time.perf_counter() - t0) / len(atoms))
    out["features+gradients ms/atom (median)"] = 1e3 * statistics.median(ts)
    return out


# --------------------------------------------------------------------------------------------
# 3. .yace export
# --------------------------------------------------------------------------------------------


def export_yace(calc_or_conf, path: str, atoms=None) -> dict:
    """Write the C-tilde potential (``.yace``) and reload it in a new ``PyACECalculator``.

    API: ``ACEBBasisSet(BBasisConfiguration)`` -> ``.to_ACECTildeBasisSet()`` ->
    ``ACECTildeBasisSet.save_yaml(path)`` (YAML ``.yace``; ``.save(path)`` writes the older
    text ``.ace`` format instead). ``PyACECalculator(path)`` picks ``ACECTildeBasisSet`` for
    ``.yace``/``.ace``. ``BBasisConfiguration.save(path)`` would write the B-basis ``.yaml``.

    Returns the file's top-level keys, the bond keys, how the radial basis is stored, and (if
    ``atoms`` given) the energy/force difference between the source calculator and the
    reloaded one.
    """
    from pyace import ACEBBasisSet, BBasisConfiguration, PyACECalculator
    from ruamel.yaml import YAML

    conf = (
        calc_or_conf
        if isinstance(calc_or_conf, BBasisConfiguration)
        else calc_or_conf.bbasis_config
    )
    ct = ACEBBasisSet(conf).to_ACECTildeBasisSet()
    ct.save_yaml(path)
    with open(path) as fh:
        data = YAML(typ="safe").load(fh)
    bond_key, bond = next(iter(data["bonds"].items()))
    func0 = data["functions"][0]
    info = {
        "path": path,
        "bytes": os.path.getsize(path),
        "top_level_keys": list(data.keys()),
        "embedding_keys": list(data["embeddings"][0].keys()),
        "bond_key_example": bond_key,
        "bond_keys": list(bond.keys()),
        "radial_storage": (
            f"analytic: radbasename={bond['radbasename']!r}, radparameters={bond['radparameters']},"
            f" radcoefficients shape ({len(bond['radcoefficients'])}, "
            f"{len(bond['radcoefficients'][0])}, {len(bond['radcoefficients'][0][0])}) = "
            "(nradmax, lmax+1, nradbasemax); no spline table in the file - ML-PACE tabulates "
            f"cubic Hermite splines on a grid of deltaSplineBins={data['deltaSplineBins']} at load"
        ),
        "function_keys": list(func0[0].keys()),
        "n_functions_per_element": {
            data["elements"][k]: len(v) for k, v in data["functions"].items()
        },
    }
    reloaded = PyACECalculator(path)
    info["calculator"] = reloaded
    if atoms is not None and not isinstance(calc_or_conf, BBasisConfiguration):
        a1, a2 = atoms.copy(), atoms.copy()
        a1.calc, a2.calc = calc_or_conf, reloaded
        info["max_abs_dE"] = abs(a1.get_potential_energy() - a2.get_potential_energy())
        info["max_abs_dF"] = float(np.abs(a1.get_forces() - a2.get_forces()).max())
    return info


# --------------------------------------------------------------------------------------------
# 4. Pure-NumPy transcriptions of ML-PACE's formulas (verified against pyace below)
# --------------------------------------------------------------------------------------------

# ML-PACE (evaluator 2024.x) scales its complex harmonics by sqrt(4 pi): Y_00 == 1, i.e.
# Y^pace_lm = sqrt(4 pi) Y^orthonormal_lm (older USER-PACE builds used Y_00 = 1/sqrt(4 pi)).
# Verified by ``check_projections`` (a nu-body B differs by (4 pi)^(nu/2) otherwise).
PACE_Y_SCALE = math.sqrt(4.0 * math.pi)
Y00 = 1.0


def _cheb_T(nmax: int, x):
    """Chebyshev polynomials of the first kind T_0..T_nmax at x (list of arrays)."""
    T = [np.ones_like(x), x]
    for _ in range(2, nmax + 1):
        T.append(2 * x * T[-1] - T[-2])
    return T[: nmax + 1]


def radial_basis_g(name: str, r, nradbase: int, rcut: float, lam: float = 5.25, dcut: float = 0.01):
    """g_k(r), k = 1..nradbase (returned as columns 0..nradbase-1), as ML-PACE defines them.

    * ``SBessel`` (simplified spherical Bessel, lam/dcut unused):
      f_n(r) = (-1)^n sqrt(2) pi / rc^1.5 * (n+1)(n+2)/sqrt((n+1)^2+(n+2)^2)
               * [sinc((n+1) pi r/rc) + sinc((n+2) pi r/rc)],  sinc(x)=sin(x)/x,  n = 0,1,..
      e_n = n^2 (n+2)^2 / (4 (n+1)^4 + 1),  d_0 = 1,  d_n = 1 - e_n / d_{n-1}
      g_(0) = f_0,  g_(n) = (f_n + sqrt(e_n / d_{n-1}) g_(n-1)) / sqrt(d_n).
    * ``ChebExpCos``: x = 1 - 2 (exp(-lam r/rc) - exp(-lam)) / (1 - exp(-lam));
      g_1 = 1, g_k = (1 - T_{k-1}(x))/2 for k >= 2; all times (1 + cos(pi r/rc))/2 and, for
      r > rc - dcut, times (1 + cos(pi (r - rc + dcut)/dcut))/2.
    * ``ChebPow``: x = 1 - 2 (1 - r/rc)^lam;  g_k = (1 - T_k(x))/2, k = 1..nradbase
      (no separate cutoff function).
    * ``ChebLinear``: x = 1 - r/rc;  g_k = (1 - T_k(x))/2.
    All are 0 for r >= rc.
    """
    r = np.asarray(r, dtype=float)
    g = np.zeros(r.shape + (nradbase,))
    inside = r < rcut
    ri = r[inside]
    if name == "SBessel":
        # ace_ref's SBesselRadial is ML-PACE's simplified Bessel, formula for formula
        # (tested against a transcription of ace_radial.cpp in tests/one_particle/test_radial.py)
        cols = list(SBesselRadial(nradbase, rcut)(ri)[0].T)
    elif name == "ChebExpCos":
        y2 = math.exp(-lam)
        x = 1.0 - 2.0 * (np.exp(-lam * ri / rcut) - y2) / (1 - y2)
        T = _cheb_T(nradbase, x)
        cols = [np.ones_like(ri)] + [0.5 - 0.5 * T[k - 1] for k in range(2, nradbase + 1)]
        env = 0.5 * (1.0 + np.cos(np.pi * ri / rcut))
        fc = np.where(
            ri > rcut - dcut, 0.5 * (1.0 + np.cos(np.pi * (ri - rcut + dcut) / dcut)), 1.0
        )
        cols = [c * env * fc for c in cols]
    elif name in ("ChebPow", "ChebLinear"):
        if name == "ChebPow":
            x = 1.0 - 2.0 * (1.0 - ri / rcut) ** lam
        else:
            x = 1.0 - ri / rcut
        T = _cheb_T(nradbase, x)
        cols = [0.5 - 0.5 * T[k] for k in range(1, nradbase + 1)]
    else:
        raise ValueError(name)
    g[inside] = np.stack(cols, axis=-1)
    return g


def pyace_radbase_values(name, r_values, nradbase, rcut, lam=5.25, dcut=0.01):
    """g_k(r) straight from ML-PACE's C++ (no splines).

    API: ``ACERadialFunctions(nradbase, lmax, nradial, deltaSplineBins, nelements,
    [[radbasename]])`` then ``.radbase(lam, rcut, dcut, radbasename, r, r_in, delta_in)`` fills
    ``.gr``. ``inner_cutoff_type`` defaults to "distance"; with r_in = delta_in = 0 it is a no-op.
    """
    from pyace import ACERadialFunctions

    rf = ACERadialFunctions(nradbase, 0, 1, 0.001, 1, [[name]])
    out = []
    for r in r_values:
        rf.radbase(lam, rcut, dcut, name, float(r), 0.0, 0.0)
        out.append(np.array(rf.gr, dtype=float))
    return np.array(out)


@cache
def clebsch_gordan(j1: int, m1: int, j2: int, m2: int, J: int, M: int) -> float:
    """<j1 m1 j2 m2 | J M> (Condon-Shortley), Racah's closed form, integer j only."""
    if (
        m1 + m2 != M
        or abs(m1) > j1
        or abs(m2) > j2
        or abs(M) > J
        or not abs(j1 - j2) <= J <= j1 + j2
    ):
        return 0.0
    f = math.factorial
    pre = math.sqrt(
        (2 * J + 1)
        * f(J + j1 - j2)
        * f(J - j1 + j2)
        * f(j1 + j2 - J)
        / f(j1 + j2 + J + 1)
        * f(J + M)
        * f(J - M)
        * f(j1 - m1)
        * f(j1 + m1)
        * f(j2 - m2)
        * f(j2 + m2)
    )
    s = 0.0
    for k in range(0, j1 + j2 - J + 1):
        a = [k, j1 + j2 - J - k, j1 - m1 - k, j2 + m2 - k, J - j2 + m1 + k, J - j1 - m2 + k]
        if min(a) < 0:
            continue
        s += (-1) ** k / math.prod(f(v) for v in a)
    return pre * s


def coupling_tree(rank: int):
    """ML-PACE's coupling tree as (left, right, result) index triples; indices < rank are the
    l_t, indices rank.. are LS[0], LS[1], ...; result None is the final L = 0 node.

    rank 2: (l1 l2)0;  rank 3: (l1 l2)L1, (L1 l3)0 [so L1 = l3];
    rank 4: (l1 l2)L1, (l3 l4)L2, (L1 L2)0 [L1 = L2];
    rank 5: (l1 l2)L1, (l3 l4)L2, (L1 L2)L3, (L3 l5)0 [L3 = l5];
    rank 6: (l1 l2)L1, (l3 l4)L2, (l5 l6)L3, (L1 L2)L4, (L3 L4)0 [L3 = L4].
    """
    trees = {
        1: [],
        2: [(0, 1, None)],
        3: [(0, 1, 3), (3, 2, None)],
        4: [(0, 1, 4), (2, 3, 5), (4, 5, None)],
        5: [(0, 1, 5), (2, 3, 6), (5, 6, 7), (7, 4, None)],
        6: [(0, 1, 6), (2, 3, 7), (4, 5, 8), (6, 7, 9), (8, 9, None)],
    }
    return trees[rank]


def generalized_cg(ls, LS, ms) -> float:
    """Product of Clebsch-Gordan coefficients along ``coupling_tree`` (full, not half, basis)."""
    rank = len(ls)
    if rank == 1:
        return 1.0 if ms[0] == 0 else 0.0
    l_all = list(ls) + list(LS)
    m_all = list(ms) + [0] * len(LS)
    c = 1.0
    for a, b, res in coupling_tree(rank):
        M = m_all[a] + m_all[b]
        L = 0 if res is None else l_all[res]
        if res is not None:
            m_all[res] = M
        c *= clebsch_gordan(l_all[a], m_all[a], l_all[b], m_all[b], L, M)
        if c == 0.0:
            return 0.0
    return c


def complex_ylm(lmax: int, rhat, scale: float = PACE_Y_SCALE):
    """Complex Y_lm with Condon-Shortley phase at unit vectors rhat (N, 3), normalised as in
    ML-PACE's ACECartesianSphericalHarmonics: ``scale`` times the orthonormal ones (default
    ``PACE_Y_SCALE`` = sqrt(4 pi), so Y_00 = 1); Y_l,-m = (-1)^m conj(Y_lm).
    Returns dict (l, m) -> array(N)."""
    import scipy.special as sp

    theta = np.arccos(np.clip(rhat[:, 2], -1, 1))
    phi = np.arctan2(rhat[:, 1], rhat[:, 0])
    out = {}
    for l in range(lmax + 1):
        for m in range(-l, l + 1):
            if hasattr(sp, "sph_harm_y"):
                out[(l, m)] = scale * sp.sph_harm_y(l, m, theta, phi)
            else:  # scipy < 1.15
                out[(l, m)] = scale * sp.sph_harm(m, l, phi, theta)
    return out


def reference_projections(bbasis_set, atoms, i: int, r_cut: float):
    """B_k for atom i, recomputed in NumPy from the definitions (for checking pyace).

    A1_{mu n}   = sum_j [mu_j = mu] g_n(r_ij) Y_00
    A_{mu n l m} = sum_j [mu_j = mu] R_nl(r_ij) Y_lm(rhat_ij),  R_nl = sum_k crad[n,l,k] g_k
    B(rank 1)   = A1_{mu_1 n_1}
    B(rank>=2)  = sum_{m: sum m = 0} C^{ls,LS}_{m} prod_t A_{mu_t n_t l_t m_t}
    with C the generalized CG of ``generalized_cg``. Order: ``basis_rank1`` then ``basis`` of
    the central species (the order of ``PyACECalculator.projections`` for an ACEBBasisSet).
    API: ``ACEBBasisSet.basis_rank1 / .basis`` (``ACEBBasisFunction``: mus, ns, ls, LS),
    ``.radial_functions`` (``.crad``, ``.radbasenameij``, ``.lamb``, ``.dcut``, ``.nradbase``).
    """
    from ase.neighborlist import neighbor_list

    rf = bbasis_set.radial_functions
    el_index = {e: k for k, e in enumerate(bbasis_set.elements_name)}
    mu_i = el_index[atoms[i].symbol]
    I, J, D = neighbor_list("ijD", atoms, r_cut)
    sel = I == i
    Jn, Dn = J[sel], D[sel]
    r = np.linalg.norm(Dn, axis=1)
    rhat = Dn / r[:, None]
    mu_j = np.array([el_index[s] for s in np.array(atoms.get_chemical_symbols())[Jn]])
    crad = np.array(rf.crad)  # (nelements, nelements, nradmax, lmax+1, nradbase)
    names = rf.radbasenameij
    lam, dcut, cut = np.array(rf.lamb), np.array(rf.dcut), np.array(rf.cut)
    nrb, lmax = rf.nradbase, bbasis_set.lmax
    Y = complex_ylm(lmax, rhat)
    nel = len(bbasis_set.elements_name)
    A1 = np.zeros((nel, nrb))
    A = {}
    for mu in range(nel):
        s = mu_j == mu
        if not s.any():
            continue
        g = radial_basis_g(names[mu_i][mu], r[s], nrb, cut[mu_i, mu], lam[mu_i, mu], dcut[mu_i, mu])
        A1[mu] = g.sum(0) * Y00
        R = np.einsum("nlk,jk->jnl", crad[mu_i, mu], g)
        for n in range(R.shape[1]):
            for l in range(lmax + 1):
                for m in range(-l, l + 1):
                    A[(mu, n + 1, l, m)] = np.sum(R[:, n, l] * Y[(l, m)][s])
    out = [A1[f.mus[0], f.ns[0] - 1] for f in bbasis_set.basis_rank1[mu_i]]
    for f in bbasis_set.basis[mu_i]:
        ls, LS, ns, mus = list(f.ls), list(f.LS), list(f.ns), list(f.mus)
        val = 0.0
        for ms in product(*[range(-l, l + 1) for l in ls[:-1]]):
            ms = list(ms) + [-sum(ms)]
            if abs(ms[-1]) > ls[-1]:
                continue
            c = generalized_cg(ls, LS, ms)
            if c == 0.0:
                continue
            p = c
            for t in range(len(ls)):
                p = p * A.get((mus[t], ns[t], ls[t], ms[t]), 0.0)
            val += p
        out.append(val.real if isinstance(val, complex) else val)
    return np.array(out, dtype=float)


# --------------------------------------------------------------------------------------------
# 5. Checks (each returns a small dict of max deviations and asserts tolerances)
# --------------------------------------------------------------------------------------------


def check_radial_formulas(nradbase: int = 8, rcut: float = 5.0) -> dict:
    """``radial_basis_g`` vs ML-PACE's ``ACERadialFunctions.radbase`` for all four bases."""
    r = np.linspace(0.05, rcut - 1e-6, 157)
    r = np.concatenate([r, [rcut - 0.005, rcut - 0.001]])  # inside ChebExpCos's dcut zone too
    dev = {}
    for name in ("SBessel", "ChebExpCos", "ChebPow", "ChebLinear"):
        ref = pyace_radbase_values(name, r, nradbase, rcut, 5.25, 0.01)
        ours = radial_basis_g(name, r, nradbase, rcut, 5.25, 0.01)
        dev[name] = float(np.abs(ref - ours).max() / max(1.0, np.abs(ref).max()))
        assert dev[name] < 1e-12, (name, dev[name])
    return dev


def check_linear_energy(calc_bbasis, atoms) -> dict:
    """E_i == sum_k c_k B_ik and E(2c) == 2 E(c) for the FS [1, 1] embedding.

    API: ``PyACECalculator.projections`` ((n_atoms, n_functions) B values, filled by the
    ACEBEvaluator because ``compute_projections`` is True by default), ``.energies``;
    ``ACEBBasisSet.basis_rank1/basis[mu][k].coeffs``.
    """
    from ase.calculators.calculator import all_changes
    from pyace import ACEBBasisSet, PyACECalculator

    calc_bbasis.calculate(atoms, ["energy", "forces"], all_changes)
    B = np.array(calc_bbasis.projections)
    bas = calc_bbasis.basis
    c = np.array([f.coeffs[0] for f in bas.basis_rank1[0]] + [f.coeffs[0] for f in bas.basis[0]])
    e_lin = B @ c
    dev_lin = float(np.abs(e_lin - calc_bbasis.energies).max())
    conf2 = calc_bbasis.bbasis_config.copy()
    conf2.set_func_coeffs(2 * np.array(conf2.get_func_coeffs()))
    c2 = PyACECalculator(ACEBBasisSet(conf2))
    c2.calculate(atoms, ["energy", "forces"], all_changes)
    e1, e2 = calc_bbasis.results["energy"], c2.results["energy"]
    f1, f2 = calc_bbasis.results["forces"], c2.results["forces"]
    out = {
        "max|E_i - B_i.c|": dev_lin,
        "|E(2c) - 2E(c)|": abs(e2 - 2 * e1),
        "max|F(2c) - 2F(c)|": float(np.abs(f2 - 2 * f1).max()),
        "E": e1,
    }
    scale = max(1.0, abs(e1))
    assert dev_lin < 1e-9 * scale and out["|E(2c) - 2E(c)|"] < 1e-9 * scale, out
    return out


def check_projections(
    elements, order, max_n, max_l, atoms, r_cut=5.0, atom_index=0, seed=1, **kw
) -> dict:
    """pyace's B projections for one atom vs ``reference_projections`` (random crad, so the
    R_nl = sum_k crad[n,l,k] g_k contraction and its index order are exercised too)."""
    from ase.calculators.calculator import all_changes

    calc = pyace_calculator(
        elements, order, max_n, max_l, r_cut, seed=seed, evaluator="bbasis", random_crad=True, **kw
    )
    calc.calculate(atoms, ["energy"], all_changes)
    P = np.asarray(calc.projections[atom_index], dtype=float)
    ref = reference_projections(calc.basis, atoms, atom_index, r_cut)
    rel = float(np.abs(P - ref).max() / np.abs(ref).max())
    # pyace evaluates g and R_nl from cubic splines on a 0.001 Å grid: ~1e-9 relative
    assert rel < 1e-6, rel
    return {"n_functions": len(ref), "max_rel_dev": rel, "max|B|": float(np.abs(ref).max())}


def check_evaluators_agree(
    atoms, elements=("Si",), order=3, max_n=(8, 6, 4), max_l=(0, 6, 4), **kw
) -> dict:
    """ACEBEvaluator (B basis), ACECTildeEvaluator (product) and ACERecursiveEvaluator give the
    same energy and forces for the same coefficients (API: ``PyACECalculator`` with a
    BBasisConfiguration / an ACECTildeBasisSet / ``recursive_evaluator=True, recursive=True``)."""
    res = {}
    for ev in ("bbasis", "ctilde", "recursive"):
        calc = pyace_calculator(
            list(elements), order, list(max_n), list(max_l), 5.0, seed=0, evaluator=ev, **kw
        )
        a = atoms.copy()
        a.calc = calc
        res[ev] = (a.get_potential_energy(), a.get_forces())
    e0, f0 = res["bbasis"]
    out = {
        f"{ev}: |dE|, max|dF|": (abs(e - e0), float(np.abs(f - f0).max()))
        for ev, (e, f) in res.items()
        if ev != "bbasis"
    }
    for dE, dF in out.values():
        assert dE < 1e-9 * max(1.0, abs(e0)) and dF < 1e-8, out
    return out


def _small_molecule_box():
    from ase import Atoms

    rng = np.random.default_rng(3)
    sym = ["C", "C", "H", "H", "H", "H", "H", "H", "O"]
    pos = rng.uniform(0, 3.0, size=(len(sym), 3))
    # push atoms apart so no pair is closer than ~0.9 Å
    for _ in range(200):
        d = pos[:, None] - pos[None]
        r = np.linalg.norm(d, axis=-1) + np.eye(len(sym)) * 10
        close = r < 0.9
        if not close.any():
            break
        pos += 0.05 * np.sum(np.where(close[..., None], d / r[..., None], 0.0), axis=1)
    return Atoms(sym, positions=pos)


# --------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------


def _fmt_counts(d):
    return " / ".join(str(d["per_order"][k]) for k in sorted(d["per_order"]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="skip order-4 timing and C/H/O sizes")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--radbase", default=DEFAULT_RADBASE)
    args = ap.parse_args(argv)

    import pyace

    print(f"python-ace {pyace.__version__}, ML-PACE evaluator {pyace.get_ace_evaluator_version()}")
    kw = {"radbase": args.radbase}

    print("\n== basis sizes (B-basis functions; C-tilde functions in brackets) ==")
    specs = [(["Si"], 3, [8, 6, 4], [0, 6, 4]), (["Si"], 4, [8, 6, 4, 3], [0, 6, 4, 3])]
    if not args.quick:
        specs.append((["C", "H", "O"], 3, [8, 6, 4], [0, 6, 4]))
    sizes = {}
    for els, order, mn, ml in specs:
        s = pyace_basis_size(els, order, mn, ml, **kw)
        sizes[(tuple(els), order)] = s
        print(
            f"{','.join(els)} order={order} max_n={mn} max_l={ml}: total {s['total']} "
            f"(by order {_fmt_counts(s)}); radbase={s['radbase']} {s['radparameters']}, "
            f"nradbase={s['nradbase']}, nradmax={s['nradmax']}, lmax={s['lmax']}"
        )
        for el, v in s["per_element"].items():
            print(
                f"   central {el}: {v['total']} (by order {_fmt_counts(v)}) "
                f"[C-tilde {s['ctilde_per_element'][el]}]"
            )
        if len(els) > 1:
            for name, v in s["per_block"].items():
                print(f"      block {name!r}: {v['total']} {v['per_order']}")
    assert sizes[(("Si",), 3)]["total"] == 703
    print(
        "white-list max l per body order (larger lmax_by_orders is silently capped):",
        pyace_whitelist_lmax(),
    )

    print("\n== formula checks against pyace ==")
    print("radial g_k (numpy vs ACERadialFunctions.radbase), max rel dev:", check_radial_formulas())
    atoms = make_si64(seed=0)
    print(
        "B projections, Si64 atom 0, order 3 [8,6,4]/[0,6,4]:",
        check_projections(["Si"], 3, [8, 6, 4], [0, 6, 4], atoms, **kw),
    )
    print(
        "B projections, Si64 atom 5, order 4 [4,3,2,2]/[0,2,2,2]:",
        check_projections(["Si"], 4, [4, 3, 2, 2], [0, 2, 2, 2], atoms, atom_index=5, **kw),
    )
    mol = _small_molecule_box()
    for i in (0, 2, 8):
        print(
            f"B projections, C2H6O cluster atom {i} ({mol[i].symbol}), "
            "C/H/O order 4 [3,2,2,1]/[0,2,1,1]:",
            check_projections(
                ["C", "H", "O"], 4, [3, 2, 2, 1], [0, 2, 1, 1], mol, atom_index=i, **kw
            ),
        )
    calc_b = pyace_calculator(
        ["Si"], 3, [8, 6, 4], [0, 6, 4], 5.0, seed=0, evaluator="bbasis", **kw
    )
    print("linearity (FS fs_parameters=[1,1]):", check_linear_energy(calc_b, atoms))
    print("evaluators agree (vs ACEBEvaluator):", check_evaluators_agree(atoms, **kw))
    print("design rows (compute_b_grad), 703 functions:", check_design_rows(calc_b, atoms))
    if not args.quick:
        calc_b4 = pyace_calculator(
            ["Si"], 4, [8, 6, 4, 3], [0, 6, 4, 3], 5.0, seed=0, evaluator="bbasis", **kw
        )
        print("design rows (compute_b_grad), 1642 functions:", check_design_rows(calc_b4, atoms))

    print("\n== .yace export ==")
    with tempfile.TemporaryDirectory() as tmp:
        info = export_yace(calc_b, os.path.join(tmp, "si703.yace"), atoms=atoms)
    for k in (
        "top_level_keys",
        "embedding_keys",
        "bond_key_example",
        "bond_keys",
        "function_keys",
        "n_functions_per_element",
        "radial_storage",
        "bytes",
        "max_abs_dE",
        "max_abs_dF",
    ):
        print(f"  {k}: {info[k]}")

    print(
        "\n== timing: Si64 (rattled 0.05 Å, seed 0), r_cut=5, energy+forces, "
        f"median of {args.repeats} =="
    )
    shapes = [(3, [8, 6, 4], [0, 6, 4])]
    if not args.quick:
        shapes.append((4, [8, 6, 4, 3], [0, 6, 4, 3]))
    for order, mn, ml in shapes:
        for ev in ("bbasis", "ctilde", "recursive"):
            calc = pyace_calculator(["Si"], order, mn, ml, 5.0, seed=0, evaluator=ev, **kw)
            t = time_energy_forces_detail(calc, atoms, repeats=args.repeats)
            print(
                f"  {calc.n_coefficients:5d} functions  {ev:9s}: {t['median'] * 1e3:.3f} ms/atom "
                f"(C++ compute only {t['cxx_median'] * 1e3:.3f} ms/atom)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
