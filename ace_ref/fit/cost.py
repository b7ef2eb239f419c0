r"""What a fit will cost, before it starts: coefficients, rows, peak memory and time.

The estimate counts the work of each stage and divides it by rates measured on this machine
when the estimate is made:

* **design rows** — the seconds per atom of :meth:`Basis.design_rows` on a few training
  configurations (timed here, after one untimed call that compiles the kernels), times the
  atoms of all configurations; the post-fit passes (errors on the training and test sets,
  the active set) cost :data:`POST_FIT_PASSES` such passes without force rows, counted as
  one each;
* **QR folds** — ``2 m K²`` flops (Householder QR of ``[T; block]``, ``dtpqrt``) for the
  ``m`` rows folded (all the rows less the rigid motions' force rows,
  :func:`~ace_ref.fit.rigid_motions.count_rigid_motions`), plus
  ``(2/3) K³`` per merge of two partition triangles, at :data:`QR_EFFICIENCY` of the
  measured ``dgemm`` rate; ``"normal"`` assembly: ``m K²`` (tiles of ``dsyrk``/``dgemm``
  on all threads) at the full rate;
* **solve** — BLR/ridge on a QR summary: the two-stage bidiagonalization of ``R Γ⁻¹``,
  ``(8/3) K³`` flops at :data:`BIDIAGONAL_EFFICIENCY` of the ``dgemm`` rate; on a Gram
  summary the symmetric eigendecomposition, ``9 K³`` at the same efficiency; one such solve
  per prior setting of a grid (``solves``) plus the final one;
* **peak memory** — one ``(K+1)²`` float64 triangle per thread folding in parallel and one
  for the merge, the row blocks, and the working copy of the solve;
* **selection** (``select=k`` of a pool of ``K``): the pool's Gram summary as above, then
  the ridge for the ranking (a Gram BLR solve of ``n = min(k, 3000)`` columns, ``9 n³``;
  :data:`ace_ref.defaults.SELECTION_RIDGE_COLUMNS`) and the greedy picks
  (``Σ_t n_t² ≈ K² k (1 − x + x²/3)``, ``x = k/K``, in symmetric rank-``block`` products on
  the ``n_t`` columns not yet chosen) at :data:`RANKING_EFFICIENCY`; the design rows of the
  chosen basis (counted as ``k/K`` of the pool's) and the summary and solve of ``k`` columns
  follow as without selection. With ``ranking_rows`` the pool's stages count that share of the rows.

The efficiencies were measured on the machine of BENCHMARKS.md (see "Cost estimate" there):
they are ratios to that machine's ``dgemm`` rate, so the estimate follows a slower or faster
machine through the ``dgemm`` rate measured at run time. Expect it to be right within a
factor of about 1.5; it is a plan, not a promise.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from ace_ref import defaults
from ace_ref.basis.interface import species_columns
from ace_ref.fit.assembly import (
    Weights,
    config_row_weights,
    default_block_rows,
    drops_rigid_motion_rows,
    write_config_rows,
)
from ace_ref.fit.data import Config
from ace_ref.fit.reduction import plan_partitions, row_counts
from ace_ref.fit.rigid_motions import count_rigid_motions

__all__ = [
    "BIDIAGONAL_EFFICIENCY",
    "POST_FIT_PASSES",
    "QR_EFFICIENCY",
    "RANKING_EFFICIENCY",
    "FitCost",
    "available_memory",
    "design_rows_as_assembled",
    "estimate_fit_cost",
    "measure_flop_rate",
]

QR_EFFICIENCY = 0.8
"""Share of the ``dgemm`` rate (all threads) the blocked Householder folds (``dtpqrt``) and the
merge reach. Measured on ``ace-ref fit --example acac`` (K = 11469, 7.0e12 flops of folds and
merge): 0.69 at 100 GFLOP/s, 0.9 at 38 GFLOP/s (BENCHMARKS.md, "Fit plan")."""

RANKING_EFFICIENCY = 0.6
"""Share of the ``dgemm`` rate the greedy ranking reaches
(:func:`ace_ref.fit.selection.greedy_columns`: symmetric rank-32 updates in tiles, plus per
pick one strided row of the packed Schur complement and a few vector passes). Measured idle
(BENCHMARKS.md, "Fit plan", two cheaper passes): 0.58 on the 3BPA pool (32 070, 10 250 picks,
7.8e12 flops in 134 s at about 100 GFLOP/s), 0.67 on the acac pool (11 046, 3682 picks, with
the ridge's solve)."""

BIDIAGONAL_EFFICIENCY = 0.45
"""Share of the ``dgemm`` rate the solve reaches: the two-stage bidiagonalization (half of it
matrix–vector work, ``(8/3) K³`` flops), the evidence iterations and the committee. Measured
on the same fit: 0.45 at 100 GFLOP/s, 0.53 at 38 GFLOP/s."""

POST_FIT_PASSES = 0.5
"""Seconds of the passes after the solve (coverage, active set, training and test errors), in
units of one pass of design rows over the same atoms (measured: 17.6 s against 36 s)."""

BASELINE_BYTES = 400 * 2**20
"""Interpreter, NumPy, Numba kernels and the data set: what a fit holds besides its arrays."""


def measure_flop_rate(n: int = 1024, repeats: int = 3) -> float:
    """The best of ``repeats`` ``n × n`` ``dgemm`` rates (flop/s), with the BLAS threads as set."""
    rng = np.random.default_rng(0)
    a, b = rng.random((n, n)), rng.random((n, n))
    a @ b  # warm the BLAS
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n**3 / best


def available_memory() -> int | None:
    """Bytes the system can give this process now (``MemAvailable``), or ``None`` if unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


@dataclass
class FitCost:
    """The estimate of :func:`estimate_fit_cost`."""

    n_coefficients: int
    n_rows: int
    n_configs: int
    n_atoms: int
    peak_bytes: int
    seconds: dict[str, float]
    flop_rate: float
    threads: int
    available_bytes: int | None = None
    notes: list[str] = field(default_factory=list)
    pool_coefficients: int | None = None
    """With greedy selection: the size of the basis the coefficients are chosen from."""
    flop_rate_given: bool = False
    """Whether :attr:`flop_rate` was given (a plan for another machine) rather than measured."""
    flops: dict[str, float] = field(default_factory=dict)
    """Floating-point operations of the stages that are dense linear algebra, by the keys of
    :attr:`seconds` they belong to (``"QR folds"`` or ``"Gram"``, ``"solve"``; with selection
    ``"Gram (pool)"`` and ``"selection"``, the ranking), and ``"active set"`` (its pivots,
    part of ``"errors and active set"``)."""

    def achieved(
        self,
        assembly_seconds: float,
        solve_seconds: float,
        pool_gram_seconds: float = 0.0,
        ranking_seconds: float = 0.0,
    ) -> str:
        """One line: how fast the dense linear algebra ran against the ``dgemm`` rate measured
        for the plan. The assembly's seconds include computing the design rows, so its rate
        is a lower bound for the QR folds (or Gram products) alone; so is the pool Gram's,
        which includes the pool's design rows."""
        build = "QR folds" if "QR folds" in self.flops else "Gram"
        parts = []
        for label, flops, t in (
            ("pool Gram (and its design rows)", self.flops.get("Gram (pool)"), pool_gram_seconds),
            ("ranking", self.flops.get("selection"), ranking_seconds),
            (f"assembly ({build} and design rows)", self.flops.get(build), assembly_seconds),
            ("solve", self.flops.get("solve"), solve_seconds),
        ):
            if flops is None or t <= 0:
                continue
            rate = flops / t
            parts.append(
                f"{label} {flops:.2g} flop in {t:.3g} s = {rate / 1e9:.0f} GFLOP/s, "
                f"{100 * rate / self.flop_rate:.0f} %"
            )
        return (
            f"dense linear algebra against the "
            f"{'given' if self.flop_rate_given else 'measured'} dgemm peak of "
            f"{self.flop_rate / 1e9:.0f} GFLOP/s on {self.threads} thread"
            f"{'s' if self.threads > 1 else ''}: " + "; ".join(parts)
        )

    @property
    def total_seconds(self) -> float:
        return float(sum(self.seconds.values()))

    @property
    def fits_in_memory(self) -> bool:
        return self.available_bytes is None or self.peak_bytes <= self.available_bytes

    def format(self) -> str:
        """Two lines for a user about to start the fit."""
        stages = ", ".join(f"{k} {_duration(v)}" for k, v in self.seconds.items())
        memory = f"{self.peak_bytes / 2**30:.1f} GiB"
        if self.available_bytes is not None:
            memory += f" of {self.available_bytes / 2**30:.1f} GiB available"
        chosen = (
            f" chosen greedily from {self.pool_coefficients}"
            if self.pool_coefficients is not None
            else ""
        )
        return (
            f"fit plan: {self.n_coefficients} coefficients{chosen}, {self.n_rows} rows from "
            f"{self.n_configs} configurations ({self.n_atoms} atoms); peak memory about "
            f"{memory}\n"
            f"estimated time {_duration(self.total_seconds)} ({stages}) on {self.threads} "
            f"thread{'s' if self.threads > 1 else ''} at the "
            f"{'given' if self.flop_rate_given else 'measured'} dgemm rate "
            f"{self.flop_rate / 1e9:.0f} GFLOP/s"
        )


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def design_rows_as_assembled(basis, weights: Weights):
    """``rows(config)``: the weighted rows of one configuration written as assembly writes them
    (:func:`~ace_ref.fit.assembly.write_config_rows` into a row slice of a Fortran-ordered
    block buffer), so that timing them compiles the kernels for the argument layouts the fit
    will use. The energy targets are taken against zero reference energies."""
    e0 = dict.fromkeys(basis.elements, 0.0)

    def rows(config: Config) -> None:
        (n,) = row_counts([config], weights)
        buffer = np.empty((int(n) + 1, len(basis) + 1), order="F")  # a slice, as in assembly
        write_config_rows(basis, config, e0, weights, buffer[:n, :-1], buffer[:n, -1])

    return rows


def estimate_fit_cost(
    basis,
    train: list[Config],
    weights: Weights,
    *,
    assembly: str = "qr",
    threads: int | None = None,
    flop_rate: float | None = None,
    sample: int = 2,
    test_atoms: int = 0,
    solves: int = 1,
    select: int | None = None,
    ranking_rows: int | None = None,
    active_set_size: int = 0,
) -> FitCost:
    """Estimate what fitting ``basis`` to ``train`` will cost (see the module docstring).

    Parameters
    ----------
    flop_rate
        ``dgemm`` flop/s on all ``threads``; measured (:func:`measure_flop_rate`) if not given.
    sample
        Training configurations timed for the design-row rate (after one untimed call).
    test_atoms
        Atoms in the test sets (their errors are computed after the fit).
    solves
        Factorizations of the solve: ``1``, or one per prior setting of a grid plus the
        final one (:func:`ace_ref.fit.fit` with several ``smoothness``/``order_weights``).
    select
        Greedy selection of this many of ``basis``'s functions (:func:`ace_ref.fit.fit`'s
        ``select``): the stages of the pool come first (module docstring).
    ranking_rows
        With ``select``: the pool's Gram summary from at most this many rows of the training
        data (:func:`ace_ref.fit.fit`'s ``ranking_rows``; ``None``: all).
    active_set_size
        Functions of the active sets (:func:`ace_ref.fit.fit`'s ``active_set_size``; 0: none):
        their pivots cost one Gram matrix of each element's block of the fitted basis over
        that element's training environments, ``Σ_el n_el K_el²`` flops
        (:func:`ace_ref.models.uncertainty.pivoted_columns`).
    """
    import numba

    threads = numba.get_num_threads() if threads is None else int(threads)
    K = len(basis)
    rows = row_counts(train, weights)
    n_rows = int(rows.sum())
    # the rows folded into the summaries: the rigid motions' force rows are dropped
    folded = n_rows - sum(
        count_rigid_motions(c.atoms)
        for c in train
        if drops_rigid_motion_rows(config_row_weights(c, weights))
    )
    n_atoms = sum(len(c.atoms) for c in train)
    flop_rate_given = flop_rate is not None
    if flop_rate is None:
        flop_rate = measure_flop_rate()
    # design rows: seconds per atom on a few configurations of middle size
    by_size = sorted(train, key=lambda c: len(c.atoms))
    middle = len(by_size) // 2
    timed = by_size[max(0, middle - sample // 2) :][:sample]
    timed_rows = design_rows_as_assembled(basis, weights)
    timed_rows(by_size[middle])  # compiles
    t0 = time.perf_counter()
    for c in timed:
        timed_rows(c)
    timed_atoms = sum(len(c.atoms) for c in timed)
    per_atom = (time.perf_counter() - t0) / max(timed_atoms, 1)
    single_rate = flop_rate / max(threads, 1)  # folds run single-threaded, in parallel lanes
    seconds: dict[str, float] = {}
    flops: dict[str, float] = {}
    peak = BASELINE_BYTES
    pool = None
    if select is not None:
        pool, K = K, int(select)
        share = 1.0 if ranking_rows is None else min(1.0, ranking_rows / max(n_rows, 1))
        pool_rows = folded * share
        lanes = max(1, min(threads, plan_partitions(int(n_rows * share), pool)))
        seconds["design rows (pool)"] = per_atom * n_atoms * share / lanes
        seconds["Gram (pool)"] = pool_rows * pool**2 / flop_rate  # lanes, tiles within them
        flops["Gram (pool)"] = float(pool_rows) * pool**2
        ridge = min(K, defaults.SELECTION_RIDGE_COLUMNS)
        x = K / pool
        ranking = float(pool) ** 2 * K * (1.0 - x + x * x / 3.0)
        flops["selection"] = 9.0 * ridge**3 + ranking
        seconds["selection"] = 9.0 * ridge**3 / (BIDIAGONAL_EFFICIENCY * flop_rate) + (
            ranking / (RANKING_EFFICIENCY * flop_rate)
        )
        gram = 8 * (pool + 1) ** 2 + 8 * default_block_rows(pool) * (pool + 1)
        # ranked in place unless its sub-matrix is the summary reused after
        copies = 2 if assembly == "normal" and share == 1.0 else 1
        peak = max(peak, BASELINE_BYTES + max(lanes, copies) * gram)
        per_atom *= K / pool  # the chosen basis's rows: about in proportion to its size
    parallel = max(1, min(threads, plan_partitions(n_rows, K)))
    seconds["design rows"] = per_atom * n_atoms / parallel
    if assembly == "qr":
        partitions = plan_partitions(n_rows, K)
        fold = 2.0 * folded * K**2 / (QR_EFFICIENCY * single_rate * parallel)
        merge = (partitions - 1) * (2.0 / 3.0) * K**3 / (QR_EFFICIENCY * flop_rate)
        seconds["QR folds"] = fold + merge
        flops["QR folds"] = 2.0 * folded * K**2 + (partitions - 1) * (2.0 / 3.0) * K**3
        solve_flops = (8.0 / 3.0) * K**3
    elif pool is None:
        seconds["Gram"] = folded * K**2 / flop_rate  # lanes, and tiles within them
        flops["Gram"] = float(folded) * K**2
        solve_flops = 9.0 * K**3
    else:  # the chosen columns' Gram summary is a sub-matrix of the pool's
        solve_flops = 9.0 * K**3
    if solves < 1:
        raise ValueError(f"solves must be at least 1, got {solves}")
    flops["solve"] = solves * solve_flops
    seconds["solve"] = flops["solve"] / (BIDIAGONAL_EFFICIENCY * flop_rate)
    seconds["errors and active set"] = (
        POST_FIT_PASSES * per_atom * (n_atoms + test_atoms) / max(threads, 1)
    )
    if active_set_size > 0:
        fitted_share = 1.0 if pool is None else K / pool
        environments = Counter(el for c in train for el in c.atoms.get_chemical_symbols())
        block_sizes = {
            el: len(species_columns(basis, s)) * fitted_share for s, el in enumerate(basis.elements)
        }
        flops["active set"] = float(
            sum(n * block_sizes.get(el, 0.0) ** 2 for el, n in environments.items())
        )
        seconds["errors and active set"] += flops["active set"] / flop_rate
    triangle = 8 * (K + 1) ** 2
    block = 8 * default_block_rows(K) * (K + 1)
    peak = max(peak, BASELINE_BYTES + (parallel + 1) * (triangle + block))
    peak = max(peak, BASELINE_BYTES + 2 * triangle)  # the solve: R and its scaled copy
    return FitCost(
        n_coefficients=K,
        n_rows=n_rows,
        n_configs=len(train),
        n_atoms=n_atoms,
        peak_bytes=int(peak),
        seconds=seconds,
        flop_rate=flop_rate,
        flop_rate_given=flop_rate_given,
        threads=threads,
        available_bytes=available_memory(),
        flops=flops,
        pool_coefficients=pool,
    )
