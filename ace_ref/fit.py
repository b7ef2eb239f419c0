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
import scipy.sparse.linalg
from tqdm import tqdm

from ace_ref.basis import ACEBasis
from ace_ref.data import Config

__all__ = ["Weights", "LinearSystem", "assemble", "smoothness_prior", "solve", "SOLVERS"]

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

    ``method="qr"`` (default) folds blocks of ``block_rows`` rows (default ``max(4K, 2048)``)
    into a QR factor and keeps the conditioning of ``A``. ``method="normal"`` accumulates
    ``AᵀA`` (several times faster) but squares the condition number: on acetylacetone with
    BLR it measurably loses accuracy (BENCHMARKS.md), because the evidence-optimal
    regularisation lies below what a float64 Gram matrix resolves.
    """
    if method not in ("normal", "qr"):
        raise ValueError(f"unknown assembly method {method!r} (normal or qr)")
    weights = weights or Weights()
    for c in configs:
        for s in set(c.atoms.get_chemical_symbols()):
            if s not in e0:
                raise ValueError(f"{c.source}: no reference energy E0 for element {s}")
    K = len(basis)
    block_rows = block_rows or max(4 * K, 2048)
    R = np.zeros((0, K))
    z = np.zeros(0)
    G = np.zeros((K, K)) if method == "normal" else None
    rhs = np.zeros(K) if method == "normal" else None
    yy = 0.0
    n_rows = 0
    pending_A: list[np.ndarray] = []
    pending_y: list[np.ndarray] = []
    pending = 0

    def fold():
        nonlocal R, z, pending, pending_A, pending_y
        if method == "normal":
            A = np.concatenate(pending_A)
            y = np.concatenate(pending_y)
            G[...] += A.T @ A
            rhs[...] += A.T @ y
        else:
            # factor [A | y] without forming Q: R_aug = [[R, z], [0, ρ]] with z = Qᵀy
            blocks = [np.column_stack([R, z])] + [
                np.column_stack([a, t]) for a, t in zip(pending_A, pending_y, strict=True)
            ]
            (R_aug,) = scipy.linalg.qr(
                np.concatenate(blocks), mode="r", overwrite_a=True, check_finite=False
            )
            k = min(K, R_aug.shape[0])
            R, z = R_aug[:k, :K], R_aug[:k, K]
        pending_A, pending_y, pending = [], [], 0

    for c in tqdm(configs, desc="design matrix", unit="config", disable=not progress):
        A, y = config_rows(basis, c, e0, weights)
        pending_A.append(A)
        pending_y.append(y)
        pending += len(y)
        yy += float(y @ y)
        n_rows += len(y)
        if pending >= block_rows:
            fold()
    if pending:
        fold()
    if method == "normal":
        return LinearSystem("normal", yy, n_rows, len(configs), G=G, b=rhs)
    if R.shape[0] < K:  # fewer rows than unknowns: pad to a square factor
        R = np.vstack([R, np.zeros((K - R.shape[0], K))])
        z = np.concatenate([z, np.zeros(K - len(z))])
    return LinearSystem("qr", yy, n_rows, len(configs), R=R, z=z)


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
