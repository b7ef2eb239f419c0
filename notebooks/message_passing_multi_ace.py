# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Message passing is multi-ACE
#
# A NequIP layer does not multiply an atom's own density again: it couples each edge
# $R(r_{ij})\,Y(\hat{\mathbf r}_{ij})$ with the features $h_j$ **of the neighbour**. With the
# nonlinearities removed, two such layers give the *multi-ACE* features of Batatia et al.
# (arXiv:2205.06643), which `ace_ref.basis.two_layer.TwoLayerBasis` builds exactly. This
# notebook measures what that changes.
#
# **Learning objectives.** After this notebook you can
#
# 1. explain why an invariant needs products of at least two atomic-base functions
#    ($\nu \ge 2$) to see angles;
# 2. write NequIP's coupling with the neighbour's features and say why its features are not
#    polynomials in the atom's own atomic base $A_i$;
# 3. predict the receptive field and the body order $1 + \nu_2(\nu_1 + 1)$ of two linear
#    layers, and check both numerically;
# 4. tell apart uvu with *learnable* channel weights (reaches the whole chain space with
#    enough channels) and the *frozen* version a linear model builds.
#
# Theory: [NequIP, BOTNet, MACE and the design space](../theory/sparsification.md); symbols:
# [notation](../theory/notation.md). The single-centre chain of one layer is the notebook
# [The single-centre chain tree](nequip_as_sparse_ace.md).

# %%
import itertools
import os
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from ase import Atoms

from ace_ref import ACEBasis
from ace_ref.basis.two_layer import TwoLayerBasis
from ace_ref.coupling.clebsch_gordan import cg_tensor
from ace_ref.coupling.rotations import random_o3, wigner_d_real
from ace_ref.coupling.symmetric import coupling_paths, o3_multiplicity
from ace_ref.models.two_layer import TwoLayerModel
from ace_ref.one_particle.spherical import complex_to_real_matrix
from ace_ref.verify.body_order import body_order
from ace_ref.verify.span import span_inclusion

IMG = Path(os.environ.get("ACE_REF_DOCS_IMG", "."))
IMG.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(0)
t_start = time.perf_counter()


def random_cluster(symbols: str, box: float, min_distance: float = 0.7) -> Atoms:
    """Atoms placed uniformly in a cube of side ``box`` (Å), no two closer than ``min_distance``."""
    n = len(Atoms(symbols))
    while True:
        x = rng.uniform(0, box, size=(n, 3))
        d = np.linalg.norm(x[:, None] - x[None], axis=-1)[np.triu_indices(n, 1)]
        if d.min() > min_distance:
            return Atoms(symbols, positions=x)


# %% [markdown]
# ## 1. Why $\nu \ge 2$: one factor of $l \ge 1$ has no invariant
#
# The atomic base $A_{i,nlm} = \sum_j R_n(r_{ij}) Y_{lm}(\hat{\mathbf r}_{ij})$ rotates block
# by block, $A_{nl\cdot} \mapsto D^l(Q) A_{nl\cdot}$. A linear invariant $w \cdot A_{nl}$
# would need $w^\mathsf{T} D^l(Q) = w^\mathsf{T}$ for every $Q$, and for $l \ge 1$ only $w = 0$
# does that: the character formula counts no invariant in $V_l$. So $\nu = 1$ sees only the
# $l = 0$ part, a sum of pair terms. A product of two blocks of the same $l$,
# $\sum_m A_{n l m} A_{n' l m}$, is invariant and carries the angles between neighbours.

# %%
basis2 = ACEBasis("C", order=2, max_n=[2, 2], max_l=[0, 2], r_cut=4.0)
env = random_cluster("C7", box=2.2)
Q = random_o3(rng, improper=True)
turned = env.copy()
turned.positions = env.positions @ Q.T
A, A_turned = basis2.atomic_base(env)[0], basis2.atomic_base(turned)[0]
print(f"{'l':>2} {'invariants in V_l':>18} {'max |ΔA_nl| / |A_nl|':>22} {'Δ Σ_m A_1lm A_2lm':>19}")
for l in range(3):
    ms = np.arange(-l, l + 1)
    a1, a2 = (A[basis2.one_particle_index(0, n, l, ms)] for n in (1, 2))
    b1 = A_turned[basis2.one_particle_index(0, 1, l, ms)]
    change = np.abs(b1 - a1).max() / np.linalg.norm(a1)
    b2 = A_turned[basis2.one_particle_index(0, 2, l, ms)]
    dot_change = abs(b1 @ b2 - a1 @ a2) / abs(a1 @ a2)
    count = o3_multiplicity([(l, 1)], 0, +1)
    print(f"{l:>2} {count:>18} {change:>22.2e} {dot_change:>19.1e}")
    np.testing.assert_allclose(b1, wigner_d_real(l, Q) @ a1, atol=1e-12)  # A_l ↦ D^l A_l
    assert count == (1 if l == 0 else 0) and dot_change < 1e-12
    assert (change < 1e-12) == (l == 0)

# %% [markdown]
# The $l = 0$ part does not move; every $l \ge 1$ part moves by an amount of order one, and
# only its products with another block of the same $l$ are invariant. That is why ACE needs
# correlation order $\nu \ge 2$ before it knows about angles, and why a network that only
# *sums* equivariant messages must still multiply somewhere.
#
# ## 2. NequIP's coupling: the edge with the neighbour's features
#
# A linearised NequIP layer updates atom $i$ from its neighbours,
#
# $$h^{(t+1)}_{i,\,LM} = \sum_j R(r_{ij})\,
#   \big[Y(\hat{\mathbf r}_{ij}) \otimes h^{(t)}_j\big]_{LM},$$
#
# starting from a species embedding $h^{(0)}_j$ (a constant per species). Its first layer is
# therefore the atomic base $A_i$ itself ($\nu_1 = 1$), and the second couples the edge
# $i \to j$ with $A_j$, which sums over the neighbours $k$ of $j$. Replace $h^{(1)}_j$ by
# *all* equivariant ACE features $B^{(1)}_j$ up to $L_1 \le L_{\max}$, each kept as its own
# channel, and the second layer is the multi-ACE atomic base
#
# $$A^{(2)}_{i,(n,l,c,L_1) L_2 M_2} = \sum_j R_n(r_{ij})\,
#   \big[Y_l(\hat{\mathbf r}_{ij}) \otimes B^{(1)}_{j,c,L_1}\big]_{L_2 M_2},$$
#
# followed by products of $\nu_2$ such factors. Everything is linear in the coefficients.
#
# **Receptive field.** Four atoms on a line, $0.8\,r_c$ apart. Atom 0 sees atom 1 only;
# atom 1 sees atoms 0 and 2. Move atom 2 (at $1.6\,r_c$ from atom 0) and atom 3 (at
# $2.4\,r_c$):

# %%
RC = 3.0
layer1 = ACEBasis(["H", "O"], order=1, max_n=[3], max_l=[0], r_cut=RC)
two = TwoLayerBasis(layer1, lmax_hidden=1, max_n=3, order=1, constant_channel=False)
print(two.describe())
line = Atoms("HOHO", positions=[[k * 0.8 * RC, 0.0, 0.0] for k in range(4)])


def moved(atoms: Atoms, index: int) -> Atoms:
    out = atoms.copy()
    out.positions[index] += [0.05, 0.1, -0.07]
    return out


X0 = two.features(line)[0]
for index in (2, 3):
    d_two = np.abs(two.features(moved(line, index))[0] - X0).max() / np.abs(X0).max()
    d_one = np.abs(layer1.features(moved(line, index))[0] - layer1.features(line)[0]).max()
    print(
        f"move atom {index}: relative change of atom 0's features, two layers {d_two:.1e}, "
        f"one layer {d_one:.1e}"
    )
    assert d_one == 0.0
    assert (d_two > 1e-4) if index == 2 else (d_two == 0.0)
assert two.receptive_field == 2 * RC

# %% [markdown]
# The two-layer features of atom 0 feel atom 2 through atom 1; single-layer ACE cannot. So
# no function of $A_0$, polynomial or not, equals them. Even on small clusters where every
# atom sees every other one (so the receptive field plays no role) the rank test finds them
# outside the span of a single-centre ACE basis of higher body order:

# %%
full = ACEBasis(["H", "O"], order=3, max_n=[3, 3, 3], max_l=[0, 2, 2], r_cut=RC)
readout = span_inclusion(layer1, full, blocks=False)
report = span_inclusion(two, full, blocks=False)
for s in report.species:
    new = s.rank_joint - s.rank_full
    print(
        f"central {s.element}: rank full ACE {s.rank_full}, with the two-layer features "
        f"{s.rank_joint} ({new} new directions of {s.n_sparse} features; excess {s.excess:.1e})"
    )
    assert new == s.n_sparse - layer1.n_functions_per_species  # all but the layer-1 readout
assert readout.included and not report.included

# %% [markdown]
# Only the layer-1 readout (the $\nu_1 = 1$ invariants of atom $i$ itself) lies in the
# single-centre span; every message-passing feature adds a new direction.
#
# ## 3. The body-order spectrum is cut at $1 + \nu_2(\nu_1 + 1)$
#
# One factor $A^{(2)}$ involves $i$, the neighbour $j$ and the $\nu_1$ neighbours of $j$
# that $B^{(1)}_j$ multiplies; $\nu_2$ factors reach at most $1 + \nu_2(\nu_1 + 1)$ atoms.
# With random coefficients, inclusion–exclusion over all sub-clusters
# ([body order](../theory/body-order.md)) measures $\max |V_M|$ for every cluster size $M$:

# %%
spectra = {}
for nu1, nu2 in [(1, 1), (2, 1), (1, 2)]:
    l1 = ACEBasis(["H"], order=nu1, max_n=[2, 2][:nu1], max_l=[0, 1][:nu1], r_cut=4.0)
    b = TwoLayerBasis(l1, lmax_hidden=1, max_n=2, order=nu2, max_degree=[4, 4][:nu2])
    cut = 1 + nu2 * (nu1 + 1)
    model = TwoLayerModel(b, rng.normal(size=len(b)))
    cluster = random_cluster(f"H{cut + 2}", box=1.9, min_distance=0.6)
    spectrum = body_order(model.calculator(), cluster, progress=False)
    spectra[nu1, nu2] = (cut, spectrum)
    print(
        f"ν1 = {nu1}, ν2 = {nu2}: predicted {cut}, basis says {b.body_order()}, measured "
        f"{spectrum.apparent_body_order()} on {cut + 2} atoms"
    )
    assert b.body_order() == cut == spectrum.apparent_body_order()

fig, ax = plt.subplots(figsize=(6.4, 3.8))
for (nu1, nu2), (cut, s) in spectra.items():
    line_ = ax.semilogy(s.M, np.maximum(s.max_abs, 1e-17), "o-", label=f"ν1={nu1}, ν2={nu2}")
    ax.axvline(cut + 0.5, color=line_[0].get_color(), ls=":", lw=1)
ax.set_xlabel("cluster size M")
ax.set_ylabel("max |V_M| (eV)")
ax.set_title("two linear layers: the cut at 1 + ν2(ν1 + 1)")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(IMG / "multi_ace_body_order.png", dpi=110)

# %% [markdown]
# Above the cut $|V_M|$ falls to round-off, eleven or more orders of magnitude down. The
# MACE default of two layers with $\nu = 3$ would give $1 + 3 \cdot 4 = 13$ bodies before
# its nonlinear readout.
#
# ## 4. uvu with learnable channel weights, beside the frozen version
#
# Inside one layer, NequIP's "uvu" paths keep the channel $u$: with channel weights
# $\tilde A^{(t)}_{u,lm} = \sum_n W^{(t)}_{u,nl} A_{nlm}$, channel $u$ of a $\nu = 3$ chain is
# $[[\tilde A^{(1)}_u \otimes \tilde A^{(2)}_u]_{L_2} \otimes \tilde A^{(3)}_u]_0$. In NequIP the
# weights are learned (a radial network per channel). `ACEBasis(channels="uvu")` *freezes*
# them, $W^{(t)}_{u,nl} = \delta_{un}$, because a linear model cannot learn weights that
# multiply each other. Below: one element, $n \le 3$, $l \le 2 = L_{\max}$ (so the cap removes
# nothing), every ordering of the $l$'s and every path. For fixed random weights the features
# of $U$ channels span a space whose dimension we measure, next to the frozen choice and the
# full ACE block.

# %%
NMAX, LMAX, NU = 3, 2, 3
spec = dict(order=NU, max_n=[NMAX] * NU, max_l=[0] + [LMAX] * (NU - 1), r_cut=4.0)
full_c = ACEBasis("C", **spec)
frozen_c = ACEBasis("C", **spec, coupling="chain", lmax_hidden=LMAX, channels="uvu")
envs = [random_cluster("C8", box=3.2, min_distance=0.5) for _ in range(120)]
A_env = np.concatenate([full_c.atomic_base(a) for a in envs])
orders = np.array([lab["order"] for lab in full_c.tables(0).labels])
X_full = np.concatenate([full_c.features(a) for a in envs])[:, orders == NU]
blocks = {
    (n, l): A_env[:, full_c.one_particle_index(0, n, l, np.arange(-l, l + 1))]
    for n in range(1, NMAX + 1)
    for l in range(LMAX + 1)
}


def real_cg(l1: int, l2: int, L: int) -> np.ndarray:
    """Real-basis Clebsch–Gordan tensor C[m1, m2, M] (real or imaginary part)."""
    C = np.einsum(
        "am,bn,mnM,cM->abc",
        complex_to_real_matrix(l1),
        complex_to_real_matrix(l2),
        cg_tensor(l1, l2, L).astype(complex),
        complex_to_real_matrix(L).conj(),
    )
    return C.real if np.abs(C.real).max() > np.abs(C.imag).max() else C.imag


CG = {
    (a, b, c): real_cg(a, b, c)
    for a, b, c in itertools.product(range(LMAX + 1), repeat=3)
    if abs(a - b) <= c <= a + b
}


def uvu_features(W: np.ndarray) -> np.ndarray:
    """Invariant uvu chain features of every channel, ordering and path; ``W[t, u, n-1, l]``."""
    cols = []
    for u in range(W.shape[1]):
        mixed = [
            {
                l: sum(W[t, u, n - 1, l] * blocks[n, l] for n in range(1, NMAX + 1))
                for l in range(LMAX + 1)
            }  # fmt: skip
            for t in range(NU)
        ]
        for ls in itertools.product(range(LMAX + 1), repeat=NU):
            for path in coupling_paths(ls, 0):
                if sum(ls) % 2 or max(path[:-1]) > LMAX:
                    continue
                h = mixed[0][ls[0]]
                for t in range(1, NU):
                    h = np.einsum(
                        "ea,eb,abc->ec", h, mixed[t][ls[t]], CG[path[t - 1], ls[t], path[t]]
                    )
                cols.append(h[:, 0])
    return np.array(cols).T


def rank(X: np.ndarray) -> int:
    s = np.linalg.svd(X / np.linalg.norm(X, axis=0), compute_uv=False)
    r = int(np.sum(s > 1e-9 * s[0]))
    assert r == len(s) or s[r - 1] > 1e6 * s[r], "no clear gap in the singular values"
    return r


frozen_W = np.broadcast_to(np.eye(NMAX)[None, :, :, None], (NU, NMAX, NMAX, LMAX + 1))
r_full, r_frozen = rank(X_full), rank(uvu_features(frozen_W))
channels = [1, 2, 4, 8, 12, 16, 24]
r_learn = [rank(uvu_features(rng.normal(size=(NU, U, NMAX, LMAX + 1)))) for U in channels]
print(f"full ACE, ν = 3 block: {r_full} functions")
n_frozen_basis = frozen_c.counts_by_order()[NU]
print(f"frozen uvu (n1 = n2 = n3): {r_frozen} (ace_ref channels='uvu': {n_frozen_basis})")
for U, r in zip(channels, r_learn, strict=True):
    print(f"learnable uvu, U = {U:>2} channels: rank {r}")
assert r_frozen == n_frozen_basis < r_full
assert all(a <= b for a, b in itertools.pairwise(r_learn)) and r_learn[-1] == r_full
U_enough = channels[r_learn.index(r_full)]
print(f"learnable uvu spans the full block from U = {U_enough} channels on")
joint = rank(np.hstack([X_full, uvu_features(rng.normal(size=(NU, 4, NMAX, LMAX + 1)))]))
assert joint == r_full  # learnable or frozen, uvu stays inside the ACE span

fig, ax = plt.subplots(figsize=(5.6, 3.6))
ax.plot(channels, r_learn, "o-", label="learnable channel weights")
ax.axhline(r_full, color="k", ls="--", label=f"full ACE block ({r_full})")
ax.axhline(r_frozen, color="C3", ls=":", label=f"frozen uvu, n₁ = n₂ = n₃ ({r_frozen})")
ax.set_xlabel("channels U")
ax.set_ylabel("dimension of the span")
ax.set_title("ν = 3, n ≤ 3, l ≤ 2: uvu with U channels")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(IMG / "uvu_learnable_vs_frozen.png", dpi=110)
print(f"run time {time.perf_counter() - t_start:.0f} s")

# %% [markdown]
# With learnable weights the span grows with the number of channels and reaches the whole
# block at the $U$ printed above: rank-one coefficient tensors span every tensor. The frozen
# version keeps only the products with equal radial indices. So when the
# [single-centre notebook](nequip_as_sparse_ace.md) finds that "uvu" removes far more than
# the cap on the hidden $L$, that is the cost of freezing the weights, not of uvu: a network
# pays for uvu in channels, not in span. Inclusion holds either way (the joint rank equals the
# full rank).
#
# ## Exercises: predict, then run
#
# **1.** Two linear layers with $\nu_1 = 2$ and $\nu_2 = 2$: what body order do you predict?
# Add `(2, 2)` to the list in section 3 (use a cluster of `cut + 1` atoms to keep it fast),
# once with the loop's `max_degree=[4, 4]` for layer 2 and once with `[6, 6]`.
#
# ??? note "Answer"
#     $1 + 2\,(2 + 1) = 7$, and `b.body_order()` says 7 for both. The measured spectrum
#     agrees only for `[6, 6]` (non-zero up to $M = 7$, round-off at $M = 8$). With
#     `[4, 4]` it stops at $M = 5$: the total-degree bound of layer 2 removes the products
#     that reach the farthest atoms. $1 + \nu_2(\nu_1 + 1)$ is a bound, reached only by a
#     truncation that keeps the highest products. Checked in the last cell.
#
# **2.** In section 2, move atom 2 only along the line (the $x$ axis). Does the two-layer
# feature of atom 0 still change? And with `max_l=0` for layer 2?
#
# ??? note "Answer"
#     Yes in both cases: $B^{(1)}_1$ contains the distance $r_{12}$ (its $l = 0$ part), and
#     $A^{(2)}_0$ multiplies it by $R_n(r_{01})$. The $l = 0$, $L_1 = 0$ channel alone already
#     carries second-shell *distances*; angles between the shells need $l, L_1 \ge 1$.
#
# **3.** In section 4, how many channels would you guess are always enough for
# $n_{\max}$ radial functions and $\nu$ factors, before looking at the plot?
#
# ??? note "Answer"
#     $n_{\max}^{\nu}$ (here 27) is always enough, because rank-one tensors span all
#     $n_{\max}^\nu$ coefficient tensors, but fewer suffice: the factors commute, so only
#     symmetrised tensors matter, and the measured rank reaches the full block at the $U$
#     printed above.

# %%
# the answers, checked
for degree, measured in [(4, 5), (6, 7)]:
    l1 = ACEBasis(["H"], order=2, max_n=[2, 2], max_l=[0, 1], r_cut=4.0)
    b = TwoLayerBasis(l1, lmax_hidden=1, max_n=2, order=2, max_degree=[degree, degree])
    model = TwoLayerModel(b, rng.normal(size=len(b)))
    cluster = random_cluster("H8", box=1.9, min_distance=0.6)
    spectrum = body_order(model.calculator(), cluster, progress=False)
    print(
        f"ν1 = ν2 = 2, max_degree [{degree}, {degree}]: basis says {b.body_order()}, "
        f"measured {spectrum.apparent_body_order()} on 8 atoms"
    )
    assert b.body_order() == 1 + 2 * (2 + 1) == 7
    assert spectrum.apparent_body_order() == measured
assert NMAX**NU == 27 and U_enough < NMAX**NU
