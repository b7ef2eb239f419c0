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
# # From neighbours to invariants
#
# This notebook builds the ACE features of **one atomic environment** by hand, one stage at a
# time, and checks every stage against `ace_ref`:
#
# 1. the neighbours of a central atom,
# 2. the one-particle basis
#    $\phi_{znlm}(\mathbf r_{ij}) = R_{n}(r_{ij})\, Y_{lm}(\hat{\mathbf r}_{ij})\, \delta_{z z_j}$,
# 3. the atomic base $A_{znlm} = \sum_j \phi_{znlm}(\mathbf r_{ij})$,
# 4. the products $AA_{\mathbf v} = \prod_t A_{v_t}$,
# 5. the invariants $B_k = \sum_{\mathbf v} C_{k\mathbf v}\, AA_{\mathbf v}$, whose coupling
#    coefficients $C$ we derive again as exact SymPy expressions,
# 6. invariance of $B$ (and equivariance of the $L = 1$ features) under rotations,
#    reflections and permutations of the neighbours.
#
# The theory is on the [ACE page](../theory/ace.md) of the documentation; symbols follow the
# [notation page](../theory/notation.md).
#
# **Learning objectives.** After this notebook you can
#
# 1. compute the atomic base $A_{i,znlm}$ of one atom from its neighbour vectors by hand, and
#    say why its cost grows with the number of neighbours while the number of invariants
#    does not;
# 2. evaluate the invariants $B_{i,k} = \sum_{\mathbf v} C_{k\mathbf v} AA_{i,\mathbf v}$ from
#    the sorted products and the sparse coupling matrix;
# 3. derive a coupling coefficient exactly (Clebsch–Gordan chain, then the real basis) and
#    predict the parity of a block from $\sum_t l_t$;
# 4. check invariance of $B$ and equivariance of the $L = 1$ features under rotations,
#    reflections and permutations.

# %%
import os
from importlib import resources
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import scipy.sparse
import sympy as sp
from ase.io import read

from ace_ref import ACEBasis
from ace_ref.coupling.cache import coupled_block
from ace_ref.coupling.clebsch_gordan import clebsch_gordan
from ace_ref.coupling.rotations import random_o3, random_rotation, wigner_d_real
from ace_ref.one_particle.spherical import complex_to_real_matrix, real_spherical_harmonics

IMG = Path(os.environ.get("ACE_REF_DOCS_IMG", "."))  # where the figures go
IMG.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. One environment
#
# The first training configuration of the packaged acetylacetone data (C₅H₈O₂). The central
# atom is the middle carbon of the O=C–C=C–O backbone; its neighbours are all atoms closer
# than the cutoff.

# %%
data = resources.files("ace_ref") / "example_data" / "acac"
atoms = read(str(data / "train_300K.xyz"), index=0)
symbols = atoms.get_chemical_symbols()
carbons = [k for k, s in enumerate(symbols) if s == "C"]
# the carbon bonded to two carbons and one hydrogen is the middle one
D = atoms.get_all_distances()
i = next(k for k in carbons if sum(D[k, c] < 1.6 for c in carbons if c != k) == 2)
r_cut = 4.0
neighbours = [j for j in range(len(atoms)) if j != i and D[i, j] < r_cut]
R_ij = atoms.positions[neighbours] - atoms.positions[i]
print(f"central atom {i} ({symbols[i]}), {len(neighbours)} neighbours within {r_cut} Å:")
for j, v in zip(neighbours, R_ij, strict=True):
    print(f"  {symbols[j]:>2} {j:>2}  r = {np.linalg.norm(v):.3f} Å")

# %% [markdown]
# ## 2. The basis specification
#
# Correlation order $\nu \le 3$ (body order 4), at most 3 radial functions for the
# two-body part and 2 for the products, $l \le 2$. `describe()` counts the invariants per
# order; every count is the dimension the O(3) character formula gives
# ([counting notebook](counting_invariants.md)).

# %%
basis = ACEBasis(["H", "C", "O"], order=3, max_n=[3, 2, 2], max_l=[0, 2, 2], r_cut=r_cut)
print(basis.describe())

# %% [markdown]
# ## 3. One-particle basis and the atomic base $A$
#
# The radial functions are Bessel functions times a polynomial envelope that goes smoothly
# to zero at the cutoff; the angular part is the real spherical harmonic $Y_{lm}$. Summing
# $\phi$ over the neighbours of each species gives $A$: the *density trick* that makes ACE
# linear in the number of neighbours.

# %%
radial = basis.radials[0][0]  # all pairs share the same cutoff here
r = np.linspace(0.05, r_cut, 400)
R, _ = radial(r)
fig, ax = plt.subplots(figsize=(5.5, 3.5))
for n in range(basis.n_max):
    ax.plot(r, R[:, n], label=f"n = {n + 1}")
ax.axhline(0, color="k", lw=0.5)
ax.set_ylim(-1.5, 2.0)
ax.set_xlabel("r (Å)")
ax.set_ylabel("$R_n(r)$")
ax.set_title("Bessel radial basis × envelope")
ax.legend()
fig.tight_layout()
fig.savefig(IMG / "neighbours_radial.png", dpi=110)

# %%
species = {el: s for s, el in enumerate(basis.elements)}  # H, C, O sorted by Z
n_lm = (basis.l_max + 1) ** 2
A_hand = np.zeros((len(basis.elements), basis.n_max, n_lm))
for j, v in zip(neighbours, R_ij, strict=True):
    s = species[symbols[j]]
    Rn, _ = basis.radials[species[symbols[i]]][s](np.linalg.norm(v))  # (1, n_max)
    Y = real_spherical_harmonics(v[None, :], basis.l_max)  # (1, (l_max+1)^2)
    A_hand[s] += Rn[0][:, None] * Y[0][None, :]

A_ref = basis.atomic_base(atoms)[i].reshape(A_hand.shape)
print("A from ace_ref vs by hand: max |difference| =", np.abs(A_ref - A_hand).max())
assert np.allclose(A_ref, A_hand, atol=1e-12)

# %% [markdown]
# ## 4. Products $AA$ and invariants $B$
#
# `basis.tables(0)` holds the sorted one-particle index tuples $\mathbf v$ of every product
# that appears in an invariant, and the sparse coupling matrix $C$. Products of sorted tuples
# only: $A_a A_b = A_b A_a$, so unsorted tuples would repeat the same monomial.

# %%
t = basis.tables(0)
A = A_hand.reshape(-1)
factors = np.where(t.product_index >= 0, A[np.maximum(t.product_index, 0)], 1.0)
AA = factors.prod(axis=1)
C = scipy.sparse.csr_matrix((t.c_data, t.c_indices, t.c_indptr), shape=(t.n_rows, t.n_products))
B_hand = C @ AA
K = t.n_functions
s_i = species[symbols[i]]
B_ref = basis.features(atoms)[i, s_i * K : (s_i + 1) * K]
print(f"{t.n_products} products, {K} invariants, {C.nnz} nonzero coupling coefficients")
print("B from ace_ref vs by hand: max |difference| =", np.abs(B_ref - B_hand).max())
assert np.allclose(B_ref, B_hand, rtol=1e-12, atol=1e-12)

# %% [markdown]
# ## 5. Coupling coefficients, exactly
#
# For a block of factors with angular momenta $(l_1, \dots, l_\nu)$ the coupling follows the
# chain $((l_1 l_2)L_2\, l_3)L_3 \dots \to 0$ with Clebsch–Gordan coefficients (SymPy's,
# exact). The complex coefficients are then rotated into the real basis with the unitary
# $U_l$ ($Y^{\rm real}_l = U_l Y^{\rm complex}_l$), and summed over permutations of identical
# factors. We redo that in exact arithmetic and compare with the floating-point coefficients
# that `ace_ref` uses.


# %%
def U_exact(l):
    """Exact U_l (rows: real m = -l..l, columns: complex m = -l..l)."""
    U = sp.zeros(2 * l + 1, 2 * l + 1)
    U[l, l] = 1
    for m in range(1, l + 1):
        U[l + m, l + m] = (-1) ** m / sp.sqrt(2)
        U[l + m, l - m] = 1 / sp.sqrt(2)
        U[l - m, l - m] = sp.I / sp.sqrt(2)
        U[l - m, l + m] = -sp.I * (-1) ** m / sp.sqrt(2)
    return U


for l in range(3):
    assert np.allclose(np.array(U_exact(l), dtype=complex), complex_to_real_matrix(l))


def exact_invariant(ls, path, group_sizes, part):
    """Exact real coupling coefficients of the chain path ``path`` = (L_1, ..., L_nu = 0).

    Returns {canonical m-tuple: SymPy number}; ``part`` 0/1 takes the real/imaginary part.
    """
    nu = len(ls)
    # complex coefficients T[m_1..m_nu] along the chain, output M = 0
    T = {}
    for ms in np.ndindex(*[2 * l + 1 for l in ls]):
        m = [mi - l for mi, l in zip(ms, ls, strict=True)]
        value, M = sp.Integer(1), m[0]
        for k in range(1, nu):
            value *= clebsch_gordan(path[k - 1], M, ls[k], m[k], path[k], M + m[k])
            M += m[k]
        if value != 0 and M == 0:
            T[tuple(m)] = value
    # real basis on every factor: T^r[mu] = sum_m T[m] prod_t conj(U[mu_t, m_t])
    Us = [U_exact(l) for l in ls]
    out = {}
    for mu in np.ndindex(*[2 * l + 1 for l in ls]):
        total = sum(
            (
                v * sp.prod([sp.conjugate(Us[t][mu[t], m[t] + ls[t]]) for t in range(nu)])
                for m, v in T.items()
            ),
            sp.Integer(0),
        )
        total = sp.nsimplify(sp.expand(total))
        total = sp.re(total) if part == 0 else sp.im(total)
        mu_m = [x - l for x, l in zip(mu, ls, strict=True)]
        # sum over permutations inside each group of identical factors: sort within groups
        key, pos = [], 0
        for size in group_sizes:
            key += sorted(mu_m[pos : pos + size])
            pos += size
        out[tuple(key)] = sp.simplify(out.get(tuple(key), 0) + total)
    return {k: v for k, v in out.items() if v != 0}


# %% [markdown]
# Two identical $l = 1$ factors (for example $A_{\mathrm{C},1,1,m}$ twice): the invariant is
# proportional to the squared length of the vector $A_{\mathrm{C},1,1,\cdot}$.


# %%
def show_block(ls, group_sizes):
    block = coupled_block(ls, group_sizes, L=0)
    print(f"ls = {ls}, groups = {group_sizes}: {block.n_functions} invariant(s)")
    for f in range(block.n_functions):
        *path, part = (int(x) for x in block.paths[f])
        exact = exact_invariant(ls, path, group_sizes, part)
        print(f"  chain path L = {path} ({'real' if part == 0 else 'imaginary'} part)")
        floats = dict(zip(map(tuple, block.m_tuples.tolist()), block.coeffs[f, :, 0], strict=True))
        for m, value in exact.items():
            print(f"    m = {str(m):<12} {str(value):<14} = {float(value): .16f}")
            assert abs(float(value) - floats[m]) < 1e-14
        assert set(floats) == set(exact)  # same nonzero pattern, same values
    return block


show_block((1, 1), (2,))

# %% [markdown]
# A three-body product $A_{l=1} A_{l=1} A_{l=2}$ (the two $l = 1$ factors identical): the
# only chain path is $L_2 = 2$, and the coefficients are square roots of rationals.

# %%
show_block((1, 1, 2), (2, 1))

# %% [markdown]
# With three *distinct* $l = 1$ factors the only chain path is $L_2 = 1$. It gives the
# triple product $\mathbf a \cdot (\mathbf b \times \mathbf c)$, invariant under rotations
# but odd under reflection: a pseudo-scalar, **not** an O(3) invariant, so the even-parity
# block is empty.

# %%
print(
    "even-parity invariants of three distinct l = 1 factors:",
    coupled_block((1, 1, 1), (1, 1, 1), L=0, parity=1).n_functions,
)
print(
    "odd-parity (pseudo-scalar) ones:",
    coupled_block((1, 1, 1), (1, 1, 1), L=0, parity=-1).n_functions,
)

# %% [markdown]
# ## 6. Invariance, checked by rotating
#
# Rotate (and reflect) the whole molecule about the central atom: $A$ changes — its $l = 1$
# part rotates with the real Wigner matrix $D^1(Q)$ — but $B$ does not. The $L = 1$
# equivariant features rotate like a vector: $f(Q\,\cdot) = D^1(Q)\, f(\cdot)$.


# %%
def transformed(Q):
    out = atoms.copy()
    out.positions = (atoms.positions - atoms.positions[i]) @ Q.T
    return out


B_all = basis.features(atoms)
V_all = basis.features(atoms, L=1)  # (n_atoms, n_L1, 3)
A1 = basis.atomic_base(atoms)[i].reshape(A_hand.shape)[:, :, 1:4]  # l = 1 block
rows = []
for name, Q in [
    ("rotation", random_rotation(rng)),
    ("rotation", random_rotation(rng)),
    ("reflection", random_o3(rng, improper=True)),
]:
    moved = transformed(Q)
    dB = np.abs(basis.features(moved) - B_all).max()
    A1_moved = basis.atomic_base(moved)[i].reshape(A_hand.shape)[:, :, 1:4]
    dA = np.abs(A1_moved - A1).max()
    dA_D = np.abs(A1_moved - A1 @ wigner_d_real(1, Q).T).max()
    dV = np.abs(basis.features(moved, L=1) - V_all @ wigner_d_real(1, Q).T).max()
    rows.append((name, dA, dA_D, dB, dV))
    assert dB < 1e-10 * np.abs(B_all).max()
    assert dA_D < 1e-10 and dV < 1e-10 * np.abs(V_all).max()
print(f"{'transform':<11} {'|ΔA_1|':>9} {'|A_1 - D A_1|':>14} {'|ΔB|':>9} {'|f - D f|':>10}")
for name, dA, dA_D, dB, dV in rows:
    print(f"{name:<11} {dA:>9.2e} {dA_D:>14.2e} {dB:>9.2e} {dV:>10.2e}")

# %% [markdown]
# Permuting the atoms permutes the rows of $B$ and nothing else: the sum over neighbours
# does not care about their order.

# %%
perm = rng.permutation(len(atoms))
dP = np.abs(basis.features(atoms[perm]) - B_all[perm]).max()
print("max |B(permuted) - permuted B| =", dP)
assert dP < 1e-12 * np.abs(B_all).max()

# %% [markdown]
# ## Exercises: predict, then run
#
# **1.** Keep only one neighbour (`neighbours, R_ij = neighbours[:1], R_ij[:1]`) and rebuild
# `A_hand`. The $\nu = 2$ invariant of two identical $l = 1$ factors is
# $-\frac{1}{\sqrt 3}\sum_m A_{1m}^2$ (section 5). Does it depend on the *direction* of that
# neighbour?
#
# ??? note "Answer"
#     No. With one neighbour $A_{znlm} = R_n(r)\,Y_{lm}(\hat{\mathbf r})$, and the addition
#     theorem gives $\sum_m Y_{lm}(\hat{\mathbf r})^2 = (2l + 1)/4\pi$ for every direction,
#     so the invariant is $-\frac{1}{\sqrt 3} R_n(r)^2 \cdot \frac{3}{4\pi}$, a function
#     of the distance only. Angles need two neighbours: the cross terms
#     $\sum_m Y_{lm}(\hat{\mathbf r}_{ij}) Y_{lm}(\hat{\mathbf r}_{ik})$ are Legendre
#     polynomials of the angle between them. The cell below checks the constant for
#     $l = 1, 2$ on random directions.
#
# **2.** Before running `show_block((2, 2), (2,))`: what are the coupling coefficients of two
# identical $l = 2$ factors, by analogy with the $l = 1$ case?
#
# ??? note "Answer"
#     $(-1)^l/\sqrt{2l + 1}$ on every diagonal $m$ pair: $-1/\sqrt 3$ for $l = 1$ and
#     $+1/\sqrt 5 \approx 0.4472$ for $l = 2$, the Clebsch–Gordan coefficient
#     $\langle l\,m, l\,{-m} | 0\,0\rangle = (-1)^{l-m}/\sqrt{2l+1}$ carried into the real
#     basis. The invariant is proportional to $\sum_m A_{2m}^2$, the squared length of the
#     $l = 2$ block. Checked below.
#
# **3.** Three *distinct* factors with $l = (1, 2, 2)$, and with $l = (2, 2, 2)$: how many
# O(3) invariants and how many pseudo-scalars does each have? Predict, then use
# `coupled_block(ls, (1, 1, 1), L=0, parity=±1).n_functions`.
#
# ??? note "Answer"
#     Each has a single chain path ($L_2 = l_3 = 2$), so one function, and its parity under
#     reflection is $(-1)^{\sum_t l_t}$. For $(1, 2, 2)$ the sum is 5: no invariant, one
#     pseudo-scalar (like the triple product of section 5). For $(2, 2, 2)$ the sum is 6:
#     one invariant, no pseudo-scalar.

# %%
# the answers, checked
directions = rng.normal(size=(20, 3))
Y = real_spherical_harmonics(directions / np.linalg.norm(directions, axis=1)[:, None], 2)
for l in (1, 2):
    np.testing.assert_allclose(
        (Y[:, l**2 : (l + 1) ** 2] ** 2).sum(axis=1), (2 * l + 1) / (4 * np.pi), atol=1e-14
    )
block22 = show_block((2, 2), (2,))
np.testing.assert_allclose(block22.coeffs[0, :, 0], 1 / np.sqrt(5), atol=1e-15)
for ls, (n_even, n_odd) in {(1, 2, 2): (0, 1), (2, 2, 2): (1, 0)}.items():
    counts = [coupled_block(ls, (1, 1, 1), L=0, parity=p).n_functions for p in (1, -1)]
    print(f"l = {ls}: {counts[0]} invariant(s), {counts[1]} pseudo-scalar(s)")
    assert counts == [n_even, n_odd]
