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
# # Counting invariants
#
# How many linearly independent invariant polynomials of a given degree are there? The
# O(3) **character formula** answers exactly, without building anything. This notebook
#
# 1. computes the answer from characters (and checks it with the Weyl integration formula),
# 2. checks it against an explicit construction by tensor-product paths — and shows that the
#    paths *over-count*: many are linear combinations of the others,
# 3. checks it against an `ace_ref` basis, whose size is the character count by
#    construction, by the numerical rank of its features on random environments.
#
# Theory: [coupling coefficients and their exactness](../theory/coupling.md); symbols:
# [notation](../theory/notation.md).
#
# **Learning objectives.** After this notebook you can
#
# 1. count the invariants of a product of irreps (identical factors included) from characters,
#    by hand for small cases and with `o3_multiplicity`;
# 2. explain the two reasons why tensor-product paths over-count (the order of the factors,
#    and different intermediate $L$ for identical factors);
# 3. certify the size of a basis by the numerical rank of its feature matrix $X$, and say
#    why that needs many more environments than functions.

# %%
import itertools
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from ase import Atoms

from ace_ref import ACEBasis
from ace_ref.coupling.clebsch_gordan import cg_tensor
from ace_ref.coupling.symmetric import coupling_paths, o3_multiplicity, symmetric_power_weights
from ace_ref.one_particle.spherical import complex_to_real_matrix

IMG = Path(os.environ.get("ACE_REF_DOCS_IMG", "."))
IMG.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(1)

# %% [markdown]
# ## 1. Characters
#
# A rotation by angle $\theta$ acts on $V_l$ (dimension $2l + 1$) with eigenvalues
# $e^{iM\theta}$, $M = -l..l$. The character of a product of representations is the product of
# characters, and the character of the symmetric power $\mathrm{Sym}^k V_l$ (products of $k$
# *identical* factors, which commute) counts the multisets $\{m_1, \dots, m_k\}$ by their sum
# $M$. If $w(M)$ is the number of states of weight $M$, the multiplicity of the irrep $V_L$ is
# $w(L) - w(L + 1)$; invariants are $L = 0$, and parity
# $(-1)^{\sum_t l_t}$ must be even for an O(3) (not only SO(3)) invariant.

# %%
w = symmetric_power_weights(1, 4)  # Sym^4 of a vector: weights M = -4..4
print("weights of Sym^4(V_1), M = -4..4:", w.tolist())
print("invariants: w(0) - w(1) =", w[4] - w[5], "  (|a|^4, nothing else)")


# %% [markdown]
# The same number from the Weyl integration formula for SO(3),
# $\mathrm{mult}_0 = \frac{2}{\pi}\int_0^\pi \chi(\theta)\,\sin^2(\theta/2)\,d\theta$, with
# $\chi(\theta) = \sum_M w(M)\, e^{iM\theta}$:


# %%
def weyl_invariants(weights):
    M_top = (len(weights) - 1) // 2  # weights M = -M_top..M_top
    theta = np.linspace(0, np.pi, 20001)
    chi = sum(
        wM * np.cos(M * theta) for M, wM in zip(range(-M_top, M_top + 1), weights, strict=True)
    )
    f = chi * np.sin(theta / 2) ** 2
    integral = np.sum((f[1:] + f[:-1]) / 2) * (theta[1] - theta[0])
    return 2 / np.pi * integral


for l, k in [(1, 2), (1, 4), (2, 3), (2, 4), (3, 4)]:
    exact = o3_multiplicity([(l, k)], 0, (-1) ** (l * k))
    print(
        f"Sym^{k}(V_{l}): character formula {exact}, Weyl integral "
        f"{weyl_invariants(symmetric_power_weights(l, k)):.6f}"
    )
    assert abs(weyl_invariants(symmetric_power_weights(l, k)) - exact) < 1e-6

# %% [markdown]
# ## 2. Tensor-product paths over-count
#
# Take one "feature vector" made of three irreps, $x = x_0 \oplus x_1 \oplus x_2$ of types
# $0e \oplus 1o \oplus 2e$ (dimension 1 + 3 + 5 = 9). Degree-3 invariants can be built the way
# an equivariant network builds them: couple two factors to an intermediate $L_2$ with
# Clebsch–Gordan coefficients, then contract with a third factor of the same $L_2$. Every
# ordered choice of three irreps and every allowed $L_2$ is a *path*.
#
# The character formula says how many independent invariants there are: sum over the ways of
# distributing the degree 3 over the three irreps.

# %%
irreps = [0, 1, 2]  # l of each part, parity (-1)^l
expected = 0
for ks in itertools.product(range(4), repeat=3):
    if sum(ks) == 3:
        groups = [(l, k) for l, k in zip(irreps, ks, strict=True) if k]
        expected += o3_multiplicity(groups, 0, +1)
print("character formula: Sym^3(0e + 1o + 2e) holds", expected, "invariants")
assert expected == 5


# %% [markdown]
# Real-basis Clebsch–Gordan tensors come from the complex ones with the unitary $U_l$
# ($Y^{\rm real} = U Y^{\rm complex}$). For odd $l_1 + l_2 + L$ the rotated tensor is purely
# imaginary; its imaginary part is an equally good real coupling.


# %%
def real_cg(l1, l2, L):
    C = np.einsum(
        "am,bn,mnM,cM->abc",
        complex_to_real_matrix(l1),
        complex_to_real_matrix(l2),
        cg_tensor(l1, l2, L).astype(complex),
        complex_to_real_matrix(L).conj(),
    )
    return C.real if np.abs(C.real).max() > np.abs(C.imag).max() else C.imag


def parts(x):
    return {0: x[0:1], 1: x[1:4], 2: x[4:9]}


paths = [
    (p, q, r, L2)
    for p, q, r in itertools.product(irreps, repeat=3)
    for L2 in range(abs(p - q), p + q + 1)
    if L2 == r and (p + q + r) % 2 == 0  # contract with the third factor; even parity
]


def path_features(x):
    xs = parts(x)
    return np.array(
        [np.einsum("a,b,abc,c->", xs[p], xs[q], real_cg(p, q, L2), xs[r]) for p, q, r, L2 in paths]
    )


X = rng.normal(size=(200, 9))
F = np.array([path_features(x) for x in X])
s = np.linalg.svd(F / np.linalg.norm(F, axis=0), compute_uv=False)
rank = int(np.sum(s > 1e-10 * s[0]))
print(f"{len(paths)} paths, numerical rank {rank}")
assert rank == expected

# %%
fig, ax = plt.subplots(figsize=(5.5, 3.5))
ax.semilogy(np.arange(1, len(s) + 1), s / s[0], "o-")
ax.axvline(expected + 0.5, color="r", lw=0.8, label=f"character formula: {expected}")
ax.set_xlabel("singular value index")
ax.set_ylabel("σ / σ₁")
ax.set_title(f"{len(paths)} tensor-product paths, degree 3, 0e+1o+2e")
ax.legend()
fig.tight_layout()
fig.savefig(IMG / "counting_paths_svd.png", dpi=110)

# %% [markdown]
# Two things make the paths redundant:
#
# * **order**: $x_p x_q x_r$ is the same monomial in any order, so ordered triples of irreps
#   repeat each other;
# * **identical factors**: with the same irrep several times, different intermediate $L_2$
#   give linearly dependent functions. Four copies of one vector $\mathbf a$: three chain
#   paths ($L_2 = 0, 1, 2$, then $L_3 = 1$), one invariant, $|\mathbf a|^4$. Four
#   *different* vectors: three paths, three invariants
#   ($(\mathbf a\cdot\mathbf b)(\mathbf c\cdot\mathbf d)$ and its two partners).

# %%
print("chain paths of (1,1,1,1) -> 0:", coupling_paths((1, 1, 1, 1), 0))
print("invariants, four identical vectors:", o3_multiplicity([(1, 4)], 0, +1))
print("invariants, four distinct vectors: ", o3_multiplicity([(1, 1)] * 4, 0, +1))

# %% [markdown]
# ACE removes both redundancies: it keeps only **sorted** tuples of one-particle functions,
# sums each path over the permutations of identical factors, and keeps a linearly independent
# subset (pivoted QR) whose size must equal the character formula — otherwise it raises an
# error.
#
# ## 3. The basis against the character formula
#
# A one-element basis up to correlation order 4. For every order we count
#
# * the paths an unsymmetrised tensor-product construction would enumerate (ordered tuples of
#   one-particle functions × chain paths, even parity),
# * the same over sorted tuples only,
# * the functions `ace_ref` keeps (= the character formula, block by block),
#
# and check the last number by the numerical rank of the features on random environments.

# %%
basis = ACEBasis("Si", order=4, max_n=[4, 3, 3, 2], max_l=[0, 3, 3, 2], r_cut=4.0)
counts = basis.counts_by_order()
rows = []
for nu in range(1, basis.order + 1):
    # one-particle types (species, n, l) allowed at this order
    types = [
        (0, n, l) for n in range(1, basis.max_n[nu - 1] + 1) for l in range(basis.max_l[nu - 1] + 1)
    ]
    ordered = sum(
        len(coupling_paths(tuple(t[2] for t in combo), 0))
        for combo in itertools.product(types, repeat=nu)
        if sum(t[2] for t in combo) % 2 == 0
    )
    sorted_ = sum(
        len(coupling_paths(tuple(t[2] for t in combo), 0))
        for combo in itertools.combinations_with_replacement(types, nu)
        if sum(t[2] for t in combo) % 2 == 0
    )
    character = sum(m for _, _, m in basis.nl_tuples(nu, 0))
    rows.append((nu, ordered, sorted_, character, counts[nu]))
print(f"{'ν':>2} {'ordered paths':>14} {'sorted paths':>13} {'character':>10} {'ace_ref':>8}")
for row in rows:
    print(f"{row[0]:>2} {row[1]:>14} {row[2]:>13} {row[3]:>10} {row[4]:>8}")
    assert row[3] == row[4]


# %% [markdown]
# Now the numerical rank. Random silicon clusters of 13 atoms give 13 environments each; with
# many more environments than functions, the feature matrix has full column rank exactly when
# the functions are linearly independent.


# %%
def random_cluster(n=13, box=4.0):
    while True:
        pos = rng.uniform(0, box, size=(n, 3))
        d = np.linalg.norm(pos[:, None] - pos[None], axis=-1)[np.triu_indices(n, 1)]
        if d.min() > 1.2:
            return Atoms(f"Si{n}", positions=pos)


K = len(basis)
Bmat = np.concatenate([basis.features(random_cluster()) for _ in range(3 * K // 13 + 10)])
Bmat = Bmat / np.linalg.norm(Bmat, axis=0)
sv = np.linalg.svd(Bmat, compute_uv=False)
rank = int(np.sum(sv > 1e-9 * sv[0]))
print(
    f"{K} functions, {len(Bmat)} environments: numerical rank {rank}, "
    f"smallest σ/σ₁ = {sv[-1] / sv[0]:.1e}"
)
assert rank == K

# %%
fig, ax = plt.subplots(figsize=(6, 3.6))
orders = [r[0] for r in rows]
width = 0.27
for k, (label, col) in enumerate(
    [("ordered tuples × paths", 1), ("sorted tuples × paths", 2), ("independent (ace_ref)", 4)]
):
    ax.bar(np.array(orders) + (k - 1) * width, [r[col] for r in rows], width, label=label)
ax.set_yscale("log")
ax.set_xticks(orders)
ax.set_xlabel("correlation order ν")
ax.set_ylabel("number of invariants")
ax.set_title("Si, max_n [4,3,3,2], max_l [0,3,3,2]")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(IMG / "counting_by_order.png", dpi=110)

# %% [markdown]
# ## Exercises: predict, then run
#
# **1.** How many O(3) invariants are there in $\mathrm{Sym}^3 V_1$ (a cubic polynomial in
# one vector) and in $\mathrm{Sym}^3 V_2$ (cubic in one $l = 2$ block)? Predict, then run
# `o3_multiplicity([(l, 3)], 0, +1)`.
#
# ??? note "Answer"
#     None for $l = 1$: an odd number of vector factors is odd under reflection, and
#     even for SO(3) alone $\mathrm{Sym}^3 V_1 = V_3 \oplus V_1$ holds no $V_0$. One for
#     $l = 2$: the $l = 2$ block is a symmetric traceless matrix $S$, and $\operatorname{tr} S^3$
#     is its cubic invariant. The weights tell the same: $w(0) - w(1)$ of
#     `symmetric_power_weights(l, 3)`.
#
# **2.** Two copies each of two different vectors, $\mathbf a\,\mathbf a\,\mathbf b\,\mathbf b$:
# between "four identical" (one invariant) and "four distinct" (three), how many?
#
# ??? note "Answer"
#     Two: $|\mathbf a|^2 |\mathbf b|^2$ and $(\mathbf a \cdot \mathbf b)^2$.
#     `o3_multiplicity([(1, 2), (1, 2)], 0, +1)`.
#
# **3.** In section 3, predict the row $\nu = 2$ (`max_n` 3, `max_l` 3) before reading the
# table: ordered paths, sorted paths, independent functions.
#
# ??? note "Answer"
#     A pair couples to $L = 0$ only if $l_1 = l_2$, along one path. With 3 radial functions
#     and $l = 0, \dots, 3$: ordered pairs $4 \cdot 3^2 = 36$, sorted pairs
#     $4 \cdot \binom{4}{2} = 24$, and all 24 are independent, the products
#     $\sum_m A_{nlm} A_{n'lm}$ with $n \le n'$. At $\nu = 2$ sorting removes all the
#     redundancy. It does at $\nu = 3$ as well (three factors reach $L = 0$ along one path
#     only, $L_2 = l_3$; the table shows equal counts). From $\nu = 4$ on several $L_2$ lead
#     to $L = 0$, and for identical factors they are dependent: sorted paths exceed the
#     character count.

# %%
# the answers, checked
for l, expected_count in [(1, 0), (2, 1)]:
    w3 = symmetric_power_weights(l, 3)
    centre = (len(w3) - 1) // 2
    assert o3_multiplicity([(l, 3)], 0, +1) == expected_count
    assert w3[centre] - w3[centre + 1] == (1 if l == 2 else 0)  # SO(3), parity aside
assert o3_multiplicity([(1, 2), (1, 2)], 0, +1) == 2
print("ν = 2 row:", rows[1])
assert rows[1] == (2, 4 * 3**2, 4 * 6, 24, 24)
assert rows[2][2] == rows[2][3] and rows[3][2] > rows[3][3]  # redundancy from ν = 4 on
