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
# # How many bodies does your potential have?
#
# Any potential energy of a finite cluster $S$ can be written as a many-body expansion
#
# $$E(S) = \sum_{T \subseteq S} V_{|T|}(T),$$
#
# and Möbius inversion gives every term from energies of sub-clusters:
#
# $$V_M(T) = \sum_{U \subseteq T} (-1)^{|T| - |U|} E(U), \qquad |T| = M.$$
#
# A linear ACE model of correlation order $\nu$ is a sum of site energies, each a polynomial in
# products of at most $\nu$ neighbour densities, so $V_M = 0$ **exactly** for $M > \nu + 1$.
# A nonlinear model (EMT, MACE with its nonlinear readout, a neural network) has no such
# cut: $|V_M|$ decays, but does not vanish. Measuring the spectrum $|V_M|$ against $M$ tells the
# effective body order of **any** ASE calculator: `ace_ref.verify.body_order`.
# Theory: [body order](../theory/body-order.md); symbols: [notation](../theory/notation.md)
# ($n_{\rm body}$ is the body order, $M$ the size of a sub-cluster).
#
# **Learning objectives.** After this notebook you can
#
# 1. write the many-body expansion of a cluster energy and compute its terms $V_M$ by Möbius
#    inversion;
# 2. predict the body order $n_{\rm body} = \nu + 1$ of a linear ACE model and of simple
#    nonlinear modifications of it;
# 3. measure the spectrum $\max|V_M|$ of any ASE calculator and tell an exact cut (round-off
#    above it) from a decay;
# 4. say what the one-body terms $V_1$ contain;
# 5. find the self-interaction terms of one ACE function in its spectrum, and see them removed
#    by purification.

# %%
import os
from importlib import resources
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones

from ace_ref import ACEBasis
from ace_ref.fit.assembly import Weights, assemble
from ace_ref.fit.data import read_configs, read_e0
from ace_ref.fit.solvers import smoothness_prior, solve
from ace_ref.models.linear import LinearACEModel
from ace_ref.verify.body_order import body_order

IMG = Path(os.environ.get("ACE_REF_DOCS_IMG", "."))
IMG.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## Two fitted linear ACE models
#
# Small fits to 100 acetylacetone configurations: correlation order 2 (a three-body
# potential) and 3 (four-body).

# %%
data = resources.files("ace_ref") / "example_data" / "acac"
train = read_configs([str(data / "train_300K.xyz")])[:100]
e0 = read_e0(str(data / "isolated_atoms.xyz"))
models = {}
for nu, degree in [(2, [8, 8]), (3, [8, 8, 6])]:
    basis = ACEBasis(["H", "C", "O"], order=nu, max_degree=degree, w_L=1, r_cut=4.5)
    system = assemble(basis, train, e0, Weights(energy=30, forces=1), progress=False)
    solution = solve(system, "blr", smoothness_prior(basis, 2.0))
    models[nu] = LinearACEModel(basis, solution.coefficients, e0)
    print(f"ν = {nu}: {len(basis)} coefficients")

# %% [markdown]
# ## The cluster
#
# Ten atoms of one acetylacetone molecule (the whole molecule has 15, i.e. $2^{15} - 1$
# sub-clusters; ten atoms need $2^{10} - 1 = 1023$ energy evaluations). ASE's EMT has
# (toy) parameters for H, C and O, so the same cluster works for all three calculators.

# %%
molecule = train[0].atoms
cluster = molecule[:10]
cluster.calc = None
print(cluster.get_chemical_formula(), "—", len(cluster), "atoms")

spectra = {}
for nu, model in models.items():
    spectra[f"linear ACE, ν = {nu}"] = body_order(model.calculator(), cluster, progress=False)
spectra["EMT"] = body_order(EMT(), cluster, progress=False)

print(f"{'calculator':<18} {'apparent body order':>20}   max |V_M| (eV) for M = 1..{len(cluster)}")
for name, spec in spectra.items():
    values = " ".join(f"{v:.0e}" for v in spec.max_abs)
    print(f"{name:<18} {spec.apparent_body_order():>20}   {values}")

# %% [markdown]
# The linear models stop exactly where the theory says: the terms above are round-off,
# about $10^{-11}$ eV against sub-cluster energies of about 2000 eV (the isolated-atom
# energies $E_0$ are included). EMT, a nonlinear embedded-atom functional of the density,
# has contributions of every order up to the size of the cluster.

# %%
assert spectra["linear ACE, ν = 2"].apparent_body_order() == 3
assert spectra["linear ACE, ν = 3"].apparent_body_order() == 4
assert spectra["EMT"].apparent_body_order() == len(cluster)
for nu in models:
    check = spectra[f"linear ACE, ν = {nu}"].check(expected_body_order=nu + 1)
    print(check.name, "PASS" if check.passed else "FAIL", "—", check.message.split(";")[0])
    assert check.passed

# %% [markdown]
# ## EMT on its home ground
#
# EMT is a potential for fcc metals. On a 10-atom copper cluster its many-body terms are no
# smaller: the spectrum decays slowly with $M$ and never reaches zero. The plot divides
# $\max|V_M|$ by the largest sub-cluster energy, so that the four calculators share one axis.

# %%
fcc = (
    np.array(
        [
            [0, 0, 0],
            [1, 1, 0],
            [1, 0, 1],
            [0, 1, 1],
            [1, -1, 0],
            [-1, 1, 0],
            [0, 1, -1],
            [1, 0, -1],
            [-1, 0, 1],
            [0, -1, 1],
        ],
        dtype=float,
    )
    * 3.61
    / 2
)
copper = Atoms("Cu10", positions=fcc)
copper.rattle(0.05, seed=0)
spectra["EMT, Cu₁₀"] = body_order(EMT(), copper, progress=False)
print("EMT on Cu10: apparent body order", spectra["EMT, Cu₁₀"].apparent_body_order())

# %%
fig, ax = plt.subplots(figsize=(6.2, 4))
markers = iter("osD^")
for name, spec in spectra.items():
    M = np.array(spec.M)
    rel = np.array(spec.max_abs) / spec.energy_scale
    ax.semilogy(M, np.maximum(rel, 1e-17), marker=next(markers), label=name)
ax.axhline(1e-9, color="k", ls=":", lw=1, label="round-off threshold (1e-9)")
ax.set_xlabel("M (number of bodies)")
ax.set_ylabel("max |V_M| / energy scale")
ax.set_xticks(range(1, len(cluster) + 1))
ax.set_ylim(1e-17, 10)
ax.set_title("Many-body expansion of a 10-atom cluster")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(IMG / "body_order_spectrum.png", dpi=110)

# %% [markdown]
# ## One function, with and without self-interactions
#
# The bound $\nu + 1$ is reached, but a linear ACE function of order $\nu$ has lower terms
# too: expanding $\prod_t A_{i,v_t}$ gives tuples of neighbours in which one neighbour fills
# two factors. A [purified basis](../theory/purification.md) (`purify=True`) keeps only
# tuples of distinct neighbours. Its functions of order $\nu$ are then pure
# $(\nu+1)$-body terms. Take one function of order 2 from each basis and use it as a
# potential, $E = \sum_i B_{ik}$, on a 6-atom piece of the molecule.


# %%
class OneFunction(Calculator):
    """``E = Σ_i B_ik``: the energy of a single basis function ``k``."""

    implemented_properties = ["energy"]

    def __init__(self, basis, k):
        super().__init__()
        self.basis, self.k = basis, k

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.results["energy"] = float(self.basis.features(self.atoms)[:, self.k].sum())


small = molecule[:6]
small.calc = None
spec2 = dict(order=2, max_degree=[6, 6], w_L=1, r_cut=4.5)
plain = ACEBasis(["H", "C", "O"], **spec2)
pure = ACEBasis(["H", "C", "O"], purify=True, **spec2)
orders = plain.column_orders()
k = int(np.argmax(np.where(orders == 2, np.abs(plain.features(small).sum(axis=0)), 0)))
print("function", k, plain.tables(0).labels[k % plain.n_functions_per_species])
for name, basis in [("plain", plain), ("purified", pure)]:
    spec = body_order(OneFunction(basis, k), small, progress=False)
    spectra_one = " ".join(f"{v:.1e}" for v in spec.max_abs)
    print(
        f"{name:<9} apparent body order {spec.apparent_body_order()}   max |V_M|, M = 1..6: "
        f"{spectra_one}"
    )
    if name == "plain":
        plain_spec = spec
    else:
        pure_spec = spec

# %% [markdown]
# Both have body order 3, as $\nu = 2$ says. The plain function also has a two-body part
# $V_2$: there the same neighbour fills both factors, $\phi_{v_1}(\mathbf r_{ij})\,
# \phi_{v_2}(\mathbf r_{ij})$. The purified function has no $V_2$ at all, only round-off.
# Its $V_3$ is the same as the plain one's: purification removes terms and changes nothing
# else.

# %%
scale = plain_spec.energy_scale
assert plain_spec.max_abs[1] > 1e-6 * scale  # V_2 of the plain function
assert pure_spec.max_abs[1] < 1e-12 * scale  # the purified one has none
assert pure_spec.apparent_body_order() == plain_spec.apparent_body_order() == 3
np.testing.assert_allclose(pure_spec.max_abs[2], plain_spec.max_abs[2], rtol=1e-9)

# %% [markdown]
# ## Exercises: predict, then run
#
# **1.** ASE's `LennardJones()` is a sum over pairs. What apparent body order does
# `body_order` report for it on the same 10-atom cluster?
#
# ??? note "Answer"
#     2: $E(S) = \sum_{i<j} \phi(r_{ij})$, so $V_2(\{i, j\}) = \phi(r_{ij})$, $V_1 = 0$ (an
#     isolated atom has no energy) and every $V_M$ with $M \ge 3$ is round-off. Checked
#     below.
#
# **2.** A nonlinear readout: take the $\nu = 2$ model and use the *square* of each site
# energy, $E = \sum_i \big(E_i - E_0(z_i)\big)^2$. What body order do you predict?
#
# ??? note "Answer"
#     5. The site energy $E_i - E_0(z_i)$ is a polynomial of degree $\nu = 2$ in the atomic
#     base $A_i$, whose entries are sums over single neighbours; its square has degree 4,
#     i.e. products of at most four neighbour terms with the centre: $n_{\rm body} = 4 + 1$.
#     A polynomial readout of degree $p$ multiplies the degree by $p$; a general nonlinear
#     function (EMT's embedding, an MLP readout) is no polynomial, hence no cut. The cell
#     below measures it with a small ASE calculator.
#
# **3.** What is $\max_i |V_1(\{i\})|$ for the linear models, before looking at the
# spectrum?
#
# ??? note "Answer"
#     The largest $|E_0(z)|$ among the elements of the cluster: an isolated atom has no
#     neighbours, so $A = 0$, every basis function vanishes and the model returns $E_0(z)$.
#     The one-body terms carry the isolated-atom energies, which is why the spectrum is
#     divided by an energy scale of thousands of eV. Checked below against `e0`.


# %%
# the answers, checked
class SquaredSiteEnergy(Calculator):
    """E = Σ_i (E_i − E0(z_i))² for a linear ACE model: a nonlinear readout."""

    implemented_properties = ["energy"]

    def __init__(self, model):
        super().__init__()
        self.model = model

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        site = self.model.predict(self.atoms)["energies"]
        e0_site = np.array([self.model.e0[z] for z in self.atoms.get_chemical_symbols()])
        self.results = {"energy": float(np.sum((site - e0_site) ** 2))}


exercises = {
    "Lennard-Jones": (body_order(LennardJones(), cluster, progress=False), 2),
    "(ν = 2 site energy)²": (body_order(SquaredSiteEnergy(models[2]), cluster, progress=False), 5),
}
for name, (spec, expected) in exercises.items():
    print(f"{name:<22} apparent body order {spec.apparent_body_order()}")
    assert spec.apparent_body_order() == expected
largest_e0 = max(abs(e0[z]) for z in cluster.get_chemical_symbols())
for nu in models:
    V1 = spectra[f"linear ACE, ν = {nu}"].max_abs[0]
    print(f"ν = {nu}: max |V_1| = {V1:.6f} eV, largest |E0| in the cluster {largest_e0:.6f} eV")
    assert abs(V1 - largest_e0) < 1e-9 * largest_e0
