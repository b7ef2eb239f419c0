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

* ``ridge`` — ``min ‖A c − y‖² + λ ‖Γ c‖²`` through the spectral decomposition of ``AΓ⁻¹``;
* ``blr`` — Bayesian linear regression, prior ``c ~ N(0, (α Γ²)⁻¹)``, noise ``β⁻¹``, with
  ``α, β`` maximising the evidence (MacKay's fixed point); posterior committee by sampling;
* ``tsvd`` — truncated SVD of ``A Γ⁻¹`` with the rank chosen on a validation set;
* ``lsqr`` — iterative: :func:`scipy.sparse.linalg.lsqr` on ``[RΓ⁻¹; √λ I]`` (QR summary) or
  conjugate gradients on the damped normal equations (Gram summary).

``Γ`` is the algebraic smoothness prior of ACEpotentials, ``Γ_kk = (1 + deg_k)^p`` with
``deg_k = Σ_t (n_t + w_L l_t)`` (``p = 0`` turns it off).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.linalg
import scipy.linalg.lapack
import scipy.sparse.linalg
from tqdm import tqdm

from ace_ref.basis import ACEBasis
from ace_ref.data import Config

__all__ = [
    "Weights",
    "LinearSystem",
    "assemble",
    "merge",
    "smoothness_prior",
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


def config_rows(basis: ACEBasis, config: Config, e0: dict[str, float], weights: Weights):
    """Weighted rows ``(A_block, y_block)`` of one configuration."""
    atoms = config.atoms
    n = len(atoms)
    rows = basis.design_rows(atoms, where=config.source)
    w = config.weight
    ctype = config.config_type
    blocks, targets = [], []
    if config.energy is not None and weights.energy > 0:
        ref = sum(e0[s] for s in atoms.get_chemical_symbols())
        we = weights.energy * w * weights.factor(ctype, "energy") / n
        blocks.append(we * rows.energy[None, :])
        targets.append([we * (config.energy - ref)])
    if config.forces is not None and weights.forces > 0:
        wf = (
            weights.forces
            * w
            * weights.factor(ctype, "forces")
            * (np.ones(n) if config.force_weights is None else config.force_weights)
        )
        blocks.append((wf[:, None, None] * rows.forces).reshape(3 * n, -1))
        targets.append((wf[:, None] * config.forces).reshape(-1))
    if config.stress is not None and weights.virial > 0:
        wv = weights.virial * w * weights.factor(ctype, "virial") / n
        iu = np.triu_indices(3)
        sym = 0.5 * (rows.virial + rows.virial.transpose(1, 0, 2))
        blocks.append(wv * sym[iu])
        targets.append(wv * (config.stress * atoms.get_volume())[iu])
    if not blocks:
        return np.zeros((0, len(basis))), np.zeros(0)
    return np.concatenate(blocks), np.concatenate([np.ravel(t) for t in targets])


def check_e0(configs: list[Config], e0: dict[str, float]) -> None:
    """Raise ``ValueError`` naming the first configuration with an element missing from ``e0``."""
    for c in configs:
        for s in set(c.atoms.get_chemical_symbols()):
            if s not in e0:
                raise ValueError(f"{c.source}: no reference energy E0 for element {s}")


class _Summary:
    """Running ``O(K²)`` summary of weighted rows ``(A, y)`` fed a block at a time.

    Rows are buffered until ``block_rows`` are pending, then folded: into ``AᵀA``, ``Aᵀy``
    (``"normal"``) or into the upper-triangular factor ``T = [[R, z], [0, ρ]]`` of ``[A | y]``
    (``"qr"``, ``z = Qᵀy``, ``Q`` never formed). A QR fold is LAPACK's triangular–pentagonal
    QR ``dtpqrt`` of ``[T; block]``: it updates ``T`` in place and never refactors its zeros,
    so memory is ``(K+1)²`` plus one block. :meth:`add_triangle` folds another summary's
    triangle (TSQR). The fold order is the order of the calls, so equal inputs give bitwise
    equal summaries.
    """

    def __init__(self, K: int, method: str, block_rows: int) -> None:
        if method not in ("normal", "qr"):
            raise ValueError(f"unknown assembly method {method!r} (normal or qr)")
        self.K, self.method, self.block_rows = K, method, block_rows
        self.T = np.zeros((K + 1, K + 1), order="F") if method == "qr" else None
        self.G = np.zeros((K, K)) if method == "normal" else None
        self.b = np.zeros(K) if method == "normal" else None
        self._empty = True  # T holds no rows yet
        self._A: list[np.ndarray] = []
        self._y: list[np.ndarray] = []
        self._pending = 0

    def add(self, A: np.ndarray, y: np.ndarray) -> None:
        self._A.append(A)
        self._y.append(y)
        self._pending += len(y)
        if self._pending >= self.block_rows:
            self._fold()

    def _tpqrt(self, B: np.ndarray, triangular: bool) -> None:
        if self._empty:  # first block: a plain QR, which knows T is still zero
            (R,) = scipy.linalg.qr(B, mode="r", overwrite_a=True, check_finite=False)
            k = min(R.shape[0], self.K + 1)
            self.T[:k] = R[:k]
        else:
            n = self.K + 1
            self.T, _, _, info = scipy.linalg.lapack.dtpqrt(
                n if triangular else 0, min(64, n), self.T, B, overwrite_a=1, overwrite_b=1
            )
            if info != 0:
                raise RuntimeError(f"LAPACK dtpqrt failed (info={info})")
        self._empty = False

    def _fold(self) -> None:
        if not self._pending:
            return
        if self.method == "normal":
            A = np.concatenate(self._A)
            y = np.concatenate(self._y)
            self.G += A.T @ A
            self.b += A.T @ y
        else:
            B = np.empty((self._pending, self.K + 1), order="F")
            row = 0
            for a, t in zip(self._A, self._y, strict=True):
                B[row : row + len(t), : self.K] = a
                B[row : row + len(t), self.K] = t
                row += len(t)
            self._A, self._y = [], []
            self._tpqrt(B, triangular=False)
        self._A, self._y, self._pending = [], [], 0

    def add_triangle(self, system: LinearSystem) -> None:
        """Fold the rows ``[R | z]`` of a ``"qr"`` summary (its ``ρ`` is in its ``yy``).

        Peak memory: this summary's ``(K+1)²`` plus one ``(K+1)²`` copy of the input.
        """
        self._fold()
        K = self.K
        B = self.T if self._empty else np.empty((K + 1, K + 1), order="F")
        B[:K, :K] = system.R
        B[:K, K] = system.z
        B[K, :] = 0.0
        for j in range(K):  # R is triangular; clear anything below its diagonal in place
            B[j + 1 :, j] = 0.0
        if self._empty:
            self._empty = False
        else:
            self._tpqrt(B, triangular=True)

    def finish(self, yy: float, n_rows: int, n_configs: int) -> LinearSystem:
        self._fold()
        if self.method == "normal":
            return LinearSystem("normal", yy, n_rows, n_configs, G=self.G, b=self.b)
        K, T = self.K, self.T
        for j in range(K):  # below the diagonal dtpqrt leaves reflectors: clear in place
            T[j + 1 :, j] = 0.0
        return LinearSystem("qr", yy, n_rows, n_configs, R=T[:K, :K], z=T[:K, K])


def assemble(
    basis: ACEBasis,
    configs: list[Config],
    e0: dict[str, float],
    weights: Weights | None = None,
    progress: bool = True,
    block_rows: int | None = None,
    method: str = "qr",
) -> LinearSystem:
    """Stream all rows into an ``O(K²)`` summary (see :class:`LinearSystem`).

    ``method="qr"`` (default) folds blocks of ``block_rows`` rows (default
    :func:`default_block_rows`) into a QR factor and keeps the conditioning of ``A``.
    ``method="normal"`` accumulates ``AᵀA`` (several times faster) but squares the condition
    number: on acetylacetone with BLR it measurably loses accuracy (BENCHMARKS.md), because
    the evidence-optimal regularisation lies below what a float64 Gram matrix resolves.

    The same function summarises one partition of the data on a Dask worker
    (:mod:`ace_ref.distributed`); :func:`merge` combines partition summaries.
    """
    if method not in ("normal", "qr"):
        raise ValueError(f"unknown assembly method {method!r} (normal or qr)")
    weights = weights or Weights()
    check_e0(configs, e0)
    K = len(basis)
    summary = _Summary(K, method, block_rows or default_block_rows(K))
    yy = 0.0
    n_rows = 0
    for c in tqdm(configs, desc="design matrix", unit="config", disable=not progress):
        A, y = config_rows(basis, c, e0, weights)
        summary.add(A, y)
        yy += float(y @ y)
        n_rows += len(y)
    return summary.finish(yy, n_rows, len(configs))


def default_block_rows(K: int) -> int:
    """Rows buffered before a fold: blocks of at most 2²⁵ numbers (256 MiB), 256 to 4096 rows."""
    return max(256, min(4096, 2**25 // (K + 1)))


def merge(systems: list[LinearSystem]) -> LinearSystem:
    """One summary of the union of the rows of ``systems`` (all of one method and size).

    ``"normal"``: sums of ``G``, ``b``. ``"qr"`` (TSQR): the triangular factor of the stacked
    ``[R_p | z_p]``, since ``Σ_p ‖R_p c − z_p‖² = ‖R c − z‖² + const`` (the constant is
    carried by ``‖y‖²``); two triangles are combined by ``dtpqrt`` in about ``(2/3)K³`` flops.
    Folded in list order, so the same list gives bitwise the same summary, whatever order its
    elements were computed in.
    """
    if not systems:
        raise ValueError("merge needs at least one system")
    methods = {s.method for s in systems}
    sizes = {s.n_columns for s in systems}
    if len(methods) != 1 or len(sizes) != 1:
        raise ValueError(f"cannot merge systems of methods {methods} and sizes {sizes}")
    K, method = sizes.pop(), methods.pop()
    summary = _Summary(K, method, default_block_rows(K))
    for s in systems:
        if method == "normal":
            summary.G += s.G
            summary.b += s.b
        else:
            summary.add_triangle(s)
    return summary.finish(
        float(sum(s.yy for s in systems)),
        sum(s.n_rows for s in systems),
        sum(s.n_configs for s in systems),
    )


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
    s, Vt, zt, residual_outside = _spectral(system, gamma)
    if solver == "ridge":
        d = Vt.T @ (s * zt / (s**2 + lam))
        return Solution(d / gamma, {"solver": "ridge", "lambda": lam})
    if solver == "tsvd":
        if validation is None:
            raise ValueError("tsvd needs a validation system to choose the truncation")
        best = None
        ranks = np.unique(np.linspace(1, int(np.sum(s > 0)), 60).astype(int))
        for r in ranks:
            d = Vt[:r].T @ (zt[:r] / s[:r])
            err = validation.squared_error(d / gamma)
            if best is None or err < best[0]:
                best = (err, r, d)
        _, r, d = best
        return Solution(d / gamma, {"solver": "tsvd", "rank": int(r), "n_singular": len(s)})
    # Bayesian linear regression with evidence maximisation (MacKay)
    N = system.n_rows
    lam_eig = s**2
    alpha, beta = 1.0, 1.0 / max(system.yy / max(N, 1), 1e-12)
    for _ in range(500):
        d_coef = s * zt / (lam_eig + alpha / beta)
        g = float(np.sum(beta * lam_eig / (beta * lam_eig + alpha)))
        fit_err = float(np.sum((s * d_coef - zt) ** 2)) + residual_outside
        new_alpha = g / max(float(d_coef @ d_coef), 1e-300)
        new_beta = max(N - g, 1e-12) / max(fit_err, 1e-300)
        converged = abs(np.log(new_alpha / alpha)) < 1e-10 and abs(np.log(new_beta / beta)) < 1e-10
        alpha, beta = new_alpha, new_beta
        if converged:
            break
    d_coef = s * zt / (lam_eig + alpha / beta)
    d = Vt.T @ d_coef
    info = {
        "solver": "blr",
        "alpha": alpha,
        "beta": beta,
        "effective_parameters": g,
        "lambda": alpha / beta,
    }
    committee = None
    if committee_size:
        rng = np.random.default_rng(seed)
        # posterior covariance in the SVD basis: diag(1 / (α + β s²))
        std = 1.0 / np.sqrt(alpha + beta * lam_eig)
        samples = d_coef[None, :] + rng.normal(size=(committee_size, len(s))) * std[None, :]
        committee = (samples @ Vt) / gamma[None, :]
    return Solution(d / gamma, info, committee)
