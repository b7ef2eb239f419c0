"""Weighted least-squares assembly and solvers for linear ACE models.

Rows of one configuration with ``N`` atoms (weights ``w_c`` per configuration, ``w_type`` per
``config_type``, ``w_E, w_F, w_V`` per observable, ``w_i`` per atom for forces):

* energy:  ``w_E w_c w_type / N · (X_E c − (E − Σ_i E0_{z_i}))`` (normalised per atom),
* forces:  ``w_F w_c w_type w_i · (X_F[i, a] c − F_ia)``,
* virial:  ``w_V w_c w_type / N · (X_V[a, b] c − V σ_ab)`` for ``a ≤ b`` (``V σ = ∂E/∂ε``).

Assembly streams: rows are folded, a block at a time, into an ``O(K²)`` summary, so memory
does not grow with the number of configurations — either the Gram matrix ``AᵀA`` and ``Aᵀy``
(``method="normal"``, fastest) or the triangular factor of a QR decomposition
(``method="qr"``, default, keeps the conditioning of ``A``). Every solver works from the summary:

* ``ridge`` — ``min ‖A c − y‖² + λ ‖Γ c‖²``;
* ``blr`` — Bayesian linear regression, prior ``c ~ N(0, (α Γ²)⁻¹)``, noise ``β⁻¹``, with
  ``α, β`` maximising the evidence (MacKay's fixed point); posterior committee by sampling.

  Both work from one factorization of the scaled problem ``A Γ⁻¹``: for QR summaries the
  two-stage bidiagonalization ``RΓ⁻¹ = Q₁ U P₁ᵀ``, ``U = Q₂ B P₂ᵀ`` (:mod:`ace_ref.band`:
  ``(8/3) K³`` flops once in blocked reflectors, then ``O(K)`` per λ on ``B`` and ``O(K b²)``
  for the coefficients on the band ``U``; no singular vectors), for Gram summaries the
  eigendecomposition of ``Γ⁻¹GΓ⁻¹``;
* ``tsvd`` — truncated SVD of ``A Γ⁻¹`` with the rank chosen on a validation set;
* ``lsqr`` — iterative: :func:`scipy.sparse.linalg.lsqr` on ``[RΓ⁻¹; √λ I]`` (QR summary) or
  conjugate gradients on the damped normal equations (Gram summary).

``Γ`` is the algebraic smoothness prior of ACEpotentials, ``Γ_kk = (1 + deg_k)^p`` with
``deg_k = Σ_t (n_t + w_L l_t)`` (``p = 0`` turns it off).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import numba
import numpy as np
import scipy.linalg
import scipy.sparse.linalg
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from ace_ref import lapack
from ace_ref.band import reduce_to_band
from ace_ref.basis import ACEBasis
from ace_ref.data import Config
from ace_ref.reduction import partition_bounds, plan_partitions, reduce_tree, row_counts

__all__ = [
    "Weights",
    "LinearSystem",
    "assemble",
    "merge",
    "smoothness_prior",
    "summarise",
    "write_config_rows",
    "solve",
    "SOLVERS",
]

SOLVERS = ("ridge", "blr", "tsvd", "lsqr")


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

    OBSERVABLES = ("energy", "forces", "virial")

    @classmethod
    def parse(cls, text: str) -> Weights:
        """From ``"energy=30,forces=1,virial=1,Liquid=2,Surface:energy=100"``.

        Unknown plain keys are config types (all their rows); ``TYPE:OBS=w`` weights one
        observable of one config type.
        """
        w = cls()
        for item in filter(None, (s.strip() for s in text.split(","))):
            if "=" not in item:
                raise ValueError(f"weight {item!r} is not of the form name=value")
            key, value = (part.strip() for part in item.split("=", 1))
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

    ``A`` and ``y`` must have exactly :func:`ace_ref.reduction.row_counts` rows (energy,
    forces ``3N`` in atom-major order, virial upper triangle). An :class:`ACEBasis` scatters
    the force rows straight into ``A`` (no per-structure copy); ``A`` may be a row slice of
    a Fortran-ordered block buffer.
    """
    atoms = config.atoms
    n = len(atoms)
    w = config.weight
    ctype = config.config_type
    use_e = config.energy is not None and weights.energy > 0
    use_f = config.forces is not None and weights.forces > 0
    use_v = config.stress is not None and weights.virial > 0
    if A.shape[0] != use_e + 3 * n * use_f + 6 * use_v:
        raise ValueError(f"{config.source}: row buffer of {A.shape[0]} rows does not fit")
    row = 1 if use_e else 0
    force_rows = A[row : row + 3 * n] if use_f else None
    if force_rows is not None and isinstance(basis, ACEBasis):
        rows = basis.design_rows(atoms, where=config.source, force_rows=force_rows)
    else:
        rows = basis.design_rows(atoms, where=config.source)
        if force_rows is not None:
            force_rows[:] = rows.forces.reshape(3 * n, -1)
    if use_e:
        ref = sum(e0[s] for s in atoms.get_chemical_symbols())
        we = weights.energy * w * weights.factor(ctype, "energy") / n
        np.multiply(rows.energy, we, out=A[0])
        y[0] = we * (config.energy - ref)
    if use_f:
        wf = (
            weights.forces
            * w
            * weights.factor(ctype, "forces")
            * (np.ones(n) if config.force_weights is None else config.force_weights)
        )
        w_rows = np.repeat(wf, 3)
        force_rows *= w_rows[:, None]
        y[row : row + 3 * n] = w_rows * config.forces.reshape(-1)
        row += 3 * n
    if use_v:
        wv = weights.virial * w * weights.factor(ctype, "virial") / n
        iu = np.triu_indices(3)
        sym = 0.5 * (rows.virial + rows.virial.transpose(1, 0, 2))
        A[row : row + 6] = wv * sym[iu]
        y[row : row + 6] = wv * (config.stress * atoms.get_volume())[iu]


def config_rows(basis: ACEBasis, config: Config, e0: dict[str, float], weights: Weights):
    """Weighted rows ``(A_block, y_block)`` of one configuration (see :func:`write_config_rows`)."""
    (n_rows,) = row_counts([config], weights)
    A = np.zeros((int(n_rows), len(basis)))
    y = np.zeros(int(n_rows))
    if n_rows:
        write_config_rows(basis, config, e0, weights, A, y)
    return A, y


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
    ``[T; block]``, which updates ``T`` in place (:mod:`ace_ref.lapack`, without the GIL), so
    memory is ``(K+1)²`` plus one block. The fold order is the order of the calls, so equal
    inputs give bitwise equal summaries.
    """

    def __init__(self, K: int, method: str, block_rows: int, max_config_rows: int = 0) -> None:
        if method not in ("normal", "qr"):
            raise ValueError(f"unknown assembly method {method!r} (normal or qr)")
        self.K, self.method, self.block_rows = K, method, block_rows
        self.T = np.zeros((K + 1, K + 1), order="F") if method == "qr" else None
        self.G = np.zeros((K, K)) if method == "normal" else None
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
            self.G += A.T @ A
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
            return LinearSystem("normal", yy, n_rows, n_configs, G=self.G, b=self.b)
        return system_of_triangle(self.T, yy, n_rows, n_configs)


def summarise(
    basis: ACEBasis,
    configs: list[Config],
    e0: dict[str, float],
    weights: Weights,
    method: str = "qr",
    block_rows: int | None = None,
    on_config: Callable[[], None] | None = None,
) -> LinearSystem:
    """The summary of ``configs``' rows, folded in their order (one partition's work).

    ``on_config`` is called after each configuration (progress bars)."""
    K = len(basis)
    rows = row_counts(configs, weights)
    summary = _Summary(
        K, method, block_rows or default_block_rows(K), int(rows.max()) if len(rows) else 0
    )
    yy = 0.0
    for c, n in zip(configs, rows.tolist(), strict=True):
        if n:
            A, y = summary.reserve(n)
            write_config_rows(basis, c, e0, weights, A, y)
            yy += float(y @ y)
            summary.commit(n)
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

    The configurations are split by :func:`ace_ref.reduction.plan_partitions`; each
    partition is folded by :func:`summarise` and the partition summaries are merged by
    :func:`merge` in the fixed tree of :func:`ace_ref.reduction.reduce_tree`, on ``threads``
    threads (default: Numba's thread count); the last merge, which nothing else can overlap,
    spreads its trailing updates over all ``threads`` (:func:`fold_triangle`). LAPACK runs
    single-threaded inside, and neither the plan nor the merge's blocks depend on
    ``threads``, so the summary is bitwise the same for any number of threads — and the same
    as :func:`ace_ref.distributed.distributed_assemble` on any cluster.
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
    threads = min(threads, len(parts))
    bar = tqdm(total=len(configs), desc="design matrix", unit="config", disable=not progress)

    def leaf(k: int) -> LinearSystem:
        a, b = parts[k]
        if threads > 1:  # this thread's Numba kernels run serially; the lanes are parallel
            numba.set_num_threads(1)
        return summarise(basis, configs[a:b], e0, weights, method, block_rows, bar.update)

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

    :func:`ace_ref.lapack.tpqrt_parallel` with its fixed panel and column blocks, about
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
    K, method = sizes.pop(), methods.pop()
    yy = float(sum(s.yy for s in systems))
    n_rows = sum(s.n_rows for s in systems)
    n_configs = sum(s.n_configs for s in systems)
    if method == "normal":
        G, b = np.zeros((K, K)), np.zeros(K)
        for s in systems:
            G += s.G
            b += s.b
        return LinearSystem("normal", yy, n_rows, n_configs, G=G, b=b)
    T = triangle_of(systems[0], reuse=consume)
    for s in systems[1:]:
        fold_triangle(T, triangle_of(s, reuse=consume), threads)
    return system_of_triangle(T, yy, n_rows, n_configs)


def _spectral(system: LinearSystem, gamma: np.ndarray):
    """``(s, Vt, zt, rest)`` of the scaled problem ``A Γ⁻¹ = U diag(s) Vᵀ``, ``zt = Uᵀy``.

    ``rest = ‖y‖² − ‖zt‖²`` is the part of ``y`` no coefficient can fit. QR: SVD of ``RΓ⁻¹``.
    Normal: ``eigh`` of ``Γ⁻¹GΓ⁻¹`` (``s² = eigenvalues``), with eigenvalues below
    ``K·ε·max`` treated as exact zeros (their directions are not determined by float64 Gram
    matrices), ``zt = Vᵀ Γ⁻¹ b / s`` elsewhere.
    """
    if system.method == "qr":
        U, s, Vt = scipy.linalg.svd(
            system.R / gamma[None, :], full_matrices=False, check_finite=False
        )
        zt = U.T @ system.z
    else:
        Gs = system.G / np.outer(gamma, gamma)
        w, V = scipy.linalg.eigh(Gs, check_finite=False)
        w, V = w[::-1], V[:, ::-1]
        floor = len(w) * np.finfo(float).eps * max(w[0], 0.0)
        keep = w > floor
        s = np.sqrt(np.where(keep, w, 0.0))
        zt = np.zeros_like(s)
        zt[keep] = (V[:, keep].T @ (system.b / gamma)) / s[keep]
        Vt = V.T
    rest = max(system.yy - float(zt @ zt), 0.0)
    return s, Vt, zt, rest


class _Regularised:
    """``min_d ‖A Γ⁻¹ d − y‖² + λ ‖d‖²`` for any ``λ > 0`` from one factorization.

    ``s2``: squared singular values of ``A Γ⁻¹``. :meth:`solve` returns ``(x, fit, x²)`` —
    the solution in the factorization's own orthonormal coordinates, ``‖A Γ⁻¹ d − y‖²`` and
    ``‖d‖²`` (all the evidence fixed point needs); :meth:`coefficients` returns ``d``;
    :meth:`posterior_samples` draws ``d`` from ``N(d̂, (β (Γ⁻¹AᵀAΓ⁻¹ + λ I))⁻¹)``.
    """

    s2: np.ndarray

    def solve(self, lam: float) -> tuple[np.ndarray, float, float]:  # pragma: no cover
        raise NotImplementedError

    def coefficients(self, lam: float) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def posterior_samples(self, lam, beta, n, rng) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError


class _SpectralRegularised(_Regularised):
    """From the SVD / eigendecomposition of :func:`_spectral` (Gram summaries)."""

    def __init__(self, system: LinearSystem, gamma: np.ndarray) -> None:
        self.s, self.Vt, self.zt, self.rest = _spectral(system, gamma)
        self.s2 = self.s**2

    def solve(self, lam):
        x = self.s * self.zt / (self.s2 + lam)
        return x, float(np.sum((self.s * x - self.zt) ** 2)) + self.rest, float(x @ x)

    def coefficients(self, lam):
        return self.Vt.T @ self.solve(lam)[0]

    def posterior_samples(self, lam, beta, n, rng):
        x = self.solve(lam)[0]
        std = 1.0 / np.sqrt(beta * (self.s2 + lam))
        return (x[None, :] + rng.normal(size=(n, len(x))) * std[None, :]) @ self.Vt


class _BandRegularised(_Regularised):
    """From the two-stage bidiagonalization of ``R Γ⁻¹`` (QR summaries; :mod:`ace_ref.band`):
    the evidence iterations on the bidiagonal ``B``, the coefficients and posterior draws
    from the band form."""

    def __init__(self, system: LinearSystem, gamma: np.ndarray) -> None:
        scaled = np.divide(system.R, gamma[None, :], order="F")  # a fresh array: reduce in place
        self.b = reduce_to_band(scaled, system.z, overwrite=True)
        self.s2 = self.b.singular_values() ** 2
        self.rest = max(system.yy - float(system.z @ system.z), 0.0)

    def solve(self, lam):
        x, _, _ = self.b.solve(lam)
        return x, self.b.residual2(x) + self.rest, float(x @ x)

    def coefficients(self, lam):
        return self.b.coefficients(lam)

    def posterior_samples(self, lam, beta, n, rng):
        return self.b.posterior_samples(lam, beta, n, rng)


def _regularised(system: LinearSystem, gamma: np.ndarray) -> _Regularised:
    if system.method == "qr":
        return _BandRegularised(system, gamma)
    return _SpectralRegularised(system, gamma)


def smoothness_prior(basis: ACEBasis, p: float = 2.0) -> np.ndarray:
    """Diagonal ``Γ_kk = (1 + deg_k)^p``, ``deg_k = Σ_t (n_t + w_L l_t)``, in column order.

    A basis with a ``column_degrees()`` method (e.g. :class:`ace_ref.multilayer.TwoLayerBasis`)
    supplies its own degrees in column order."""
    if hasattr(basis, "column_degrees"):
        return (1.0 + np.asarray(basis.column_degrees(), dtype=float)) ** p
    degs = np.array(
        [float(sum(n + basis.w_L * l for _, n, l in lab["nl"])) for lab in basis.tables(0).labels]
    )
    gamma = (1.0 + degs) ** p
    return np.tile(gamma, len(basis.elements))


@dataclass
class Solution:
    """Coefficients and what the solver learned (``info``: λ, α, β, rank, …)."""

    coefficients: np.ndarray
    info: dict
    committee: np.ndarray | None = None


def solve(
    system: LinearSystem,
    solver: str = "blr",
    gamma: np.ndarray | None = None,
    lam: float = 1e-3,
    validation: LinearSystem | None = None,
    committee_size: int = 0,
    seed: int = 0,
) -> Solution:
    """Solve the streamed system with one of :data:`SOLVERS` (see module docstring)."""
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; choose from {SOLVERS}")
    K = system.n_columns
    gamma = np.ones(K) if gamma is None else np.asarray(gamma, dtype=float)
    if solver == "lsqr":
        if system.method == "qr":
            res = scipy.sparse.linalg.lsqr(
                system.R / gamma[None, :],
                system.z,
                damp=np.sqrt(lam),
                atol=1e-12,
                btol=1e-12,
                iter_lim=20 * K,
            )
            d, iterations = res[0], int(res[2])
        else:  # CG on the damped normal equations (CGLS, mathematically LSQR's iterates)
            op = system.G / np.outer(gamma, gamma) + lam * np.eye(K)
            d, info = scipy.sparse.linalg.cg(op, system.b / gamma, rtol=1e-12, maxiter=20 * K)
            iterations = int(info)
        return Solution(d / gamma, {"solver": "lsqr", "lambda": lam, "iterations": iterations})
    if solver == "tsvd":
        if validation is None:
            raise ValueError("tsvd needs a validation system to choose the truncation")
        s, Vt, zt, _ = _spectral(system, gamma)
        best = None
        ranks = np.unique(np.linspace(1, int(np.sum(s > 0)), 60).astype(int))
        for r in ranks:
            d = Vt[:r].T @ (zt[:r] / s[:r])
            err = validation.squared_error(d / gamma)
            if best is None or err < best[0]:
                best = (err, r, d)
        _, r, d = best
        return Solution(d / gamma, {"solver": "tsvd", "rank": int(r), "n_singular": len(s)})
    if solver == "ridge" and not lam > 0:
        raise ValueError(f"ridge needs a positive λ (lam), got {lam}; tsvd fits without one")
    problem = _regularised(system, gamma)
    if solver == "ridge":
        return Solution(problem.coefficients(lam) / gamma, {"solver": "ridge", "lambda": lam})
    # Bayesian linear regression with evidence maximisation (MacKay's fixed point)
    N = system.n_rows
    s2 = problem.s2
    alpha, beta = 1.0, 1.0 / max(system.yy / max(N, 1), 1e-12)
    iterations = 0
    for iterations in range(1, 501):  # noqa: B007 - reported below
        _, fit_err, norm2 = problem.solve(alpha / beta)
        g = float(np.sum(beta * s2 / (beta * s2 + alpha)))
        new_alpha = g / max(norm2, 1e-300)
        new_beta = max(N - g, 1e-12) / max(fit_err, 1e-300)
        converged = abs(np.log(new_alpha / alpha)) < 1e-10 and abs(np.log(new_beta / beta)) < 1e-10
        alpha, beta = new_alpha, new_beta
        if converged:
            break
    d = problem.coefficients(alpha / beta)
    info = {
        "solver": "blr",
        "alpha": alpha,
        "beta": beta,
        "effective_parameters": float(np.sum(beta * s2 / (beta * s2 + alpha))),
        "lambda": alpha / beta,
        "iterations": iterations,
    }
    committee = None
    if committee_size:
        rng = np.random.default_rng(seed)
        committee = problem.posterior_samples(alpha / beta, beta, committee_size, rng)
        committee = committee / gamma[None, :]
    return Solution(d / gamma, info, committee)
