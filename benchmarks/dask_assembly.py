"""Design-matrix assembly of the 3BPA training set: 1 thread, 2 threads and a Dask
``LocalCluster`` of single-threaded workers (issues 6 and 8).

Run::

    python benchmarks/dask_assembly.py --threads 1 2 --workers 2

Every route folds the same fixed partitions with single-threaded LAPACK, so each prints the
SHA-256 of its summary: they must all be equal.

Default basis: the ``ace-ref fit`` defaults (``ace_ref.defaults``) on H/C/N/O. With four
species they give a large basis whose merges need three ``(K+1)²`` arrays per worker; the
BENCHMARKS.md run uses ``--degree 11,11,9 --wl 1`` (K = 16 488), which fits two workers on
this 23 GB machine. Prints one JSON line per measurement; among them the inputs of the paper
estimate in BENCHMARKS.md: per-structure design-row time, the rate of the QR fold (flop/s),
one merge of two triangles, and per Dask task its compute and transfer seconds. Cluster
start-up is timed separately from the assembly; CPU seconds are reported next to wall seconds
because the machine is shared.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from ace_ref import ACEBasis, defaults
from ace_ref.fit.assembly import LinearSystem, Weights, assemble, config_rows, merge
from ace_ref.fit.data import read_configs, read_e0
from ace_ref.fit.distributed import PARTITION_KEY, distributed_assemble

BPA = Path(__file__).resolve().parents[2] / "shared" / "data" / "3bpa"


def _emit(**row) -> dict:
    row["load_average_1min"] = os.getloadavg()[0]
    print(json.dumps(row), flush=True)
    return row


def _cpu() -> float:
    return time.process_time()


def _peak_rss_gb() -> float:
    """Peak resident memory of this process (GiB): Linux's ``VmHWM``, which ``exec`` resets.

    ``ru_maxrss`` would not do for the workers: Linux keeps it across ``execve``, so a worker
    spawned by this process would report this process's peak as its own."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**20  # kB -> GiB
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _warm_worker() -> int:
    """Load the Numba kernels (from the on-disk cache) before timing."""
    from ase.build import molecule

    b = ACEBasis(["H", "C", "O"], order=2, max_n=[2, 2], max_l=[0, 1], cache_dir=None)
    b.design_rows(molecule("CH3OH"))
    return os.getpid()


def _digest(system: LinearSystem) -> str:
    """SHA-256 of the summary's arrays (bitwise identity across routes)."""
    h = hashlib.sha256()
    for name in ("R", "z", "G", "b"):
        a = getattr(system, name)
        if a is not None:
            h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _task_times(records: list[dict]) -> list[dict]:
    """Per task of a Dask task stream: worker, and seconds spent computing, transferring
    inputs and (de)serialising, with the start of its computation relative to the first
    task's."""
    t0 = min((ss["start"] for r in records for ss in r["startstops"]), default=0.0)
    out = []
    for r in records:
        spent: dict[str, float] = {}
        for ss in r["startstops"]:
            spent[ss["action"]] = spent.get(ss["action"], 0.0) + ss["stop"] - ss["start"]
        start = min(ss["start"] for ss in r["startstops"] if ss["action"] == "compute")
        key = r["key"] if isinstance(r["key"], str) else str(r["key"])
        out.append(
            dict(
                task="partition" if key.startswith(PARTITION_KEY) else "merge",
                worker=r.get("worker"),
                starts_after_s=round(start - t0, 2),
                **{f"{a}_s": round(v, 2) for a, v in spent.items()},
            )
        )
    return sorted(out, key=lambda d: d["starts_after_s"])


def per_structure_seconds(basis, configs, e0, n=20) -> float:
    """Median wall time of the weighted rows of one configuration (no fold)."""
    times = []
    for c in configs[:n]:
        t = time.perf_counter()
        config_rows(basis, c, e0, Weights())
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def merge_seconds(K: int) -> float:
    """Wall time of merging two random ``K × K`` triangular summaries (one ``dtpqrt``)."""
    rng = np.random.default_rng(0)
    parts = [
        LinearSystem("qr", 1.0, K, 1, R=np.triu(rng.normal(size=(K, K))), z=rng.normal(size=K))
        for _ in range(2)
    ]
    t = time.perf_counter()
    merge(parts)
    return time.perf_counter() - t


def main(args) -> None:
    configs = read_configs(BPA / "train_300K.xyz")[: args.limit]
    e0 = read_e0(BPA / "iso_atoms.xyz")
    degree = [Fraction(x) for x in args.degree.split(",")]
    basis = ACEBasis(
        ["H", "C", "N", "O"],
        order=len(degree),
        max_degree=degree,
        w_L=Fraction(args.wl),
        r_cut=args.rcut,
        radial=defaults.RADIAL,
    )
    K = len(basis)
    config_rows(basis, configs[0], e0, Weights())  # Numba warm-up
    t_struct = per_structure_seconds(basis, configs, e0)
    _emit(
        step="setup",
        configs=len(configs),
        basis_functions=K,
        method=args.method,
        seconds_per_structure=t_struct,
        threads=os.environ.get("OMP_NUM_THREADS"),
    )
    t_merge = merge_seconds(K) if args.method == "qr" else None
    if t_merge is not None:
        _emit(
            step="merge of two K×K triangles", seconds=t_merge, flop_rate=(2 / 3) * K**3 / t_merge
        )
    results = {}
    for threads in args.threads:
        t, c = time.perf_counter(), _cpu()
        system = assemble(basis, configs, e0, progress=False, method=args.method, threads=threads)
        wall, cpu = time.perf_counter() - t, _cpu() - c
        row = dict(
            step=f"assemble, {threads} thread(s)",
            rows=system.n_rows,
            seconds=wall,
            cpu_seconds=cpu,
            summary_sha256=_digest(system),
            peak_rss_GB=_peak_rss_gb(),
        )
        if threads == 1:
            la = wall - t_struct * len(configs)
            row["fold_flop_rate"] = 2 * system.n_rows * K**2 / la if la > 0 else None
        if 1 in results:
            row["speedup"] = results[1]["seconds"] / wall
        results[threads] = _emit(**row)
        del system
    from distributed import Client, LocalCluster, get_task_stream

    for n in args.workers:
        t = time.perf_counter()
        with (
            LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
            ) as cluster,
            Client(cluster) as client,
        ):
            pids = client.run(_warm_worker)
            startup = time.perf_counter() - t
            cpu0 = client.run(_cpu)
            t = time.perf_counter()
            with get_task_stream(client) as stream:
                system = distributed_assemble(
                    basis, configs, e0, client=client, progress=False, method=args.method
                )
            wall = time.perf_counter() - t
            cpu1 = client.run(_cpu)
            peak = client.run(_peak_rss_gb)
            restarted = set(client.run(os.getpid).values()) != set(pids.values())
        row = dict(
            step=f"{n} workers",
            rows=system.n_rows,
            seconds=wall,
            worker_cpu_seconds=[cpu1[w] - cpu0[w] for w in cpu0 if w in cpu1],
            cluster_startup_seconds=startup,
            worker_peak_rss_GB=list(peak.values()),
            worker_restarted=restarted,
            summary_sha256=_digest(system),
            tasks=_task_times(stream.data),
        )
        if 1 in results:
            row["speedup"] = results[1]["seconds"] / wall
        results[f"{n} workers"] = _emit(**row)
        del system


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--degree", default=",".join(str(d) for d in defaults.MAX_DEGREE))
    p.add_argument("--wl", default=str(defaults.W_L))
    p.add_argument("--rcut", type=float, default=defaults.R_CUT)
    p.add_argument("--method", default="qr", choices=["qr", "normal"])
    p.add_argument("--threads", type=int, nargs="*", default=[1, 2])
    p.add_argument("--workers", type=int, nargs="*", default=[2])
    p.add_argument("--limit", type=int, help="use only the first N configurations")
    main(p.parse_args())
