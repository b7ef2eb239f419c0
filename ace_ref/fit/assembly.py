"""Weighted least-squares assembly: design rows streamed into an ``O(K²)`` summary.

Rows of one configuration with ``N`` atoms (weights ``w_c`` per configuration, ``w_type`` per
``config_type``, ``w_E, w_F, w_V`` per observable, ``w_i`` per atom for forces):

* energy:  ``w_E w_c w_type / N · (X_E c − (E − Σ_i E0_{z_i}))`` (normalised per atom;
  ``energy_per="sqrt_atoms"``: ``/ √N`` instead, as ACEpotentials.jl weights energies),
* forces:  ``w_F w_c w_type w_i · (X_F[i, a] c − F_ia)``,
* virial:  ``w_V w_c w_type / N · (X_V[a, b] c − V σ_ab)`` for ``a ≤ b`` (``V σ = ∂E/∂ε``).

Assembly streams: rows are folded, a block at a time, into an ``O(K²)`` summary, so memory
does not grow with the number of configurations — either the Gram matrix ``AᵀA`` and ``Aᵀy``
(``method="normal"``, fastest) or the triangular factor of a QR decomposition
(``method="qr"``, default, keeps the conditioning of ``A``); the solvers of
:mod:`ace_ref.fit.solvers` work from the summary alone. The partitions and the order in which
their summaries merge are fixed by :mod:`ace_ref.fit.reduction`, so the result is bitwise
the same on one thread, many threads or a Dask cluster. Each configuration's force rows are
first folded onto the directions an invariant model can fit (:func:`drop_rigid_motion_rows`:
``3N − 6`` rows for a finite configuration, ``3N − 3`` for a periodic one), with the summary
still that of all the rows.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numba
import numpy as np
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from ace_ref.basis.ace import ACEBasis
from ace_ref.fit import _lapack as lapack
from ace_ref.fit.data import Config
from ace_ref.fit.reduction import partition_bounds, plan_partitions, reduce_tree, row_counts
from ace_ref.fit.rigid_motions import project_out_rigid_motions, rigid_motion_directions

__all__ = [
    "Weights",
    "LinearSystem",
    "ConfigRowWeights",
    "config_row_weights",
    "write_config_rows",
    "config_rows",
    "drop_rigid_motion_rows",
    "drops_rigid_motion_rows",
    "check_e0",
    "summarise",
    "assemble",
    "default_block_rows",
    "triangle_of",
    "system_of_triangle",
    "fold_triangle",
    "merge",
]


@dataclass
class Weights:
    """Observable weights and per-``config_type`` multipliers.

    ``config_types[TYPE]`` multiplies every row of configurations of that type;
    ``observable_types[(TYPE, OBS)]`` (``OBS`` in ``energy``, ``forces``, ``virial``) multiplies
    only that observable's rows, so FitSNAP-style group weights (e.g. energies of one group
    ×100, its forces ×1) can be expressed.
    """

    energy: float = 30.0
    forces: float = 1.0
    virial: float = 1.0
    config_types: dict[str, float] = field(default_factory=dict)
    observable_types: dict[tuple[str, str], float] = field(default_factory=dict)
    energy_per: str = "atom"
    """The energy row's normalisation: ``"atom"`` divides its weight by the number of atoms
    ``N`` (the residual of the energy per atom), ``"sqrt_atoms"`` by ``√N``. With ``3N`` force
    rows per energy row, ``/ N`` gives a large molecule's energies ever less of the loss
    (0.1 % for 27 atoms at ``energy=30``); ``/ √N`` is ACEpotentials.jl's choice."""

    OBSERVABLES = ("energy", "forces", "virial")
    ENERGY_PER = ("atom", "sqrt_atoms")

    def __post_init__(self) -> None:
        self._check_energy_per(self.energy_per)

    @classmethod
    def _check_energy_per(cls, value: str) -> None:
        if value not in cls.ENERGY_PER:
            raise ValueError(f"energy_per={value!r}: expected one of {', '.join(cls.ENERGY_PER)}")

    @classmethod
    def parse(cls, text: str) -> Weights:
        """From ``"energy=30,forces=1,virial=1,Liquid=2,Surface:energy=100"``.

        Unknown plain keys are config types (all their rows); ``TYPE:OBS=w`` weights one
        observable of one config type; ``energy_per=atom`` or ``energy_per=sqrt_atoms`` sets
        :attr:`energy_per`.
        """
        w = cls()
        for item in filter(None, (s.strip() for s in text.split(","))):
            if "=" not in item:
                raise ValueError(f"weight {item!r} is not of the form name=value")
            key, value = (part.strip() for part in item.split("=", 1))
            if key == "energy_per":
                cls._check_energy_per(value)
                w.energy_per = value
                continue
            try:
                v = float(value)
            except ValueError as exc:
                raise ValueError(f"weight {key}={value!r} is not a number") from exc
            if not (np.isfinite(v) and v >= 0):
                raise ValueError(f"weight {key}={v} must be non-negative")
            if ":" in key:
                ctype, obs = (part.strip() for part in key.rsplit(":", 1))
                if obs not in cls.OBSERVABLES or not ctype:
                    raise ValueError(
                        f"weight {key!r}: expected CONFIG_TYPE:OBSERVABLE with OBSERVABLE one "
                        f"of {', '.join(cls.OBSERVABLES)}"
                    )
                w.observable_types[(ctype, obs)] = v
            elif key in cls.OBSERVABLES:
                setattr(w, key, v)
            else:
                w.config_types[key] = v
        return w

    def factor(self, config_type: str, observable: str) -> float:
        """Multiplier of ``observable`` rows of a configuration of ``config_type``."""
        return self.config_types.get(config_type, 1.0) * self.observable_types.get(
            (config_type, observable), 1.0
        )


@dataclass
class LinearSystem:
    """Streamed least-squares problem ``min ‖A c − y‖²`` in one of two exact summaries.

    ``method="qr"``: ``R`` (K × K) and ``z = Qᵀy`` with ``A = QR``.
    ``method="normal"``: the Gram matrix ``G = AᵀA`` and ``b = Aᵀy``.
    Both keep ``‖y‖²`` and the row count; memory is ``O(K²)`` either way.
    """

    method: str
    yy: float
    n_rows: int
    n_configs: int
    R: np.ndarray | None = None
    z: np.ndarray | None = None
    G: np.ndarray | None = None
    b: np.ndarray | None = None

    @property
    def n_columns(self) -> int:
        return (self.R if self.method == "qr" else self.G).shape[1]

    def squared_error(self, c: np.ndarray) -> float:
        """``‖A c − y‖²`` from the summary alone."""
        if self.method == "qr":
            return float(np.sum((self.R @ c - self.z) ** 2) + max(self.yy - self.z @ self.z, 0))
        return float(c @ (self.G @ c) - 2 * c @ self.b + self.yy)


def write_config_rows(
    basis: ACEBasis,
    config: Config,
    e0: dict[str, float],
    weights: Weights,
    A: np.ndarray,
    y: np.ndarray,
) -> None:
    """Write the weighted rows of one configuration into ``A`` (rows × K) and ``y`` in place.

    ``A`` and ``y`` must have exactly :func:`ace_ref.fit.reduction.row_counts` rows (energy,
    forces ``3N`` in atom-major order, virial upper triangle). An :class:`ACEBasis` scatters
    the force rows straight into ``A`` (no per-structure copy); ``A`` may be a row slice of
    a Fortran-ordered block buffer.
    """
    atoms = config.atoms
    n = len(atoms)
    rw = config_row_weights(config, weights)
    use_e, use_f, use_v = rw.energy is not None, rw.forces is not None, rw.virial is not None
    if A.shape[0] != use_e + 3 * n * use_f + 6 * use_v:
        raise ValueError(f"{config.source}: row buffer of {A.shape[0]} rows does not fit")
    row = 1 if use_e else 0
    force_rows = A[row : row + 3 * n] if use_f else None
    if force_rows is not None and isinstance(basis, ACEBasis):
        rows = basis.design_rows(atoms, where=config.source, force_rows=force_rows, virial=use_v)
    else:
        rows = basis.design_rows(atoms, where=config.source)
        if force_rows is not None:
            force_rows[:] = rows.forces.reshape(3 * n, -1)
    if use_e:
        ref = sum(e0[s] for s in atoms.get_chemical_symbols())
        np.multiply(rows.energy, rw.energy, out=A[0])
        y[0] = rw.energy * (config.energy - ref)
    if use_f:
        w_rows = np.repeat(rw.forces, 3)
        force_rows *= w_rows[:, None]
        y[row : row + 3 * n] = w_rows * config.forces.reshape(-1)
        row += 3 * n
    if use_v:
        iu = np.triu_indices(3)
        sym = 0.5 * (rows.virial + rows.virial.transpose(1, 0, 2))
        A[row : row + 6] = rw.virial * sym[iu]
        y[row : row + 6] = rw.virial * (config.stress * atoms.get_volume())[iu]


@dataclass(frozen=True)
class ConfigRowWeights:
    """The weights of one configuration's rows; ``None`` where it has no such rows.

    ``energy``: of its energy row, ``w_E · w_config · w_type / N`` (per atom; ``/ √N`` with
    ``Weights.energy_per = "sqrt_atoms"``);
    ``forces``: per atom, ``w_F · w_config · w_type · w_atom`` (each atom's 3 rows);
    ``virial``: of its 6 virial rows, ``w_V · w_config · w_type / N``. A weight may be zero
    (the row is written but carries nothing).
    """

    energy: float | None
    forces: np.ndarray | None
    virial: float | None

    def n_positive(self) -> int:
        """Rows with a positive weight."""
        return (
            int(self.energy is not None and self.energy > 0)
            + (0 if self.forces is None else 3 * int(np.count_nonzero(self.forces > 0)))
            + (0 if self.virial is None or self.virial <= 0 else 6)
        )


def config_row_weights(config: Config, weights: Weights) -> ConfigRowWeights:
    """Row weights of ``config`` under ``weights`` (one place for the product of the global,
    per-file, per-config-type and per-atom weights; :func:`write_config_rows` applies them)."""
    n = len(config.atoms)
    w = config.weight
    ctype = config.config_type
    energy = forces = virial = None
    if config.energy is not None and weights.energy > 0:
        per = n if weights.energy_per == "atom" else np.sqrt(n)
        energy = float(weights.energy * w * weights.factor(ctype, "energy") / per)
    if config.forces is not None and weights.forces > 0:
        per_atom = np.ones(n) if config.force_weights is None else config.force_weights
        forces = weights.forces * w * weights.factor(ctype, "forces") * per_atom
    if config.stress is not None and weights.virial > 0:
        virial = weights.virial * w * weights.factor(ctype, "virial") / n
    return ConfigRowWeights(energy, forces, virial)


def config_rows(basis: ACEBasis, config: Config, e0: dict[str, float], weights: Weights):
    """Weighted rows ``(A_block, y_block)`` of one configuration (see :func:`write_config_rows`)."""
    (n_rows,) = row_counts([config], weights)
    A = np.zeros((int(n_rows), len(basis)))
    y = np.zeros(int(n_rows))
    if n_rows:
        write_config_rows(basis, config, e0, weights, A, y)
    return A, y


def drops_rigid_motion_rows(row_weights: ConfigRowWeights) -> bool:
    """Whether :func:`drop_rigid_motion_rows` folds a configuration with these row weights:
    it has force rows and every atom's force weight is positive."""
    return row_weights.forces is not None and bool(np.all(row_weights.forces > 0))


def drop_rigid_motion_rows(config: Config, weights: Weights, A: np.ndarray, y: np.ndarray) -> int:
    """Fold the force rows of one configuration's rows ``(A, y)`` (as written by
    :func:`write_config_rows`) onto the directions an invariant model can fit, in place:
    ``3N − r`` rows instead of ``3N`` (:mod:`ace_ref.fit.rigid_motions`; ``r`` = 6 for a
    finite configuration, 3 for a periodic one). Returns how many leading rows of ``A`` and
    ``y`` now carry the data; the summary they are folded into is that of all the rows (with
    ``‖y‖²`` taken before). Configurations without force rows, or with an atom of force
    weight 0, are left as they are."""
    rw = config_row_weights(config, weights)
    n_rows = A.shape[0]
    if not drops_rigid_motion_rows(rw):
        return n_rows
    start = 1 if rw.energy is not None else 0
    m = 3 * len(config.atoms)
    directions = rigid_motion_directions(config.atoms, np.repeat(rw.forces, 3))
    kept = project_out_rigid_motions(A[start : start + m], y[start : start + m], directions)
    if kept < m and start + m < n_rows:  # the virial rows move up
        A[start + kept : n_rows - (m - kept)] = A[start + m :]
        y[start + kept : n_rows - (m - kept)] = y[start + m :]
    return n_rows - (m - kept)


def check_e0(configs: list[Config], e0: dict[str, float]) -> None:
    """Raise ``ValueError`` naming the first configuration with an element missing from ``e0``."""
    for c in configs:
        for s in set(c.atoms.get_chemical_symbols()):
            if s not in e0:
                raise ValueError(f"{c.source}: no reference energy E0 for element {s}")


class _Summary:
    """Running ``O(K²)`` summary of weighted rows ``(A, y)``, fed a configuration at a time.

    Rows are written into a preallocated Fortran-ordered block buffer (``block_rows`` plus
    room for one configuration) and folded once ``block_rows`` are pending: into ``AᵀA``,
    ``Aᵀy`` (``"normal"``) or into the upper-triangular factor ``T = [[R, z], [0, ρ]]`` of
    ``[A | y]`` (``"qr"``, ``z = Qᵀy``, ``Q`` never formed). The first QR fold is LAPACK's
    ``dgeqrt`` of the block, every later one the triangular–pentagonal QR ``dtpqrt`` of
    ``[T; block]``, which updates ``T`` in place (:mod:`ace_ref.fit._lapack`, without the GIL), so
    memory is ``(K+1)²`` plus one block. The fold order is the order of the calls, so equal
    inputs give bitwise equal summaries.
    """

    def __init__(
        self,
        K: int,
        method: str,
        block_rows: int,
        max_config_rows: int = 0,
        inner_threads: int = 1,
    ) -> None:
        if method not in ("normal", "qr"):
            raise ValueError(f"unknown assembly method {method!r} (normal or qr)")
        self.K, self.method, self.block_rows = K, method, block_rows
        self.inner_threads = max(1, int(inner_threads))
        self.T = np.zeros((K + 1, K + 1), order="F") if method == "qr" else None
        self.G = np.zeros((K, K), order="F") if method == "normal" else None
        self.b = np.zeros(K) if method == "normal" else None
        self._empty = True  # T holds no rows yet
        self._buffer = np.empty((0, K + 1), order="F")
        self._capacity = block_rows + max_config_rows
        self._pending = 0

    def reserve(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Views ``(A, y)`` of the next ``n`` rows of the block buffer; :meth:`commit` after
        writing them."""
        if self._pending + n > self._buffer.shape[0]:
            size = max(self._capacity, self._pending + n)
            grown = np.empty((size, self.K + 1), order="F")
            grown[: self._pending] = self._buffer[: self._pending]
            self._buffer = grown
        rows = self._buffer[self._pending : self._pending + n]
        return rows[:, : self.K], rows[:, self.K]

    def commit(self, n: int) -> None:
        self._pending += n
        if self._pending >= self.block_rows:
            self._fold()

    def add(self, A: np.ndarray, y: np.ndarray) -> None:
        """Append rows ``A`` with targets ``y``."""
        a_view, y_view = self.reserve(len(y))
        a_view[:] = A
        y_view[:] = y
        self.commit(len(y))

    def _fold(self) -> None:
        p = self._pending
        if not p:
            return
        block = self._buffer[:p]
        if self.method == "normal":
            A, y = block[:, : self.K], block[:, self.K]
            _add_gram(self.G, A, self.inner_threads)
            self.b += A.T @ y
        elif self._empty:  # first block: a plain QR, which knows T is still zero
            lapack.geqrt(block)
            k = min(p, self.K + 1)
            self.T[:k] = np.triu(block[:k])
            self._empty = False
        else:
            lapack.tpqrt(self.T, block)
        self._pending = 0

    def finish(self, yy: float, n_rows: int, n_configs: int) -> LinearSystem:
        self._fold()
        self._buffer = np.empty((0, self.K + 1), order="F")
        if self.method == "normal":
            _mirror_upper(self.G)
            return LinearSystem("normal", yy, n_rows, n_configs, G=self.G, b=self.b)
        return system_of_triangle(self.T, yy, n_rows, n_configs)


GRAM_TILE = 2048
"""Column tile of the Gram update (:func:`_add_gram`); fixed, so the sums do not depend on the
number of threads."""


def _add_gram(G: np.ndarray, A: np.ndarray, threads: int = 1) -> None:
    """``G += AᵀA`` on the upper triangle, in place, tile by tile.

    ``G`` (``K × K``) is cut into ``GRAM_TILE`` column blocks; every upper tile ``(i, j)`` is one
    single-threaded BLAS product of two column blocks of ``A`` (``dsyrk`` on the diagonal),
    accumulated into ``G`` by BLAS itself (:func:`ace_ref.fit._lapack.add_gram_tile`: no
    temporary tile, and ``G`` is read and written once per fold; 1.4× faster than
    ``G[t] += a.T @ b`` for ``K`` = 8192 and 1046-row blocks).
    The tiles are the same for any ``threads``, which only decides how many run at once, so
    the sums are bitwise the same; ``n K²`` flops for ``n`` rows, and no ``K × K`` temporary.
    The lower triangle is left to :func:`_mirror_upper`.
    """
    K = G.shape[0]
    edges = list(range(0, K, GRAM_TILE)) + [K]
    tiles = [(i, j) for i in range(len(edges) - 1) for j in range(i, len(edges) - 1)]

    def add(tile: tuple[int, int]) -> None:
        i, j = tile
        lapack.add_gram_tile(G, A, slice(edges[i], edges[i + 1]), slice(edges[j], edges[j + 1]))

    if threads > 1 and len(tiles) > 1:
        with ThreadPoolExecutor(min(threads, len(tiles))) as pool:
            list(pool.map(add, tiles))
    else:
        for tile in tiles:
            add(tile)


def _mirror_upper(G: np.ndarray, block: int = 1024) -> None:
    """Copy the upper triangle of the square ``G`` into its lower one, in place (a block of
    columns at a time, so no ``K × K`` temporary)."""
    K = G.shape[0]
    for j0 in range(0, K, block):
        j1 = min(j0 + block, K)
        G[j1:, j0:j1] = G[j0:j1, j1:].T
        diagonal = G[j0:j1, j0:j1]
        diagonal[np.tril_indices(j1 - j0, -1)] = diagonal.T[np.tril_indices(j1 - j0, -1)]


def summarise(
    basis: ACEBasis,
    configs: list[Config],
    e0: dict[str, float],
    weights: Weights,
    method: str = "qr",
    block_rows: int | None = None,
    on_config: Callable[[], None] | None = None,
    inner_threads: int = 1,
) -> LinearSystem:
    """The summary of ``configs``' rows, folded in their order (one partition's work).

    ``on_config`` is called after each configuration (progress bars). ``inner_threads``: how
    many tiles of a Gram update run at once (the result does not depend on it)."""
    K = len(basis)
    rows = row_counts(configs, weights)
    summary = _Summary(
        K,
        method,
        block_rows or default_block_rows(K),
        int(rows.max()) if len(rows) else 0,
        inner_threads,
    )
    yy = 0.0
    for c, n in zip(configs, rows.tolist(), strict=True):
        if n:
            A, y = summary.reserve(n)
            write_config_rows(basis, c, e0, weights, A, y)
            yy += float(y @ y)  # of all the rows: the summary is theirs
            summary.commit(drop_rigid_motion_rows(c, weights, A, y))
        if on_config is not None:
            on_config()
    return summary.finish(yy, int(rows.sum()), len(configs))


def assemble(
    basis: ACEBasis,
    configs: list[Config],
    e0: dict[str, float],
    weights: Weights | None = None,
    progress: bool = True,
    block_rows: int | None = None,
    method: str = "qr",
    threads: int | None = None,
) -> LinearSystem:
    """Stream all rows into an ``O(K²)`` summary (see :class:`LinearSystem`).

    ``method="qr"`` (default) folds blocks of ``block_rows`` rows (default
    :func:`default_block_rows`) into a QR factor and keeps the conditioning of ``A``.
    ``method="normal"`` accumulates ``AᵀA`` (several times faster) but squares the condition
    number: on acetylacetone with BLR it measurably loses accuracy (BENCHMARKS.md), because
    the evidence-optimal regularisation lies below what a float64 Gram matrix resolves.

    The configurations are split by :func:`ace_ref.fit.reduction.plan_partitions`; each
    partition is folded by :func:`summarise` and the partition summaries are merged by
    :func:`merge` in the fixed tree of :func:`ace_ref.fit.reduction.reduce_tree`, on ``threads``
    threads (default: Numba's thread count); the last merge, which nothing else can overlap,
    spreads its trailing updates over all ``threads`` (:func:`fold_triangle`). LAPACK runs
    single-threaded inside, and neither the plan nor the merge's blocks depend on
    ``threads``, so the summary is bitwise the same for any number of threads — and the same
    as :func:`ace_ref.fit.distributed.distributed_assemble` on any cluster.
    """
    if method not in ("normal", "qr"):
        raise ValueError(f"unknown assembly method {method!r} (normal or qr)")
    weights = weights or Weights()
    check_e0(configs, e0)
    threads = numba.get_num_threads() if threads is None else int(threads)
    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    K = len(basis)
    if not configs:
        return summarise(basis, configs, e0, weights, method, block_rows)
    rows = row_counts(configs, weights)
    parts = partition_bounds(rows, plan_partitions(int(rows.sum()), K))
    inner = max(1, threads // len(parts)) if method == "normal" else 1  # spare threads: tiles
    threads = min(threads, len(parts))
    bar = tqdm(total=len(configs), desc="design matrix", unit="config", disable=not progress)

    def leaf(k: int) -> LinearSystem:
        a, b = parts[k]
        if threads > 1:  # this thread's Numba kernels run serially; the lanes are parallel
            numba.set_num_threads(1)
        return summarise(basis, configs[a:b], e0, weights, method, block_rows, bar.update, inner)

    merges = itertools.count()
    last_merge = len(parts) - 2  # the root: it starts when nothing else runs

    def combine(x: LinearSystem, y: LinearSystem) -> LinearSystem:
        alone = next(merges) == last_merge
        return merge([x, y], consume=True, threads=threads if alone else 1)

    with bar, threadpool_limits(limits=1):
        return reduce_tree(len(parts), leaf, combine, threads)


def default_block_rows(K: int) -> int:
    """Rows buffered before a fold: blocks of at most 2²⁵ numbers (256 MiB), 256 to 4096 rows."""
    return max(256, min(4096, 2**25 // (K + 1)))


def triangle_of(system: LinearSystem, reuse: bool = False) -> np.ndarray:
    """``[[R, z], [0, 0]]`` of a ``"qr"`` summary as a ``(K+1) × (K+1)`` Fortran array.

    With ``reuse`` the storage of ``system`` is taken over when ``R`` and ``z`` are views of
    one such array (as :func:`assemble` and :func:`merge` return them); ``system`` is then
    invalid. Otherwise a copy. Either way the entries are the same.
    """
    K = system.n_columns
    base = system.R.base if reuse else None
    if (
        isinstance(base, np.ndarray)
        and base.shape == (K + 1, K + 1)
        and base.flags.f_contiguous
        and base.flags.writeable
        and system.R.ctypes.data == base.ctypes.data
        and system.R.strides == base.strides
        and system.z.ctypes.data == base.ctypes.data + K * base.strides[1]
        and system.z.strides == (base.strides[0],)
    ):
        T = base
        T[K, :] = 0.0
    else:
        T = np.zeros((K + 1, K + 1), order="F")
        T[:K, :K] = system.R
        T[:K, K] = system.z
    for j in range(K):  # R is triangular; clear anything below its diagonal in place
        T[j + 1 :, j] = 0.0
    return T


def system_of_triangle(T: np.ndarray, yy: float, n_rows: int, n_configs: int) -> LinearSystem:
    """The ``"qr"`` summary whose ``R``, ``z`` are views of the factor ``T`` (``(K+1)²``)."""
    K = T.shape[0] - 1
    for j in range(K):  # below the diagonal LAPACK leaves reflectors: clear in place
        T[j + 1 :, j] = 0.0
    return LinearSystem("qr", yy, n_rows, n_configs, R=T[:K, :K], z=T[:K, K])


def fold_triangle(T: np.ndarray, other: np.ndarray, threads: int = 1) -> None:
    """``T ← R`` of the stacked ``[T; other]`` for two ``(K+1) × (K+1)`` upper triangles.

    :func:`ace_ref.fit._lapack.tpqrt_parallel` with its fixed panel and column blocks, about
    ``(2/3)(K+1)³`` flops; the trailing updates run on ``threads`` threads and the result is
    bitwise the same for any ``threads``. ``other`` is overwritten (reflectors).
    """
    lapack.tpqrt_parallel(T, other, l=T.shape[0], threads=threads)


def merge(systems: list[LinearSystem], consume: bool = False, threads: int = 1) -> LinearSystem:
    """One summary of the union of the rows of ``systems`` (all of one method and size).

    ``"normal"``: sums of ``G``, ``b``. ``"qr"`` (TSQR): the triangular factor of the stacked
    ``[R_p | z_p]``, since ``Σ_p ‖R_p c − z_p‖² = ‖R c − z‖² + const`` (the constant is
    carried by ``‖y‖²``); each further triangle is folded in by :func:`fold_triangle` in
    about ``(2/3)K³`` flops, on ``threads`` threads. Folded in list order, so the same list
    gives bitwise the same summary, whatever order its elements were computed in and
    whatever ``threads``.

    ``consume=True`` lets a QR merge work in the inputs' own storage (two ``(K+1)²`` arrays
    instead of four); the inputs are invalid afterwards. The result is the same bit for bit.
    """
    if not systems:
        raise ValueError("merge needs at least one system")
    methods = {s.method for s in systems}
    sizes = {s.n_columns for s in systems}
    if len(methods) != 1 or len(sizes) != 1:
        raise ValueError(f"cannot merge systems of methods {methods} and sizes {sizes}")
    method = methods.pop()
    yy = float(sum(s.yy for s in systems))
    n_rows = sum(s.n_rows for s in systems)
    n_configs = sum(s.n_configs for s in systems)
    if method == "normal":
        # summed in list order; with consume the first summary's storage holds the sum
        G = systems[0].G if consume else np.array(systems[0].G, order="F")
        b = np.array(systems[0].b, copy=True)
        for s in systems[1:]:
            G += s.G
            b += s.b
        return LinearSystem("normal", yy, n_rows, n_configs, G=G, b=b)
    T = triangle_of(systems[0], reuse=consume)
    for s in systems[1:]:
        fold_triangle(T, triangle_of(s, reuse=consume), threads)
    return system_of_triangle(T, yy, n_rows, n_configs)
