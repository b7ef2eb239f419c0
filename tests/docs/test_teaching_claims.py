"""The numerical statements of the theory pages and notebooks, each checked on its own.

* the ``ace1`` radial basis with its default envelope exponent ``p = 2`` is C¹ at the cutoff,
  not C² (value and first derivative vanish, the second derivative has a known non-zero
  value); the Bessel basis with the NequIP envelope is C²;
* NequIP's ``uvu`` paths with *learnable* channel weights reach every chain-tree function of
  the full basis once there are enough channels; the *frozen* version (channel = radial index,
  ``n_1 = … = n_ν``, what ``channels="uvu"`` builds) keeps far fewer;
* the ``l ≥ 1`` parts of the atomic base carry no invariant alone (why ``ν ≥ 2``);
* a Tersoff-like bond order that is nonlinear in ``ζ_ij`` has unbounded body order, its
  linearisation has body order 3;
* the pages quote the default ``w_L`` and the quick-start errors as the code and README have
  them, and they keep to the notation of docs/theory/notation.md.
"""

from __future__ import annotations

import itertools
import re
from fractions import Fraction

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes

from ace_ref import ACEBasis, defaults
from ace_ref.coupling.clebsch_gordan import cg_tensor
from ace_ref.coupling.rotations import random_o3, wigner_d_real
from ace_ref.coupling.symmetric import coupling_paths, o3_multiplicity
from ace_ref.one_particle.radial import make_radial
from ace_ref.one_particle.spherical import complex_to_real_matrix
from ace_ref.verify.body_order import body_order
from tests.paths import ROOT

# ---------------------------------------------------------------------------------- radials


def _second_derivative_at_cutoff(radial, h: float) -> np.ndarray:
    """``R''(r_c⁻) ≈ (R'(r_c − h) − R'(r_c)) / (−h)`` with ``R'(r_c) = 0``."""
    _, dR = radial(np.array([radial.r_cut - h]))
    return dR[0] / (-h)


def test_ace1_default_envelope_is_c1_not_c2():
    """R and R' vanish at r_c; R''(r_c) = 2 (−1)^(n−1) u'(r_c)² ≠ 0 for p = 2 (basis guide)."""
    radial = make_radial("ace1", 4, 4.5)
    assert radial.envelope_p == 2  # the default the guide talks about
    rc = radial.r_cut
    R, dR = radial(np.array([rc - 1e-12, rc]))
    assert np.abs(R).max() < 1e-20 and np.abs(dR).max() < 1e-10
    x = radial._x
    du = (-radial.q * x(rc) / (1 + rc)) / (x(radial.r_in) - x(rc))  # u'(r_c)
    exact = 2 * (-1.0) ** np.arange(4) * du**2
    for h in (1e-4, 1e-5):
        np.testing.assert_allclose(_second_derivative_at_cutoff(radial, h), exact, rtol=1e-3)
    assert np.abs(exact).min() > 1e-3  # the jump in R'' is not small


@pytest.mark.parametrize(
    "kind,options", [("bessel", {}), ("polynomial", {}), ("ace1", {"envelope_p": 3})]
)
def test_c2_radials_have_vanishing_second_derivative(kind, options):
    """Bessel/polynomial (NequIP envelope, p = 6) and ace1 with p = 3: R'' → 0 at r_c."""
    radial = make_radial(kind, 4, 4.5, options)
    scale = np.abs(radial(np.linspace(0.5, 4.4, 50))[1]).max()
    d2 = [np.abs(_second_derivative_at_cutoff(radial, h)).max() for h in (1e-3, 1e-4)]
    assert d2[1] < 1e-3 * scale
    assert d2[1] < 0.2 * d2[0]  # goes to zero with h, not a constant


# ---------------------------------------------------------------------------------- uvu


def _real_cg(l1: int, l2: int, L: int) -> np.ndarray:
    C = np.einsum(
        "am,bn,mnM,cM->abc",
        complex_to_real_matrix(l1),
        complex_to_real_matrix(l2),
        cg_tensor(l1, l2, L).astype(complex),
        complex_to_real_matrix(L).conj(),
    )
    return C.real if np.abs(C.real).max() > np.abs(C.imag).max() else C.imag


def _rank(X: np.ndarray) -> tuple[int, float]:
    """Numerical rank of the column-normalised X and the gap ``σ_r / σ_{r+1}``."""
    X = X / np.linalg.norm(X, axis=0)
    s = np.linalg.svd(X, compute_uv=False)
    r = int(np.sum(s > 1e-9 * s[0]))
    return r, s[r - 1] / (s[r] if r < len(s) else 1e-300)


def test_uvu_with_learnable_channel_weights_reaches_the_whole_chain_space(coupling_cache):
    """ν = 3, n ≤ 3, l ≤ 2 = L_max (the cap removes nothing): features
    h_u = [[Ã¹_u ⊗ Ã²_u]_{L₂} ⊗ Ã³_u]_0 with Ã^t_{u,l} = Σ_n W^t_{u,nl} A_{nl}, every ordering
    of the l's and every path. With random W the span grows with the number of channels U and
    equals the full ACE block at U = 16; with frozen W^t_{u,nl} = δ_{un} it is the
    ``channels="uvu"`` basis (15 of 74)."""
    rng = np.random.default_rng(0)
    nmax, lmax, nu = 3, 2, 3
    spec = dict(order=nu, max_n=[nmax] * nu, max_l=[0] + [lmax] * (nu - 1), r_cut=4.0)
    full = ACEBasis("C", **spec, cache_dir=coupling_cache)
    frozen_basis = ACEBasis(
        "C", **spec, coupling="chain", lmax_hidden=lmax, channels="uvu", cache_dir=coupling_cache
    )
    envs = [Atoms("C8", positions=rng.uniform(-1.6, 1.6, size=(8, 3))) for _ in range(120)]
    A = np.concatenate([full.atomic_base(a) for a in envs])
    orders = np.array([lab["order"] for lab in full.tables(0).labels])
    X_full = np.concatenate([full.features(a) for a in envs])[:, orders == nu]
    blocks = {
        (n, l): A[:, full.one_particle_index(0, n, l, np.arange(-l, l + 1))]
        for n in range(1, nmax + 1)
        for l in range(lmax + 1)
    }
    cg = {
        (a, b, c): _real_cg(a, b, c)
        for a, b, c in itertools.product(range(lmax + 1), repeat=3)
        if abs(a - b) <= c <= a + b
    }

    def features(W: np.ndarray) -> np.ndarray:  # W[t, u, n-1, l]
        cols = []
        for u in range(W.shape[1]):
            mixed = [
                {
                    l: sum(W[t, u, n - 1, l] * blocks[n, l] for n in range(1, nmax + 1))
                    for l in range(lmax + 1)
                }  # fmt: skip
                for t in range(nu)
            ]
            for ls in itertools.product(range(lmax + 1), repeat=nu):
                for path in coupling_paths(ls, 0):
                    if sum(ls) % 2 or max(path[:-1]) > lmax:
                        continue
                    h = mixed[0][ls[0]]
                    for t in range(1, nu):
                        h = np.einsum(
                            "ea,eb,abc->ec", h, mixed[t][ls[t]], cg[path[t - 1], ls[t], path[t]]
                        )
                    cols.append(h[:, 0])
        return np.array(cols).T

    rank_full, gap = _rank(X_full)
    assert rank_full == X_full.shape[1] == 74 and gap > 1e6
    frozen = np.broadcast_to(np.eye(nmax)[None, :, :, None], (nu, nmax, nmax, lmax + 1))
    ranks = {"frozen": _rank(features(frozen))}
    for U in (1, 4, 16):
        ranks[U] = _rank(features(rng.normal(size=(nu, U, nmax, lmax + 1))))
    for key in ranks:
        assert ranks[key][1] > 1e6, (key, ranks[key])  # clean numerical ranks
    assert ranks["frozen"][0] == frozen_basis.counts_by_order()[nu] == 15
    assert ranks[1][0] < ranks[4][0] < ranks[16][0] == rank_full
    # every uvu feature, frozen or learnable, lies in the span of the full basis
    W = rng.normal(size=(nu, 4, nmax, lmax + 1))
    assert _rank(np.hstack([X_full, features(W)]))[0] == rank_full


# ---------------------------------------------------------------------------------- ν ≥ 2


@pytest.mark.parametrize("l", [0, 1, 2, 3])
def test_one_factor_of_l_at_least_1_has_no_invariant(l):
    """A linear invariant w·A_l needs wᵀ D^l(Q) = wᵀ for all Q: only for l = 0. The
    quadratic Σ_m A_lm A'_lm is invariant for every l (one invariant in V_l ⊗ V_l)."""
    rng = np.random.default_rng(l)
    Qs = [random_o3(rng, improper=k == 1) for k in range(2)]
    stacked = np.vstack([wigner_d_real(l, Q).T - np.eye(2 * l + 1) for Q in Qs])
    null = 2 * l + 1 - np.linalg.matrix_rank(stacked, tol=1e-10)
    assert null == (1 if l == 0 else 0) == o3_multiplicity([(l, 1)], 0, +1)
    assert o3_multiplicity([(l, 1), (l, 1)], 0, +1) == 1
    a, b = rng.normal(size=(2, 2 * l + 1))
    D = wigner_d_real(l, Qs[1])
    assert abs((D @ a) @ (D @ b) - a @ b) < 1e-12 * (1 + abs(a @ b))


# ---------------------------------------------------------------------------------- Tersoff


class _TersoffLike(Calculator):
    """E = ½ Σ_{i≠j} f_c(r_ij) [e^{−2 r_ij} − b_ij e^{−r_ij}], ζ_ij = Σ_{k≠i,j} f_c(r_ik)
    (1 + cos θ_ijk)²; b_ij = (1 + ζ_ij)^{−1/2} (Tersoff with n = 1) or its linearisation
    1 − ζ_ij/2."""

    implemented_properties = ["energy"]

    def __init__(self, linear: bool):
        super().__init__()
        self.linear = linear

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        x = self.atoms.positions
        n, rc = len(x), 4.0
        energy = 0.0
        for i, j in itertools.permutations(range(n), 2):
            rij = x[j] - x[i]
            d = np.linalg.norm(rij)
            zeta = 0.0
            for k in range(n):
                if k in (i, j):
                    continue
                rik = x[k] - x[i]
                dk = np.linalg.norm(rik)
                cos = rij @ rik / (d * dk)
                zeta += 0.5 * (1 + np.cos(np.pi * dk / rc)) * (1 + cos) ** 2
            b = 1 - zeta / 2 if self.linear else (1 + zeta) ** -0.5
            fc = 0.5 * (1 + np.cos(np.pi * d / rc))
            energy += 0.5 * fc * (np.exp(-2 * d) - b * np.exp(-d))
        self.results = {"energy": energy}


def test_tersoff_bond_order_has_unbounded_body_order():
    """A bond order nonlinear in ζ_ij reaches every cluster size; linear in ζ it stops at 3."""
    rng = np.random.default_rng(3)
    while True:
        x = rng.uniform(0, 1.6, size=(6, 3))
        d = np.linalg.norm(x[:, None] - x[None], axis=-1)[np.triu_indices(6, 1)]
        if d.min() > 0.7:
            break
    cluster = Atoms("Si6", positions=x)
    nonlinear = body_order(_TersoffLike(linear=False), cluster, progress=False)
    linear = body_order(_TersoffLike(linear=True), cluster, progress=False)
    assert linear.apparent_body_order() == 3
    assert nonlinear.apparent_body_order() == 6  # = the cluster size
    assert all(v > 1e-6 for v in nonlinear.max_abs[3:])


# ---------------------------------------------------------------------------------- pages


def _pages() -> dict[str, str]:
    pages = {p.relative_to(ROOT).as_posix(): p.read_text() for p in (ROOT / "docs").rglob("*.md")}
    pages |= {
        p.relative_to(ROOT).as_posix(): p.read_text() for p in (ROOT / "notebooks").glob("*.py")
    }
    return pages


def test_pages_quote_the_default_w_L():
    """Every "w_L … by default" / "defaults to …" statement names defaults.W_L."""
    found = 0
    for name, text in _pages().items():
        for match in re.finditer(r"w_L\W{0,4}(?:= |is )?([0-9/.]+) by default", text):
            found += 1
            assert Fraction(match.group(1)) == defaults.W_L, (name, match.group(0))
        for match in re.finditer(r"`w_L` is the weight[^.]*\. It defaults to ([0-9/.]+)", text):
            found += 1
            assert Fraction(match.group(1)) == defaults.W_L, (name, match.group(0))
    assert found >= 2


def test_acac_notebook_quotes_the_quick_start_errors():
    """The acac notebook's numbers for the full-size fit are those of the README table."""
    readme = (ROOT / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("test_MD_300K.xyz "))
    e_rmse, f_rmse = float(row.split()[1]), float(row.split()[4])
    text = (ROOT / "notebooks" / "acac_fit_and_md.py").read_text()
    match = re.search(r"test errors of ([0-9.]+) meV and ([0-9.]+) meV/Å", text)
    assert match, "the notebook no longer quotes the full-size errors in the expected form"
    assert float(match.group(1)) == pytest.approx(e_rmse, abs=0.006)
    assert float(match.group(2)) == pytest.approx(f_rmse, abs=0.006)


FORBIDDEN = {
    r"\\lVert A ?c|‖A ?c|A ?Γ⁻¹|\bAᵀA\b": "the design matrix is Ψ (docs/theory/notation.md)",
    r"body order \$K\$|expected_body_order=K\b|sample=K\b": "K is the number of basis functions",
    r"channels \$K\$|\$K\$ channels": "channels are U (docs/theory/notation.md)",
}


def test_pages_keep_the_notation_table():
    """A few drifts that docs/theory/notation.md rules out do not come back."""
    notation = (ROOT / "docs" / "theory" / "notation.md").read_text()
    for symbol in ("\\Psi", "n_{\\rm body}", "U", "D^L"):
        assert symbol in notation, symbol
    for name, text in _pages().items():
        if name.endswith("notation.md"):
            continue
        for pattern, why in FORBIDDEN.items():
            hit = re.search(pattern, text)
            assert hit is None, f"{name}: {hit.group(0)!r}: {why}"
