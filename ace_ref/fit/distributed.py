"""Design-matrix assembly on a Dask cluster (optional extra ``ace-ref[distributed]``).

The configurations are split into the contiguous partitions of the fixed reduction plan of
:mod:`ace_ref.fit.reduction` (the same as the serial and threaded
:func:`ace_ref.fit.assembly.assemble`).
Each partition becomes one task that runs :func:`ace_ref.fit.assembly.summarise` on its
configurations and returns that partition's ``O(K²)`` summary — the triangular factor of
``[A | y]`` (``method="qr"``) or ``AᵀA, Aᵀy`` (``method="normal"``), plus ``‖y‖²`` and the
row and configuration counts. The rows themselves (``rows × K``) never leave the worker that
computed them. Partition summaries are combined pairwise by :func:`ace_ref.fit.assembly.merge` in
the
reduction tree of fixed shape of :func:`ace_ref.fit.reduction.merge_tree`, also on the workers,
with single-threaded LAPACK everywhere, so the result depends only on the data and the
number of partitions, never on which worker finished first — and with the default
partitions it is bitwise the serial :func:`ace_ref.fit.assembly.assemble` summary.

What crosses the network:

* the basis, with its index and coupling tables, once per worker (scattered with
  ``broadcast=True``; a replacement worker fetches it from a peer, nothing is rebuilt);
* each partition's configurations as flat arrays (:class:`PackedConfigs`, ``O(atoms)``);
* one summary per partition and per merge — for QR only the upper triangle of ``R``
  (:class:`PackedTriangle`, ``K(K+1)/2`` numbers).

A worker that dies mid-fit loses its running and stored tasks; the Dask scheduler runs them
again elsewhere (up to ``distributed.scheduler.allowed-failures`` times), and because every
task is a pure function of its inputs the summary is unchanged.

Dask is imported only when a cluster is used: ``import ace_ref.fit.distributed`` works without
it, and :func:`require_distributed` names the extra to install.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from ace_ref.basis.ace import ACEBasis
from ace_ref.fit.assembly import (
    LinearSystem,
    Weights,
    assemble,
    check_e0,
    fold_triangle,
    merge,
    summarise,
    system_of_triangle,
)
from ace_ref.fit.data import Config
from ace_ref.fit.reduction import merge_tree, partition_bounds, plan_partitions, row_counts

__all__ = [
    "ClusterError",
    "check_cluster_options",
    "MissingDependency",
    "PackedConfigs",
    "PackedTriangle",
    "cluster_client",
    "distributed_assemble",
    "require_distributed",
]

PARTITION_KEY = "ace-ref-partition"
"""Prefix of the Dask keys of partition tasks (``{PARTITION_KEY}-{run}-{index}``)."""


class MissingDependency(ImportError):
    """Dask (``distributed``) is not installed."""


class ClusterError(RuntimeError):
    """The Dask cluster cannot run the assembly (no workers, ace_ref missing or different)."""


def require_distributed():
    """The ``distributed`` module, or :class:`MissingDependency` naming the extra to install."""
    try:
        import distributed
    except ImportError as exc:
        raise MissingDependency(
            "distributed assembly needs Dask (dask.distributed), an optional dependency: "
            "pip install 'ace-ref[distributed]'"
        ) from exc
    return distributed


@dataclass(frozen=True)
class PackedConfigs:
    """Configurations as flat arrays, to ship to a worker without pickling ``Atoms``.

    Per-atom arrays are concatenated over configurations; configuration ``k`` owns atoms
    ``offsets[k]:offsets[k+1]``. ``has_*`` flags mark which optional labels are present.
    """

    offsets: np.ndarray
    numbers: np.ndarray
    positions: np.ndarray
    cells: np.ndarray
    pbc: np.ndarray
    energy: np.ndarray
    has_energy: np.ndarray
    forces: np.ndarray
    has_forces: np.ndarray
    stress: np.ndarray
    has_stress: np.ndarray
    weight: np.ndarray
    force_weights: np.ndarray
    has_force_weights: np.ndarray
    config_type: tuple[str, ...]
    source: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @classmethod
    def pack(cls, configs: list[Config]) -> PackedConfigs:
        """Flatten ``configs`` (the ``info`` dicts are not needed for rows and are dropped)."""
        n = np.array([len(c.atoms) for c in configs], dtype=np.int64)
        offsets = np.zeros(len(configs) + 1, dtype=np.int64)
        np.cumsum(n, out=offsets[1:])
        n_atoms = int(offsets[-1])

        def per_atom(get, width):
            out = np.zeros((n_atoms, width) if width else n_atoms)
            for k, c in enumerate(configs):
                value = get(c)
                if value is not None:
                    out[offsets[k] : offsets[k + 1]] = value
            return out

        return cls(
            offsets=offsets,
            numbers=np.concatenate([c.atoms.numbers for c in configs]).astype(np.int64)
            if configs
            else np.zeros(0, dtype=np.int64),
            positions=per_atom(lambda c: c.atoms.positions, 3),
            cells=np.array([c.atoms.cell.array for c in configs]).reshape(-1, 3, 3),
            pbc=np.array([c.atoms.pbc for c in configs], dtype=bool).reshape(-1, 3),
            energy=np.array([np.nan if c.energy is None else c.energy for c in configs]),
            has_energy=np.array([c.energy is not None for c in configs], dtype=bool),
            forces=per_atom(lambda c: c.forces, 3),
            has_forces=np.array([c.forces is not None for c in configs], dtype=bool),
            stress=np.array(
                [np.zeros((3, 3)) if c.stress is None else c.stress for c in configs]
            ).reshape(-1, 3, 3),
            has_stress=np.array([c.stress is not None for c in configs], dtype=bool),
            weight=np.array([c.weight for c in configs], dtype=float),
            force_weights=per_atom(lambda c: c.force_weights, 0),
            has_force_weights=np.array([c.force_weights is not None for c in configs], dtype=bool),
            config_type=tuple(c.config_type for c in configs),
            source=tuple(c.source for c in configs),
        )

    def unpack(self) -> list[Config]:
        """The configurations again (``Atoms`` with numbers, positions, cell and pbc)."""
        out = []
        for k in range(len(self)):
            a, b = self.offsets[k], self.offsets[k + 1]
            atoms = Atoms(self.numbers[a:b], positions=self.positions[a:b])
            atoms.cell, atoms.pbc = self.cells[k], self.pbc[k]
            out.append(
                Config(
                    atoms=atoms,
                    energy=float(self.energy[k]) if self.has_energy[k] else None,
                    forces=self.forces[a:b].copy() if self.has_forces[k] else None,
                    stress=self.stress[k].copy() if self.has_stress[k] else None,
                    config_type=self.config_type[k],
                    weight=float(self.weight[k]),
                    force_weights=self.force_weights[a:b].copy()
                    if self.has_force_weights[k]
                    else None,
                    source=self.source[k],
                )
            )
        return out


@dataclass(frozen=True)
class PackedTriangle:
    """A ``"qr"`` summary as it travels between workers: only the upper triangle of ``R``,
    column by column (LAPACK's packed storage, ``K(K+1)/2`` numbers), and ``z`` — half the
    bytes of the square ``R`` on the network and in worker memory."""

    K: int
    upper: np.ndarray
    z: np.ndarray
    yy: float
    n_rows: int
    n_configs: int

    @classmethod
    def pack(cls, system: LinearSystem) -> PackedTriangle:
        K = system.n_columns
        upper = np.empty(K * (K + 1) // 2)
        R = system.R
        for j in range(K):
            upper[j * (j + 1) // 2 : (j + 1) * (j + 2) // 2] = R[: j + 1, j]
        return cls(K, upper, system.z.copy(), system.yy, system.n_rows, system.n_configs)

    def triangle(self) -> np.ndarray:
        """``[[R, z], [0, 0]]`` as a ``(K+1)²`` Fortran array, as
        :func:`ace_ref.fit.assembly.triangle_of` builds it."""
        K = self.K
        T = np.zeros((K + 1, K + 1), order="F")
        for j in range(K):
            T[: j + 1, j] = self.upper[j * (j + 1) // 2 : (j + 1) * (j + 2) // 2]
        T[:K, K] = self.z
        return T

    def unpack(self) -> LinearSystem:
        return system_of_triangle(self.triangle(), self.yy, self.n_rows, self.n_configs)


def _partition_summary(
    basis: ACEBasis,
    packed: PackedConfigs,
    e0: dict[str, float],
    weights: Weights,
    method: str,
    block_rows: int | None,
) -> LinearSystem | PackedTriangle:
    """Worker task: the summary of one partition, folded as :func:`ace_ref.fit.assembly.assemble`
    folds it (single-threaded LAPACK); a QR summary is returned packed."""
    with threadpool_limits(limits=1):
        system = summarise(basis, packed.unpack(), e0, weights, method, block_rows)
    return PackedTriangle.pack(system) if method == "qr" else system


def _merge_pair(left, right):
    """Worker task: one node of the merge tree — the same floating-point operations as
    :func:`ace_ref.fit.assembly.merge` of the two (single-threaded LAPACK, as in assembly).

    Peak memory for QR: the two packed inputs and two ``(K+1)²`` arrays."""
    if not isinstance(left, PackedTriangle):
        with threadpool_limits(limits=1):
            return merge([left, right])
    T = left.triangle()
    with threadpool_limits(limits=1):
        fold_triangle(T, right.triangle())
    yy = float(sum((left.yy, right.yy)))
    merged = system_of_triangle(T, yy, left.n_rows + right.n_rows, left.n_configs + right.n_configs)
    return PackedTriangle.pack(merged)


def _unpacked(item) -> LinearSystem:
    return item.unpack() if isinstance(item, PackedTriangle) else item


def _worker_version() -> str:
    import ace_ref

    return ace_ref.__version__


def _check_workers(client) -> None:
    import ace_ref

    try:
        versions = client.run(_worker_version)
    except Exception as exc:  # noqa: BLE001 - whatever the worker raised, report it
        raise ClusterError(
            f"Dask workers cannot run ace_ref ({type(exc).__name__}: {exc}); install the same "
            "ace_ref on every worker"
        ) from exc
    wrong = {w: v for w, v in versions.items() if v != ace_ref.__version__}
    if wrong:
        raise ClusterError(
            f"Dask workers run other ace_ref versions than this client "
            f"({ace_ref.__version__}): {wrong}"
        )


def distributed_assemble(
    basis: ACEBasis,
    configs: list[Config],
    e0: dict[str, float],
    weights: Weights | None = None,
    client=None,
    *,
    partitions: int | None = None,
    progress: bool = True,
    block_rows: int | None = None,
    method: str = "qr",
    worker_timeout: float = 60.0,
) -> LinearSystem:
    """:func:`ace_ref.fit.assembly.assemble` by partitions, on the workers of a Dask ``client``.

    Parameters
    ----------
    basis, configs, e0, weights, block_rows, method
        As for :func:`ace_ref.fit.assembly.assemble`; ``block_rows`` applies inside each partition.
    client
        A ``distributed.Client`` (see :func:`cluster_client`). ``None`` runs the same
        partition tasks and merge tree in this process, without Dask.
    partitions
        Number of partitions (tasks); default :func:`ace_ref.fit.reduction.plan_partitions`
        (which does not depend on the number of workers).
    progress
        A progress bar over finished partitions.
    worker_timeout
        Seconds to wait for at least one worker to join before giving up.

    Returns
    -------
    LinearSystem
        A deterministic function of the data and the number of partitions: bitwise the same
        whichever workers ran which task, in whatever order, and with or without a client.
        It equals the serial :func:`ace_ref.fit.assembly.assemble` summary up to round-off (the rows
        are folded in another order).
    """
    if method not in ("normal", "qr"):
        raise ValueError(f"unknown assembly method {method!r} (normal or qr)")
    weights = weights or Weights()
    check_e0(configs, e0)
    for c in configs:  # fail here, not in a worker, on data the basis cannot describe
        for s in set(c.atoms.get_chemical_symbols()):
            if s not in basis.elements:
                raise ValueError(f"{c.source}: element {s} is not in the basis {basis.elements}")
    if partitions is not None and (
        isinstance(partitions, bool) or int(partitions) != partitions or partitions < 1
    ):
        raise ValueError(f"partitions must be a positive integer, got {partitions!r}")
    if not configs:
        return assemble(basis, configs, e0, weights, progress=False, method=method)
    rows = row_counts(configs, weights)
    if client is None:
        parts = partition_bounds(rows, partitions or plan_partitions(int(rows.sum()), len(basis)))
        summaries = [
            _partition_summary(
                basis, PackedConfigs.pack(configs[a:b]), e0, weights, method, block_rows
            )
            for a, b in tqdm(parts, desc="design matrix", unit="partition", disable=not progress)
        ]
        return _unpacked(merge_tree(summaries, lambda left, right, *_: _merge_pair(left, right)))
    return _on_cluster(
        client, basis, configs, rows, e0, weights, partitions, progress, block_rows, method,
        worker_timeout,
    )  # fmt: skip


def _on_cluster(
    client, basis, configs, rows, e0, weights, partitions, progress, block_rows, method, timeout
) -> LinearSystem:
    """The Dask half of :func:`distributed_assemble`."""
    require_distributed()
    from distributed import as_completed

    try:
        client.wait_for_workers(1, timeout=timeout)
    except TimeoutError as exc:
        raise ClusterError(f"no Dask worker joined within {timeout} s") from exc
    _check_workers(client)
    if partitions is None:
        partitions = plan_partitions(int(rows.sum()), len(basis))
    bounds = partition_bounds(rows, partitions)
    run = uuid.uuid4().hex[:12]
    held: list = []  # every future of this run, cancelled at the end (or on error)
    try:
        basis_future = client.scatter(basis, broadcast=True, hash=False)
        held.append(basis_future)
        futures = [
            client.submit(
                _partition_summary,
                basis_future,
                PackedConfigs.pack(configs[a:b]),
                e0,
                weights,
                method,
                block_rows,
                key=f"{PARTITION_KEY}-{run}-{i}",
                pure=False,
            )
            for i, (a, b) in enumerate(bounds)
        ]
        held.extend(futures)

        def combine(left, right, depth, index):
            future = client.submit(
                _merge_pair, left, right, key=f"ace-ref-merge-{run}-{depth}-{index}", pure=False
            )
            held.append(future)
            return future

        root = merge_tree(futures, combine)
        done = tqdm(
            as_completed(futures),
            total=len(futures),
            desc=f"design matrix ({len(futures)} partitions)",
            unit="partition",
            disable=not progress,
        )
        for future in done:
            if future.status == "error":
                future.result()  # raises the worker's exception here
        return _unpacked(root.result())
    finally:
        client.cancel(held)


def check_cluster_options(workers: int | None, scheduler: str | None) -> None:
    """``ValueError`` for ``--workers`` and ``--scheduler`` together, a worker count below 1
    or a scheduler address without a protocol."""
    if workers is not None and scheduler is not None:
        raise ValueError("give --workers or --scheduler, not both")
    if workers is not None and (
        isinstance(workers, bool) or int(workers) != workers or workers < 1
    ):
        raise ValueError(f"--workers must be a positive integer, got {workers!r}")
    if scheduler is not None and "://" not in scheduler:
        raise ValueError(f"scheduler address {scheduler!r} is not of the form tcp://HOST:PORT")


@contextmanager
def cluster_client(
    workers: int | None = None, scheduler: str | None = None, threads_per_worker: int = 1
) -> Iterator:
    """A Dask client for the CLI's ``--workers`` / ``--scheduler``, or ``None`` (serial).

    ``workers=N`` starts a ``LocalCluster`` of ``N`` worker processes on the loopback interface
    (closed on exit); ``scheduler="tcp://host:port"`` connects to a running cluster (left
    running). Workers inherit ``PYTHONPATH`` and the environment of this process.
    """
    check_cluster_options(workers, scheduler)
    if workers is None and scheduler is None:
        yield None
        return
    distributed = require_distributed()
    if scheduler is not None:
        try:
            client = distributed.Client(scheduler, timeout="10s")
        except OSError as exc:
            raise ValueError(f"cannot connect to the Dask scheduler {scheduler}: {exc}") from exc
        try:
            yield client
        finally:
            client.close()
        return
    with (
        distributed.LocalCluster(
            n_workers=int(workers),
            threads_per_worker=threads_per_worker,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client
