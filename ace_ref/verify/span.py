"""Numerical and algebraic proofs that one basis lies in the span of another.

:func:`span_inclusion` compares any two feature maps on random environments (rank of
``[B_full | B_sparse]`` against rank of ``B_full``, with rotated copies as a negative control);
:func:`coefficient_inclusion` compares two bases on the same atomic base through their exact
coupling coefficients. Used to prove that the NequIP-style sparsifications of
:mod:`ace_ref.coupling.chain` are subsets of the full ACE span and to say what they lose.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.linalg
from ase import Atoms

from ace_ref.basis.interface import require_same_functions_per_species, species_columns
from ace_ref.coupling.rotations import random_o3, wigner_d_real
from ace_ref.coupling.symmetric import (
    RANK_RTOL,
)

__all__ = [
    "random_environments",
    "SpeciesInclusion",
    "InclusionReport",
    "span_inclusion",
    "coefficient_inclusion",
]


# ---------------------------------------------------------------------------- environments
def random_environments(
    elements,
    radius: float,
    n_clusters: int,
    atoms_per_cluster: int,
    seed: int = 0,
    spacing: float | None = None,
    min_distance: float = 0.5,
) -> Atoms:
    """Random finite clusters, far apart, in one non-periodic :class:`ase.Atoms`.

    Each cluster has ``atoms_per_cluster`` atoms drawn uniformly in a ball of ``radius`` (Å),
    species uniformly from ``elements``, no two closer than ``min_distance``; clusters sit
    ``spacing`` apart along x (default ``2·radius + 1``), so a basis whose features reach no
    farther than ``spacing − 2·radius`` sees each cluster alone. With ``radius`` at most
    half the smallest cutoff every atom is a complete random environment of the others.
    """
    rng = np.random.default_rng(seed)
    elements = list(elements)
    spacing = 2 * radius + 1.0 if spacing is None else float(spacing)
    symbols, positions = [], []
    for c in range(n_clusters):
        while True:
            direction = rng.normal(size=(atoms_per_cluster, 3))
            direction /= np.linalg.norm(direction, axis=1)[:, None]
            r = radius * rng.uniform(size=atoms_per_cluster) ** (1 / 3)
            pos = direction * r[:, None]
            d = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
            if d[np.triu_indices(atoms_per_cluster, 1)].min() > min_distance:
                break
        positions.append(pos + np.array([c * spacing, 0.0, 0.0]))
        symbols += [elements[k] for k in rng.integers(len(elements), size=atoms_per_cluster)]
    return Atoms(symbols, positions=np.concatenate(positions))


# ---------------------------------------------------------------------------- span inclusion
@dataclass
class SpeciesInclusion:
    """Rank test for the functions of one central species (see :func:`span_inclusion`).

    ``sigma_*`` are singular values of the column-normalised feature matrices
    (``n_rows`` = environments × (2L+1) components); ``tol_*`` the round-off bounds used to
    count them. ``excess = σ_{r_full+1}([B_full | B_sparse]) / tol_joint`` (≤ 1 ⇔ included,
    0 if nothing is left over) and ``margin`` = the smallest singular value counted in
    ``rank_joint`` over ``tol_joint`` (≫ 1: the rank decision is robust).
    """

    element: str
    n_rows: int
    n_full: int
    n_sparse: int
    rank_full: int
    rank_sparse: int
    rank_joint: int
    tol_full: float
    tol_sparse: float
    tol_joint: float
    noise_joint: float
    excess: float
    margin: float
    sigma_joint: np.ndarray = field(repr=False)
    unreachable: list = field(default_factory=list, repr=False)

    @property
    def included(self) -> bool:
        return self.rank_joint == self.rank_full

    @property
    def equal_span(self) -> bool:
        return self.included and self.rank_joint == self.rank_sparse


@dataclass
class InclusionReport:
    """Result of :func:`span_inclusion` (per central species and combined).

    ``unreachable`` lists the blocks of the full basis (one sorted nl-tuple each, with its
    correlation order) of which ``n_unreachable`` of ``n_functions`` independent directions
    lie outside the sparse span, for the first central species (the block structure is the
    same for all species; per-species lists are in ``species[k].unreachable``).
    """

    L: int
    species: list[SpeciesInclusion]
    n_environments: int
    seconds: float

    @property
    def included(self) -> bool:
        return all(s.included for s in self.species)

    @property
    def equal_span(self) -> bool:
        return all(s.equal_span for s in self.species)

    @property
    def unreachable(self) -> list[dict]:
        return self.species[0].unreachable if self.species else []

    @property
    def n_unreachable(self) -> int:
        """Dimensions of the full span (first species) that the sparse basis misses."""
        s = self.species[0]
        return s.rank_joint - s.rank_sparse

    def unreachable_by_l(self) -> dict[tuple, tuple[int, int]]:
        """``{(order, l-tuple): (unreachable, total)}`` summed over the blocks."""
        out: dict = {}
        for b in self.unreachable:
            key = (b["order"], tuple(sorted(x[2] for x in b["nl"])))
            u, t = out.get(key, (0, 0))
            out[key] = (u + b["n_unreachable"], t + b["n_functions"])
        return out

    def summary(self) -> str:
        lines = [
            f"span inclusion (L = {self.L}, {self.n_environments} environments, "
            f"{self.seconds:.1f} s): {'INCLUDED' if self.included else 'NOT included'}"
            + (" (equal spans)" if self.equal_span else ""),
            f"{'species':>7} {'rows':>6} {'n_full':>6} {'n_sparse':>8} {'rk full':>7} "
            f"{'rk sparse':>9} {'rk joint':>8} {'tol':>9} {'excess':>9} {'margin':>9}",
        ]
        for s in self.species:
            lines.append(
                f"{s.element:>7} {s.n_rows:>6} {s.n_full:>6} {s.n_sparse:>8} {s.rank_full:>7} "
                f"{s.rank_sparse:>9} {s.rank_joint:>8} {s.tol_joint:>9.2e} {s.excess:>9.2e} "
                f"{s.margin:>9.2e}"
            )
        lost = {k: v for k, v in self.unreachable_by_l().items() if v[0]}
        if lost:
            lines.append("full-basis directions the sparse basis cannot reach (order, l-tuple):")
            for (order, ls), (u, t) in sorted(lost.items()):
                lines.append(f"  ν={order} l={ls}: {u} of {t}")
        return "\n".join(lines)


def _feature_matrix(basis, atoms, L, species_index, species_of_atoms):
    """Rows: atoms of the species (× components for L > 0); columns: its functions."""
    rows = species_of_atoms == species_index
    if L == 0:
        X = basis.features(atoms)[:, species_columns(basis, species_index)]
        return X[rows]
    X = basis.features(atoms, L=L)[rows]  # (n, K, 2L+1)
    return X.transpose(0, 2, 1).reshape(-1, X.shape[1])


def _rotated_features(basis, atoms, Q, L, species_index, species_of_atoms):
    moved = atoms.copy()
    moved.positions = atoms.positions @ Q.T
    if L == 0:
        return _feature_matrix(basis, moved, L, species_index, species_of_atoms)
    rows = species_of_atoms == species_index
    X = basis.features(moved, L=L)[rows]  # should equal F(x) D^T
    X = X @ wigner_d_real(L, Q)  # back to the frame of x: F(x) D^T D = F(x)
    return X.transpose(0, 2, 1).reshape(-1, X.shape[1])


def _tolerance(X: np.ndarray, noise: np.ndarray, sigma: np.ndarray) -> float:
    """Bound on ‖E‖₂ for the round-off E of the normalised feature matrix (see
    :func:`span_inclusion`): the measured ‖ΔX‖_F plus LAPACK's own backward error."""
    eps = np.finfo(float).eps
    svd_error = max(X.shape) * eps * (sigma[0] if len(sigma) else 0.0)
    return float(np.linalg.norm(noise) + svd_error)


def _rank(sigma: np.ndarray, tol: float) -> int:
    return int(np.sum(sigma > tol))


def span_inclusion(
    sparse,
    full,
    *,
    L: int = 0,
    oversample: float = 2.0,
    atoms_per_cluster: int = 8,
    seed: int = 0,
    blocks: bool = True,
) -> InclusionReport:
    """Numerical proof that ``span(sparse) ⊆ span(full)``, and what the sparse basis misses.

    Parameters
    ----------
    sparse, full
        Objects with ``elements`` and ``features(atoms, L)`` in the packed layout of
        :class:`ace_ref.ACEBasis` (any two feature maps: the sparse one need not share the
        full one's radial basis, cutoff or even its construction).
    L
        Output irrep (0: invariants; ``L > 0``: each component is a row, the coefficients are
        shared by the components, so the same rank test applies).
    oversample
        Environments per central species ≥ ``oversample × (n_full + n_sparse)`` rows.
    atoms_per_cluster
        Random clusters of this many atoms (in a ball of half the smallest cutoff: every atom
        sees all others) — at least ν + 1 atoms so that the products are independent.
    blocks
        Also report, per block (sorted nl-tuple) of ``full``, how many of its directions lie
        outside the sparse span (needs ``full.tables(L).labels``).

    Method and tolerance
    --------------------
    Per central species, ``X_f`` and ``X_s`` hold the features on the environments, each
    column scaled to unit norm (rank is invariant under column scaling; this removes the
    arbitrary scales of the functions). In exact arithmetic inclusion is
    ``rank [X_f | X_s] = rank X_f``, i.e. ``σ_{r+1}([X_f | X_s]) = 0`` with ``r = rank X_f``.
    The computed matrix is ``X̃ = X + E``; by Weyl's inequality every singular value moves by
    at most ``‖E‖₂ ≤ ‖E‖_F``, so a computed singular value above ``‖E‖_F`` is certainly
    non-zero and an exact zero stays below it. ``‖E‖_F`` is *measured*, not guessed: the same
    environments are evaluated again after a random improper rotation ``Q``; exact
    invariants (equivariants, after undoing ``D^L(Q)``) agree, so the difference ``ΔX`` is
    pure round-off — of the evaluation and of the coupling coefficients, since a coefficient
    error that is not itself invariant shows up as non-invariance; an error that *is*
    invariant is another exact invariant of the same atomic base and cannot create a false
    rank. With independent errors ``‖ΔX‖_F ≈ √2 ‖E‖_F``, so the tolerance

    ``tol = ‖ΔX‖_F + max(m, n) · ε · σ_max``

    (the second term: the backward error of LAPACK's SVD) bounds the perturbation with room
    to spare, and needs no magic number. The report gives ``excess`` (the first singular
    value that must vanish for inclusion, over ``tol``) and ``margin`` (the smallest counted
    singular value over ``tol``): a clear verdict has ``excess ≤ 1`` or ``≫ 1`` and
    ``margin ≫ 1``. The condition of ``X_f`` enters only through ``margin``: if the full basis
    were numerically dependent on the environments (``rank_full < n_full``), more or larger
    clusters are needed.

    Unreachable blocks: with ``U_s`` an orthonormal basis of the computed sparse span, the
    residual ``(I − U_s U_sᵀ) X_b`` of the columns of each full block ``b`` has as many
    singular values above ``tol_b = ‖ΔX_b‖_F + sinθ ‖X_b‖₂`` as the block has directions
    outside the sparse span; ``sinθ ≤ ‖ΔX_s‖_F / (σ_{r_s}(X_s) − ‖ΔX_s‖_F)`` bounds the
    round-off tilt of the computed span (Wedin's theorem) — here the condition of the sparse
    basis enters.
    """
    import time

    t0 = time.perf_counter()
    for b in (sparse, full):
        require_same_functions_per_species(b, "span_inclusion")
    if list(sparse.elements) != list(full.elements):
        raise ValueError(
            f"the two bases have different elements: {sparse.elements} vs {full.elements}"
        )
    elements = list(full.elements)
    cut_min = min(float(np.min(b.r_cut)) for b in (sparse, full))
    reach = max(float(getattr(b, "receptive_field", np.max(b.r_cut))) for b in (sparse, full))
    radius = 0.49 * cut_min
    width = 2 * L + 1
    n_cols = [len(b) // len(elements) for b in (full, sparse)]
    needed = oversample * sum(n_cols) / width  # atoms per species
    n_clusters = int(np.ceil(1.15 * needed * len(elements) / atoms_per_cluster)) + 2
    rng = np.random.default_rng(seed)
    atoms = random_environments(
        elements,
        radius,
        n_clusters,
        atoms_per_cluster,
        seed=seed,
        spacing=2 * radius + reach + 1.0,
        min_distance=min(0.5, 0.2 * radius),
    )
    index = {el: k for k, el in enumerate(elements)}
    species = np.array([index[s] for s in atoms.get_chemical_symbols()])
    Q = random_o3(rng, improper=True)
    results = []
    for s, el in enumerate(elements):
        Xf = _feature_matrix(full, atoms, L, s, species)
        Xs = _feature_matrix(sparse, atoms, L, s, species)
        Df = _rotated_features(full, atoms, Q, L, s, species) - Xf
        Ds = _rotated_features(sparse, atoms, Q, L, s, species) - Xs
        nf = np.linalg.norm(Xf, axis=0)
        ns = np.linalg.norm(Xs, axis=0)
        nf[nf == 0] = 1.0
        ns[ns == 0] = 1.0
        Xf, Df, Xs, Ds = Xf / nf, Df / nf, Xs / ns, Ds / ns
        X = np.hstack([Xf, Xs])
        D = np.hstack([Df, Ds])
        sig_f = scipy.linalg.svdvals(Xf) if Xf.size else np.zeros(0)
        U_s, sig_s, _ = (
            scipy.linalg.svd(Xs, full_matrices=False)
            if Xs.size
            else (np.zeros((len(Xs), 0)), np.zeros(0), None)
        )
        sig_j = scipy.linalg.svdvals(X)
        tol_f = _tolerance(Xf, Df, sig_f)
        tol_s = _tolerance(Xs, Ds, sig_s)
        tol_j = _tolerance(X, D, sig_j)
        r_f, r_s, r_j = _rank(sig_f, tol_f), _rank(sig_s, tol_s), _rank(sig_j, tol_j)
        excess = float(sig_j[r_f] / tol_j) if r_f < len(sig_j) else 0.0
        margin = float(sig_j[r_j - 1] / tol_j) if r_j else np.inf
        unreachable = []
        if blocks and callable(getattr(full, "tables", None)):
            U = U_s[:, :r_s]
            noise_s = float(np.linalg.norm(Ds))
            gap = sig_s[r_s - 1] - noise_s if r_s else 1.0
            sin_theta = noise_s / gap if gap > 0 else 1.0
            groups: dict = {}
            for k, lab in enumerate(full.tables(L).labels):
                groups.setdefault((lab["order"], tuple(map(tuple, lab["nl"]))), []).append(k)
            for (order, nl), cols in groups.items():
                Xb = Xf[:, cols]
                R = Xb - U @ (U.T @ Xb)
                sig_b = scipy.linalg.svdvals(R)
                tol_b = float(np.linalg.norm(Df[:, cols])) + min(sin_theta, 1.0) * float(
                    scipy.linalg.norm(Xb, 2)
                )
                unreachable.append(
                    {
                        "order": order,
                        "nl": [list(x) for x in nl],
                        "n_functions": len(cols),
                        "n_unreachable": _rank(sig_b, tol_b),
                        "residual": float(sig_b[0]) if len(sig_b) else 0.0,
                        "tol": tol_b,
                    }
                )
        results.append(
            SpeciesInclusion(
                el,
                X.shape[0],
                Xf.shape[1],
                Xs.shape[1],
                r_f,
                r_s,
                r_j,
                tol_f,
                tol_s,
                tol_j,
                float(np.linalg.norm(D)),
                excess,
                margin,
                sig_j,
                unreachable,
            )
        )
    return InclusionReport(L, results, int(len(atoms)), time.perf_counter() - t0)


# ---------------------------------------------------------------------------- exact check
def _monomial_keys(basis, tables) -> list[tuple]:
    """``(s, n, l, m)`` of every factor of every product (sorted: the monomial's identity)."""
    if getattr(basis, "purify", False):
        raise ValueError(
            "the exact span check compares monomials of the plain atomic base; a purified "
            "basis (purify=True) also has pointwise products: compare unpurified bases"
        )
    n_lm = basis.n_lm
    keys = []
    for row, order in zip(tables.product_index, tables.product_order, strict=True):
        factors = []
        for a in row[:order]:
            s, rem = divmod(int(a), basis.n_slot)
            n, lm = divmod(rem, n_lm)
            l = int(np.sqrt(lm))
            factors.append((s, n + 1, l, lm - l * l - l))
        keys.append(tuple(sorted(factors)))
    return keys


def _block_matrices(basis, L) -> dict:
    """``{(s,n,l) multiset: (functions × (monomial, M)) coefficient matrix}``."""
    t = basis.tables(L)
    width = 2 * L + 1
    keys = _monomial_keys(basis, t)
    out: dict = {}
    for k in range(t.n_functions):
        entries = {}
        for row in range(k * width, (k + 1) * width):
            M = row - k * width
            for q in range(t.c_indptr[row], t.c_indptr[row + 1]):
                entries[(keys[t.c_indices[q]], M)] = t.c_data[q]
        first = next(iter(entries))[0]  # every monomial of a function has the same (s, n, l)
        block = tuple(sorted(f[:3] for f in first))
        out.setdefault(block, []).append(entries)
    return out


def coefficient_inclusion(sparse, full, L: int = 0) -> dict:
    """Exact (algebraic) counterpart of :func:`span_inclusion` for two :class:`ACEBasis`
    objects on the same atomic base (same elements, radial basis and cutoffs).

    Every function is a coefficient vector over the monomials ``Π A_{s n l m}``; these are
    linearly independent functions of the environment, so inclusion of spans is inclusion of
    row spaces, decided block by block (sorted ``(s, n, l)`` multiset) by the rank of the
    stacked coefficient matrices. The coefficients are exact numbers rounded once, so the
    relative threshold :data:`ace_ref.coupling.symmetric.RANK_RTOL` of the coupling construction
    applies.
    Returns ``{"included", "equal_span", "n_unreachable", "blocks": {block: (unreachable,
    full rank)}}``.
    """
    for basis in (sparse, full):
        require_same_functions_per_species(basis, "coefficient_inclusion")
    strip = ("coupling", "lmax_hidden", "channels", "independent")
    a = {k: v for k, v in sparse.to_dict().items() if k not in strip}
    b = {k: v for k, v in full.to_dict().items() if k not in strip}
    if a != b:
        raise ValueError(
            "coefficient_inclusion needs two bases on the same atomic base (same elements, "
            "truncation, radial basis and cutoffs); use span_inclusion for anything else"
        )
    fs, ss = _block_matrices(full, L), _block_matrices(sparse, L)

    def rank(rows, columns):
        if not rows:
            return 0
        M = np.array([[r.get(c, 0.0) for c in columns] for r in rows])
        M /= np.linalg.norm(M, axis=1)[:, None]
        sv = np.linalg.svd(M, compute_uv=False)
        return int(np.sum(sv > RANK_RTOL * sv[0]))

    blocks = {}
    included = True
    equal = True
    for key in set(fs) | set(ss):
        fr, sr = fs.get(key, []), ss.get(key, [])
        columns = sorted({c for r in fr + sr for c in r})
        r_f, r_s, r_j = rank(fr, columns), rank(sr, columns), rank(fr + sr, columns)
        included &= r_j == r_f
        equal &= r_j == r_s
        blocks[key] = (r_j - r_s, r_f)
    return {
        "included": bool(included),
        "equal_span": bool(included and equal),
        "n_unreachable": int(sum(u for u, _ in blocks.values())),
        "blocks": blocks,
    }
