"""Run a command as it would run on a slower machine of the same kind, and time it.

Issue 18's time targets are stated for a 2-core VM whose single-core dgemm runs at
19 GFLOP/s; the machines here reach 50–67. This script runs a command on this machine with
every one of its threads stopped for the same fraction of each 20 ms period (``SIGSTOP`` /
``SIGCONT`` to the command's process group), so that each core delivers ``target / measured``
of its work, the dense linear algebra and everything else alike. It then reports the wall
time, and the single-core dgemm rate measured under the same duty cycle, so that the
emulation can be checked against its target.

Run::

    python benchmarks/slow_machine.py [--dgemm 19] [--json out.json] -- ace-ref fit --example acac

With ``NUMBA_CACHE_DIR`` set to an empty directory the command compiles its kernels as on a
fresh install (the record says whether the cache was empty).

The emulation assumes that the slow machine is slower in everything by one factor, which is
what a lower clock or a shared core gives; a machine with the same cores but less memory
bandwidth would slow the memory-bound stages less. Run it on an otherwise idle machine:
another job on the cores slows the command further, and that is not part of the emulation.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PERIOD = 0.020
"""Seconds of one run-and-stop cycle (short beside every stage of a fit, long beside the
scheduler's tick)."""

DGEMM_CHECK = (
    "from ace_ref.fit.cost import measure_flop_rate; print(measure_flop_rate(2048, 5) / 1e9)"
)


def single_core_dgemm(fraction: float | None) -> float:
    """Single-core dgemm (GFLOP/s, n = 2048, best of 5) in a child process, duty-cycled to
    ``fraction`` of each period when given."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    command = [sys.executable, "-c", DGEMM_CHECK]
    if fraction is None:
        return float(subprocess.run(command, env=env, capture_output=True, check=True).stdout)
    with tempfile.TemporaryFile("w+") as stdout:  # no pipe: the child may be stopped
        run_throttled(command, fraction, env=env, stdout=stdout)
        stdout.seek(0)
        return float(stdout.read())


def run_throttled(command: list[str], fraction: float, **popen) -> tuple[int, float]:
    """Run ``command`` with all its threads running ``fraction`` of each :data:`PERIOD`;
    ``(return code, wall seconds)``."""
    if not 0 < fraction <= 1:
        raise ValueError(f"the fraction of time to run must lie in (0, 1], got {fraction}")
    t0 = time.perf_counter()
    child = subprocess.Popen(command, start_new_session=True, **popen)
    run, stop = fraction * PERIOD, (1 - fraction) * PERIOD
    try:
        while child.poll() is None:
            time.sleep(run)
            if stop > 0 and child.poll() is None:
                os.killpg(child.pid, signal.SIGSTOP)
                time.sleep(stop)
                os.killpg(child.pid, signal.SIGCONT)
    except BaseException:
        os.killpg(child.pid, signal.SIGCONT)
        child.kill()
        raise
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGCONT)
    return child.wait(), time.perf_counter() - t0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dgemm", type=float, default=19.0, help="target single-core GFLOP/s")
    p.add_argument("--json", help="write the measurements here")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- the command to run")
    a = p.parse_args()
    command = a.command[1:] if a.command[:1] == ["--"] else a.command
    if not command:
        p.error("give the command to run after --")
    load = os.getloadavg()[0]
    numba_cache = os.environ.get("NUMBA_CACHE_DIR")  # an empty one: a first run, compiling
    cache_empty = numba_cache is not None and not any(Path(numba_cache).glob("**/*.nbi"))
    here = single_core_dgemm(None)
    fraction = a.dgemm / here
    if fraction > 1:
        p.error(f"this machine's single-core dgemm ({here:.1f} GFLOP/s) is below the target")
    # the stops and restarts are not instantaneous, so the rate delivered is not exactly the
    # fraction's: measure it and correct the fraction until it is within 3 % of the target
    for _ in range(4):
        emulated = single_core_dgemm(fraction)
        if abs(emulated / a.dgemm - 1) <= 0.03:
            break
        fraction = min(1.0, fraction * a.dgemm / emulated)
    print(
        f"this machine: single-core dgemm {here:.1f} GFLOP/s (load {load:.2f}); running "
        f"{fraction:.3f} of every {PERIOD * 1e3:.0f} ms: dgemm {emulated:.1f} GFLOP/s "
        f"(target {a.dgemm:g})",
        flush=True,
    )
    rc, wall = run_throttled(command, fraction)
    print(f"wall {wall:.1f} s ({wall / 60:.2f} min), exit code {rc}: {' '.join(command)}")
    if a.json:
        record = {
            "command": command,
            "target_dgemm_gflops": a.dgemm,
            "machine_dgemm_gflops": here,
            "emulated_dgemm_gflops": emulated,
            "fraction": fraction,
            "load_before": load,
            "wall_seconds": wall,
            "numba_cache_dir": numba_cache,
            "numba_cache_empty_at_start": cache_empty,
            "exit_code": rc,
        }
        Path(a.json).write_text(json.dumps(record, indent=2))
    return rc


if __name__ == "__main__":
    sys.exit(main())
