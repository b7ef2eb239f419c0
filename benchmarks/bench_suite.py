"""Measurements of the benchmark suite, one *piece* per subprocess (driven by ``run_all.py``).

``python benchmarks/bench_suite.py PIECE PARAMS_JSON OUT_JSON`` runs one piece and writes
``{"piece", "params", "result", "peak_rss_mb", "baseline_rss_mb", "loadavg_start",
"loadavg_end", "wall_s", "threads"}``. ``peak_rss_mb`` is this process's ``ru_maxrss``;
``baseline_rss_mb`` the same after importing NumPy, Numba and ace_ref (before the piece's
own imports and work), so peak − baseline is what the piece itself needed. Thread counts
come from the environment the driver sets (``NUMBA_NUM_THREADS``, ``RAYON_NUM_THREADS`` for
featomic, ``OMP/OPENBLAS/MKL_NUM_THREADS`` for BLAS).

Pieces: ``machine`` (CPU, versions, measured dgemm GFLOP/s and memory bandwidth),
``ef`` / ``ef_mem`` (energy+forces vs pyace, see ``bench_basis.py``), ``featomic`` /
``featomic_mem`` (atomic base A with position gradients vs featomic's SphericalExpansion;
ν = 2 invariants with gradients vs SoapPowerSpectrum), ``coupling_ours`` / ``coupling_pyace``
(basis construction for the C/H/O order-3 spec), ``assembly`` (``fit.assemble`` on acac
train_300K at the ``ace-ref fit`` defaults, design rows timed apart from the QR folding).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numba
import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import ace_ref  # noqa: E402
from ace_ref import ACEBasis  # noqa: E402
from ace_ref.kernels import features  # noqa: E402

THREAD_VARS = (
    "NUMBA_NUM_THREADS",
    "RAYON_NUM_THREADS",
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _timed(fn, repeats: int, min_time: float) -> dict:
    fn()  # warm-up
    samples = []
    start = time.perf_counter()
    while len(samples) < repeats or (time.perf_counter() - start < min_time and len(samples) < 50):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return {"min": min(samples), "median": statistics.median(samples), "samples": samples}


def _round_robin(runners: dict, n_atoms: int, repeats: int, min_time: float) -> dict:
    """Interleaved timing (one call of each runner per round), seconds per atom."""
    for run in runners.values():
        run()
    samples = {k: [] for k in runners}
    start = time.perf_counter()
    rounds = 0
    while rounds < repeats or (time.perf_counter() - start < min_time and rounds < 50):
        for k, run in runners.items():
            t0 = time.perf_counter()
            run()
            samples[k].append((time.perf_counter() - t0) / n_atoms)
        rounds += 1
    return {
        k: {"min": min(v), "median": statistics.median(v), "samples": v} for k, v in samples.items()
    }


# ------------------------------------------------------------------ machine
def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_flags() -> list[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = line.split(":", 1)[1].split()
                return [f for f in ("avx2", "fma", "avx512f") if f in flags]
    except OSError:
        pass
    return []


def _version(mod: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(mod)
    except Exception:
        return None


def _git() -> dict:
    def git(*args):
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()

    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "branch": git("rev-parse", "--abbrev-ref", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
    }


@numba.njit(parallel=True, cache=True)
def _triad(a, b, c, s):
    for i in numba.prange(len(a)):
        a[i] = b[i] + s * c[i]


def piece_machine(quick: bool = False) -> dict:
    """CPU, memory, versions, and this machine's measured peaks: dgemm GFLOP/s with 1 and 2
    BLAS threads (``threadpoolctl``), a blocked Householder QR (``scipy.linalg.qr``, LAPACK
    dgeqrf) with 1 and 2 BLAS threads, ``numpy.copyto`` bandwidth (1 thread, read + write
    bytes) and a Numba ``prange`` triad ``a = b + s c`` (2 threads, 24 bytes per element)."""
    from threadpoolctl import threadpool_info, threadpool_limits

    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    out = {
        "cpu": _cpu_model(),
        "cpu_flags": _cpu_flags(),
        "logical_cpus": os.cpu_count(),
        "memory_gib": round(mem_gib, 1),
        "python": platform.python_version(),
        "versions": {
            m: _version(m)
            for m in ("numpy", "scipy", "numba", "ase", "vesin", "python-ace", "featomic")
        },
        "blas": [
            {k: d.get(k) for k in ("internal_api", "version", "num_threads")}
            for d in threadpool_info()
        ],
        "git": _git(),
        "ace_ref_path": str(Path(ace_ref.__file__).parent),
    }
    n = 1000 if quick else 2000
    a = np.random.default_rng(0).normal(size=(n, n))
    b = np.random.default_rng(1).normal(size=(n, n))
    gemm = {}
    for th in (1, 2):
        with threadpool_limits(th, user_api="blas"):
            t = _timed(lambda: a @ b, 2 if quick else 4, 0.0)
        gemm[th] = 2 * n**3 / t["min"] / 1e9
    out["dgemm_gflops"] = gemm
    # blocked Householder QR (what the assembly's folding calls), 1 vs 2 BLAS threads
    import scipy.linalg

    m_qr, n_qr = (2000, 800) if quick else (4000, 1500)
    a_qr = np.random.default_rng(2).normal(size=(m_qr, n_qr))
    qr = {1: [], 2: []}
    for _ in range(1 if quick else 2):
        for th in (1, 2):
            with threadpool_limits(th, user_api="blas"):
                work = a_qr.copy()
                t0 = time.perf_counter()
                scipy.linalg.qr(work, mode="r", overwrite_a=True, check_finite=False)
                qr[th].append(time.perf_counter() - t0)
    flops_qr = 2 * m_qr * n_qr**2 - 2 * n_qr**3 / 3
    out["qr_shape"] = [m_qr, n_qr]
    out["qr_gflops"] = {th: flops_qr / min(v) / 1e9 for th, v in qr.items()}
    m = 5_000_000 if quick else 25_000_000
    x = np.ones(m)
    y = np.empty(m)
    t = _timed(lambda: np.copyto(y, x), 3 if quick else 6, 0.0)
    out["copy_gbs_1thread"] = 2 * 8 * m / t["min"] / 1e9
    z = np.ones(m)
    numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
    t = _timed(lambda: _triad(y, x, z, 0.5), 3 if quick else 6, 0.0)
    out["triad_gbs_2threads"] = 3 * 8 * m / t["min"] / 1e9
    numba.set_num_threads(1)
    t = _timed(lambda: _triad(y, x, z, 0.5), 3 if quick else 6, 0.0)
    out["triad_gbs_1thread"] = 3 * 8 * m / t["min"] / 1e9
    return out


# ------------------------------------------------------------------ energy + forces
def piece_ef(structure: str, spec: str, repeats: int = 5, min_time: float = 1.0, quick=False,
             impls=("ours1", "ours2", "pyace_B", "pyace_recursive")):  # fmt: skip
    import bench_basis

    return bench_basis.energy_forces_case(structure, spec, tuple(impls), repeats=repeats,
                                          min_time=min_time, quick=quick)  # fmt: skip


def piece_ef_mem(structure: str, spec: str, impl: str, quick: bool = False):
    import bench_basis

    return bench_basis.energy_forces_memory(structure, spec, impl, quick=quick)


# ------------------------------------------------------------------ featomic
N_MAX, L_MAX = 8, 6  # the one-particle basis of the si703 / cho3 specifications


def _ours_basis(elements) -> ACEBasis:
    """ν ≤ 2 basis with n ≤ 8, l ≤ 6 (the one-particle basis of the 703 spec)."""
    return ACEBasis(elements, 2, max_n=[N_MAX, N_MAX], max_l=[0, L_MAX], r_cut=5.0)


def ours_atomic_base_with_gradients(basis: ACEBasis, structures):
    """A_i, ∂A_i/∂r_j per pair and ∂A_i/∂r_i for a whole list of structures in one parallel
    sweep (``ACEBasis.atomic_base_with_gradients``) — the content featomic returns with
    ``gradients=["positions"]`` for the same list."""
    r = basis.atomic_base_with_gradients(structures)
    return r.values, r.pair_gradients, r.self_gradients


def ours_invariants_with_gradients(basis: ACEBasis, atoms):
    """ν ≤ 2 invariants B_i and ∂B_i/∂r_ij per pair (``features.features_and_pair_gradients``)."""
    species, i, j, D, offsets, pair_type = basis.pairs(atoms, "bench")
    phi, dphi = basis.pair_basis(D, pair_type)
    A = features.atomic_base(offsets, species[j], phi, len(basis.elements), basis.n_slot)
    return features.features_and_pair_gradients(
        A, offsets, species[j], dphi, basis.n_slot, basis.tables(0)
    )


def featomic_hypers(kind: str, basis: ACEBasis | None = None) -> dict:
    """featomic hyper-parameters with n_max = 8 radial functions, l_max = 6, cutoff 5 Å.

    ``gto``: featomic's usual SOAP set-up — Gaussian density (width 0.3 Å, the central atom
    included), GTO radial basis (``max_radial`` 7, i.e. 8 functions), shifted-cosine cutoff
    (width 0.5 Å); featomic splines the radial integral (accuracy 1e-8).
    ``tabulated``: *our* radial functions (Bessel × envelope) as a tabulated radial basis
    (featomic's cubic Hermite ``Spline``, accuracy 1e-8) with a Dirac-delta density, no
    central-atom term and a step cutoff: featomic then computes exactly our A.
    """
    if kind == "gto":
        return {
            "cutoff": {"radius": 5.0, "smoothing": {"type": "ShiftedCosine", "width": 0.5}},
            "density": {"type": "Gaussian", "width": 0.3},
            "basis": {
                "type": "TensorProduct",
                "max_angular": L_MAX,
                "radial": {"type": "Gto", "max_radial": N_MAX - 1},
            },
        }
    from featomic.basis import Explicit
    from featomic.cutoff import Cutoff, Step
    from featomic.density import DiracDelta
    from featomic.splines import Spline, SplinedRadialBasis

    if np.ptp(basis.r_cut) != 0:
        raise ValueError("tabulated featomic basis needs one cutoff for all pairs")
    rad = basis.radials[0][0]
    rc = float(basis.r_cut[0, 0])

    def values(r):
        return rad(np.maximum(r, 1e-9))[0]

    def derivatives(r):
        return rad(np.maximum(r, 1e-9))[1]

    spline = Spline.with_accuracy(0.0, rc, values, derivatives, 1e-8)
    by_angular = {
        l: SplinedRadialBasis(spline=spline, max_radial=basis.n_max - 1, radius=rc)
        for l in range(L_MAX + 1)
    }
    return {
        "cutoff": Cutoff(radius=rc, smoothing=Step()),
        "density": DiracDelta(center_atom_weight=0.0),
        "basis": Explicit(by_angular=by_angular, spline_accuracy=None),
    }


def _featomic_vs_ours(tensor, basis: ACEBasis, atoms, A) -> tuple[float, float]:
    """max |A_featomic − A_ours| and max |A_ours| for one structure (tabulated hypers)."""
    from ase.data import chemical_symbols

    n_lm = (basis.l_max + 1) ** 2
    nA = A.reshape(len(atoms), len(basis.elements), basis.n_max, n_lm)
    dev = 0.0
    for key, block in tensor.items():
        l = int(key["o3_lambda"])
        s = basis.elements.index(chemical_symbols[int(key["neighbor_type"])])
        atom = block.samples.column("atom")
        ours = nA[atom, s][:, :, l * l : (l + 1) ** 2].transpose(0, 2, 1)
        dev = max(dev, float(np.abs(block.values - ours).max()))
    return dev, float(np.abs(A).max())


def piece_featomic(structures=("Si64", "acac", "CHO64"), repeats=5, min_time=1.0, quick=False,
                   impls=("ours", "featomic_gto", "featomic_tabulated")):  # fmt: skip
    """Per structure set: A + position gradients and ν = 2 invariants + gradients, ours vs
    featomic (both hyper-parameter sets), interleaved; seconds per atom."""
    import warnings

    import bench_basis
    import featomic

    warnings.filterwarnings("ignore", message="periodic boundary conditions are disabled")
    threads = numba.config.NUMBA_NUM_THREADS
    numba.set_num_threads(threads)
    out = {"threads": threads, "cases": []}
    for name in structures:
        atoms_list = bench_basis.structures(name, quick)
        n_atoms = sum(len(a) for a in atoms_list)
        elements = sorted({s for a in atoms_list for s in a.get_chemical_symbols()})
        basis = _ours_basis(elements)
        case = {
            "structure": name,
            "n_atoms": n_atoms,
            "n_configs": len(atoms_list),
            "elements": basis.elements,
            "ours_nu2_functions_per_species": basis.counts_by_order()[2],
        }
        spex, soap = {}, {}
        for kind in ("gto", "tabulated"):
            if f"featomic_{kind}" not in impls:
                continue
            hyp = featomic_hypers(kind, basis)
            spex[kind] = featomic.SphericalExpansion(**hyp)
            soap[kind] = featomic.SoapPowerSpectrum(**hyp)
        if "tabulated" in spex and "ours" in impls:
            A, _, _ = ours_atomic_base_with_gradients(basis, [atoms_list[0]])
            t = spex["tabulated"].compute(atoms_list[0], gradients=["positions"])
            dev, scale = _featomic_vs_ours(t, basis, atoms_list[0], A)
            case["tabulated_max_abs_dev_A"] = dev
            case["max_abs_A"] = scale
        for what in ("A", "PS"):
            runners = {}
            if "ours" in impls and what == "A":  # the whole list at once, as featomic
                runners["ours"] = lambda b=basis, al=atoms_list: ours_atomic_base_with_gradients(
                    b, al
                )
            elif "ours" in impls:

                def run(basis=basis, atoms_list=atoms_list):
                    for a in atoms_list:
                        ours_invariants_with_gradients(basis, a)

                runners["ours"] = run
            for kind, calc in (spex if what == "A" else soap).items():
                runners[f"featomic_{kind}"] = lambda c=calc, al=atoms_list: c.compute(
                    al, gradients=["positions"]
                )
            case[what] = _round_robin(runners, n_atoms, repeats, min_time)
        if "gto" in soap:
            ps = soap["gto"].compute(atoms_list[0])
            case["featomic_ps_properties_per_species_pair"] = int(ps.block(0).values.shape[1])
        out["cases"].append(case)
    return out


def piece_featomic_mem(impl: str, what: str, structures=("Si64", "acac", "CHO64"), quick=False):
    """One warm-up and one timed pass of a single implementation over all structure sets."""
    r = piece_featomic(structures, repeats=1, min_time=0.0, quick=quick, impls=(impl,))
    for c in r["cases"]:
        c.pop("A" if what == "PS" else "PS", None)
    return r


# ------------------------------------------------------------------ coupling coefficients
CHO3 = dict(elements=["C", "H", "O"], order=3, max_n=[8, 6, 4], max_l=[0, 6, 4])


def piece_coupling_ours(cache_dir: str) -> dict:
    """``ACEBasis(C/H/O, order 3, n [8,6,4], l [0,6,4], cache_dir)``: coupling blocks, index
    and coefficient tables (everything the basis needs before evaluation)."""
    cold = not any(Path(cache_dir).glob("**/*")) if Path(cache_dir).exists() else True
    t0 = time.perf_counter()
    basis = ACEBasis(CHO3["elements"], CHO3["order"], max_n=CHO3["max_n"], max_l=CHO3["max_l"],
                     r_cut=5.0, cache_dir=cache_dir)  # fmt: skip
    t = time.perf_counter() - t0
    files = list(Path(cache_dir).glob("**/*"))
    return {
        "seconds": t,
        "n_functions": len(basis),
        "cache_was_empty": cold,
        "cache_files": sum(f.is_file() for f in files),
        "cache_bytes": sum(f.stat().st_size for f in files if f.is_file()),
    }


def piece_coupling_pyace() -> dict:
    """pyace for the same spec: ``create_multispecies_basis_config`` (function list from its
    shipped white-list of couplings), ``ACEBBasisSet`` (generalized Clebsch–Gordan
    coefficients) and ``to_ACECTildeBasisSet`` (what the evaluator runs)."""
    t0 = time.perf_counter()
    from pyace import ACEBBasisSet

    from ace_ref.verify.peers import pyace_basis_configuration

    t1 = time.perf_counter()
    conf = pyace_basis_configuration(CHO3["elements"], CHO3["max_n"], CHO3["max_l"], 5.0)
    t2 = time.perf_counter()
    bset = ACEBBasisSet(conf)
    t3 = time.perf_counter()
    bset.to_ACECTildeBasisSet()
    t4 = time.perf_counter()
    return {
        "import_s": t1 - t0,
        "config_s": t2 - t1,
        "bbasis_s": t3 - t2,
        "ctilde_s": t4 - t3,
        "seconds": t4 - t1,
        "n_functions": int(conf.total_number_of_functions),
    }


# ------------------------------------------------------------------ assembly
def piece_assembly(n_configs: int | None = None) -> dict:
    """``fit.assemble`` (QR) on acac ``train_300K.xyz`` with the ``ace-ref fit`` defaults on
    ``NUMBA_NUM_THREADS`` threads; ``fit.write_config_rows`` is wrapped to time the design
    rows (CPU seconds summed over threads), the rest is QR folding and merging. The SHA-256 of
    the summary shows it is bitwise the same for every thread count."""
    from fractions import Fraction
    from importlib import resources

    from ace_ref import defaults, fit
    from ace_ref.fit.data import read_configs, read_e0

    root = resources.files("ace_ref") / "example_data" / "acac"
    configs = read_configs([str(root / "train_300K.xyz")])
    if n_configs:
        configs = configs[:n_configs]
    e0 = read_e0(str(root / "isolated_atoms.xyz"))
    t0 = time.perf_counter()
    basis = ACEBasis(
        ["H", "C", "O"],
        defaults.ORDER,
        max_degree=defaults.MAX_DEGREE,
        w_L=Fraction(defaults.W_L),
        r_cut=defaults.R_CUT,
        radial=defaults.RADIAL,
    )
    t_basis = time.perf_counter() - t0
    weights = fit.Weights.parse(defaults.WEIGHTS)
    # warm-up (Numba caches loaded, first-call overheads) on one configuration
    fit.config_rows(basis, configs[0], e0, weights)
    original = fit.write_config_rows
    spent = [0.0]

    def timed_rows(*args, **kwargs):
        t = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - t

    fit.write_config_rows = timed_rows
    try:
        t0 = time.perf_counter()
        system = fit.assemble(basis, configs, e0, weights, progress=False)
        total = time.perf_counter() - t0
    finally:
        fit.write_config_rows = original
    from ace_ref.fit.reduction import plan_partitions

    digest = hashlib.sha256(np.ascontiguousarray(system.R).tobytes())
    digest.update(np.ascontiguousarray(system.z).tobytes())
    return {
        "summary_sha256": digest.hexdigest(),
        "partitions": plan_partitions(int(system.n_rows), len(basis)),
        "n_configs": len(configs),
        "n_rows": int(system.n_rows),
        "n_columns": len(basis),
        "basis_s": t_basis,
        "total_s": total,
        "rows_s": spent[0],
        "fold_s": total - spent[0],
        "numba_threads": numba.config.NUMBA_NUM_THREADS,
        "spec": (
            f"order {defaults.ORDER}, degree "
            f"[{', '.join(str(d) for d in defaults.MAX_DEGREE)}], "
            f"w_L {defaults.W_L}, r_cut {defaults.R_CUT} Å, "
            f"{defaults.RADIAL.capitalize()}; weights {defaults.WEIGHTS}"
        ),
    }


PIECES = {
    "machine": piece_machine,
    "ef": piece_ef,
    "ef_mem": piece_ef_mem,
    "featomic": piece_featomic,
    "featomic_mem": piece_featomic_mem,
    "coupling_ours": piece_coupling_ours,
    "coupling_pyace": piece_coupling_pyace,
    "assembly": piece_assembly,
}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    name, params, out = argv[0], json.loads(argv[1]), Path(argv[2])
    baseline = rss_mb()
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    result = PIECES[name](**params)
    record = {
        "piece": name,
        "params": params,
        "result": result,
        "wall_s": time.perf_counter() - t0,
        "peak_rss_mb": rss_mb(),
        "baseline_rss_mb": baseline,
        "loadavg_start": load0,
        "loadavg_end": os.getloadavg(),
        "threads": {k: os.environ.get(k) for k in THREAD_VARS},
    }
    out.write_text(json.dumps(record, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
