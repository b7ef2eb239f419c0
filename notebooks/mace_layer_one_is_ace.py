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
# # MACE layer 1 is an ACE model
#
# The design-space paper (arXiv:2205.06643) says that the first layer of MACE computes ACE
# features: an atomic base $A_{i,klm} = \sum_j \tilde R^{z_i z_j}_{kl}(r_{ij})
# Y_{lm}(\hat r_{ij})$ with learnt, species-embedded radials, then symmetric products of
# $\nu$ factors *of one channel* $k$ coupled to invariants — ACE with `uvu` channels. Here the
# claim is checked on the real code, mace-torch, to round-off: a small random-weight MACE, its
# ace_ref twin built from the model's own radials, the span residual of its node features,
# the one-layer model refitted as a linear ACE model, and the body-order spectrum of one and
# two layers. Guide: [neural codes](../guide/neural.md); theory:
# [the design space](../theory/sparsification.md), [body order](../theory/body-order.md).
#
# **Learning objectives.** After this notebook you can
#
# 1. build the ace_ref twin of a MACE layer (`ace_ref.neural.mace_basis`) and say what each
#    of its parts comes from (channels → $n$, neighbour species → radial, `uvu`);
# 2. test a span statement numerically on held-out structures, and see it fail when the
#    radials are not the model's;
# 3. read a body-order spectrum: an exact cut at $\nu + 1$ for one layer, a decay for two.
#
# Needs the `[neural]` extra (`pip install '.[neural]'`: CPU PyTorch, mace-torch, e3nn).

# %%
import os
import warnings

os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
warnings.filterwarnings("ignore")
from pathlib import Path  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from e3nn import o3  # noqa: E402
from mace.modules import MACE, RealAgnosticInteractionBlock  # noqa: E402
from mace.modules import RealAgnosticResidualInteractionBlock as Residual  # noqa: E402

from ace_ref import ACEBasis  # noqa: E402
from ace_ref.neural import mace as am  # noqa: E402
from ace_ref.one_particle.pair_radials import CallableRadials  # noqa: E402
from ace_ref.one_particle.radial import BesselRadial  # noqa: E402
from ace_ref.verify.body_order import body_order  # noqa: E402

torch.set_num_threads(1)
IMG = Path(os.environ.get("ACE_REF_DOCS_IMG", "."))
IMG.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## A small MACE
#
# Three species, cutoff 4 Å, 4 channels, $l \le 2$, correlation order $\nu = 3$; every weight
# drawn at random (seeded) and the model kept in float64, as exact checks need.


# %%
def small_mace(correlation=3, interactions=1, seed=0, hidden="4x0e"):
    torch.manual_seed(seed)
    torch.set_default_dtype(torch.float64)
    model = MACE(
        r_max=4.0, num_bessel=6, num_polynomial_cutoff=5, max_ell=2,
        interaction_cls=Residual, interaction_cls_first=RealAgnosticInteractionBlock,
        num_interactions=interactions, num_elements=3, hidden_irreps=o3.Irreps(hidden),
        MLP_irreps=o3.Irreps("8x0e"), atomic_energies=np.array([-1.0, -2.0, -3.0]),
        avg_num_neighbors=5.0, atomic_numbers=[1, 6, 8], correlation=correlation,
        gate=torch.nn.functional.silu, radial_MLP=[16, 16],
    )  # fmt: skip
    torch.set_default_dtype(torch.float32)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return model


def clusters(n, seed):
    """Random H/C/O clusters of 8–11 atoms, no pair closer than 0.9 Å."""
    from ase import Atoms

    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        k = int(rng.integers(8, 12))
        pos = rng.uniform(0, 3.2, size=(k, 3))
        d = np.linalg.norm(pos[:, None] - pos[None], axis=-1) + 9 * np.eye(k)
        if d.min() > 0.9:
            out.append(Atoms(rng.choice(["H", "C", "O"], k), positions=pos))
    return out


model = small_mace()
train, test = clusters(16, 1), clusters(5, 2)
print(model.interactions[0].conv_tp)

# %% [markdown]
# ## Its ace_ref twin
#
# `mace_basis` reads the first layer's effective radials $\tilde R^{z_i z_j}_{kl}(r)$ by
# running the model's own interaction block on one-edge graphs (derivatives by forward-mode
# differentiation), and builds ACE on them: $n$ ↔ channel $k$, one atomic-base block for all
# neighbours (the species is inside the radial), `channels="uvu"`.

# %%
twin = am.mace_basis(model, cache_dir=os.environ.get("ACE_REF_CACHE", "default"))
print(twin.describe())
assert twin.counts_by_order() == {1: 4, 2: 12, 3: 20}

# %% [markdown]
# ## The span, on held-out structures
#
# For each central species, least squares of MACE's layer-1 node features on the twin's
# features of 16 training clusters, residual on 5 other clusters. Then the same with each
# correlation order $\nu$ of the symmetric contraction alone against the ACE functions of
# order exactly $\nu$ — and, as a control, against ace_ref's own Bessel radials.

# %%
res = am.span_residual(lambda a: am.mace_node_features(model, a), twin, train, test)
print(f"node features: held-out relative residual {res['test_relative']:.1e}")
assert res["test_relative"] < 1e-10
per_order = {}
for nu in (1, 2, 3):
    cols = np.array([k for k, lab in enumerate(twin.tables(0).labels) if lab["order"] == nu])
    r = am.span_residual(
        lambda a, nu=nu: am.mace_node_features(model, a, nu=nu), twin, train[:10], test,
        columns=cols, constant=False,
    )  # fmt: skip
    per_order[nu] = r["test_relative"]
    print(f"nu = {nu}: {r['test_relative']:.1e} with {len(cols)} columns")
    assert r["test_relative"] < 1e-10
# control: the twin's exact shape (species-embedded, 4 channels, l ≤ 2, uvu: the same 36
# functions per species) on species-blind Bessel radials instead of MACE's
bessel = BesselRadial(4, 4.0)
bessel_radials = CallableRadials(
    ["H", "C", "O"], 4, 2, 4.0, lambda r, c, n: bessel(r), species_embedded=True
)
control_basis = ACEBasis(
    ["H", "C", "O"], 3, max_n=4, max_l=2, radial=bessel_radials, channels="uvu",
    cache_dir=os.environ.get("ACE_REF_CACHE", "default"),
)  # fmt: skip
assert control_basis.n_functions_per_species == twin.n_functions_per_species
control = am.span_residual(lambda a: am.mace_node_features(model, a), control_basis, train, test)
shape = {el: f"{p[2]}x{p[3]}" for el, p in control["per_species"].items()}
print(f"rows x columns per species: {shape}")
print(
    f"with Bessel radials instead: train {control['train_relative']:.2g}, "
    f"held-out {control['test_relative']:.2g}"
)
assert all(p[2] > p[3] for p in control["per_species"].values())  # overdetermined
assert control["train_relative"] > 0.1 and control["test_relative"] > 0.1

# %% [markdown]
# The span holds to round-off *given the model's radials*; with a fixed radial basis in the
# twin's exact shape it does not, even on the training clusters (more atoms than columns, so
# the fit cannot interpolate) — a learnt radial MLP is not in the span of 4 Bessel functions.
#
# ## Vectors too: the `1o` features of layer 1
#
# A one-layer model keeps only scalars; in a two-layer model with hidden irreps
# `4x0e + 4x1o`, layer 1 also outputs 4 vectors per atom. `mace_node_features(...,
# irrep="1o")` puts their components in ace_ref's order — e3nn's $(x, y, z)$ becomes
# $(y, z, x)$, $m = -1, 0, 1$ (`from_e3nn`, a fixed permutation, not fitted) — and
# `span_residual(..., L=1)` fits one coefficient matrix per species for all three $m$ on the
# twin's $L = 1$ features. Left in e3nn's order, the same fit fails.

# %%
deep = small_mace(interactions=2, seed=2, hidden="4x0e+4x1o")
vtwin = am.mace_basis(deep, max_output_L=1, cache_dir=os.environ.get("ACE_REF_CACHE", "default"))
vec = am.span_residual(
    lambda a: am.mace_node_features(deep, a, irrep="1o"), vtwin, train, test, L=1
)
print(f"1o, ace_ref's m order: {vec['test_relative']:.1e} ({vtwin.tables(1).n_functions} columns)")
assert vec["test_relative"] < 1e-10
raw = am.span_residual(
    lambda a: am.mace_node_features(deep, a, irrep="1o", convention="e3nn"), vtwin, train,
    test, L=1,
)  # fmt: skip
print(f"1o left in e3nn's m order: {raw['test_relative']:.2g}")
assert raw["test_relative"] > 0.1

# %% [markdown]
# ## One layer with a linear readout is a linear ACE model
#
# MACE labels the training clusters; `ace_ref.fit` fits the twin's coefficients (ridge with a
# negligible $\lambda$, $E_0$ from the model); both predict the held-out clusters.

# %%
twin_fit = am.fit_linear_twin(model, train[:8], test, basis=twin)
print(f"energies: {twin_fit['energy_relative']:.1e}, forces: {twin_fit['force_relative']:.1e}")
assert twin_fit["energy_relative"] < 1e-10 and twin_fit["force_relative"] < 1e-10

# %% [markdown]
# ## Body order per layer
#
# The many-body expansion of a 6-atom cluster: one layer with $\nu = 3$ stops at body order
# 4 (everything above is float64 round-off, below the dotted line: $8\varepsilon
# \sum_U |E(U)|$); a second layer — message passing, then a nonlinear readout — has terms of
# every order, decaying.

# %%
cluster = test[0][:6]
fig, ax = plt.subplots(figsize=(5, 3.6))
for layers, style in ((1, "o-"), (2, "s--")):
    m = model if layers == 1 else small_mace(correlation=3, interactions=2, seed=1)
    s = body_order(am.MACEModelCalculator(m), cluster, progress=False)
    print(f"{layers} layer(s): apparent body order {s.apparent_body_order()}")
    ax.semilogy(s.M, np.maximum(s.max_abs, 1e-17), style, label=f"{layers} layer(s)")
    if layers == 1:
        assert s.apparent_body_order() == 4
        ax.semilogy(s.M[1:], s.zero_tols()[1:], "k:", label="zero threshold (float64)")
    else:
        assert s.apparent_body_order() > 4
ax.set_xlabel("M (bodies)")
ax.set_ylabel("max |V_M| (eV)")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(IMG / "mace_body_order.png", dpi=110)

# %% [markdown]
# ![body-order spectrum of one and two MACE layers](../img/mace_body_order.png)
#
# What this shows, and what it does not: the first layer's features and a one-layer energy
# with a linear readout are linear ACE models on the model's radials. A second layer builds
# its atomic base from first-layer features (multi-ACE, see the
# [message-passing notebook](message_passing_multi_ace.md)), and a nonlinear readout is not
# linear in any basis; neither is claimed here.
#
# ## Exercises: predict, then run
#
# **1.** Build the twin with `order=2` instead of 3 and rerun the span of the full node
# features. Will the residual stay at round-off?
#
# ??? note "Answer"
#     No: the $\nu = 3$ contraction is not in the span of orders ≤ 2; the residual is far
#     above round-off (`tests/neural/test_mace.py` checks it exceeds 1e-3).
#
# **2.** Build the twin with all channel tuples instead of `uvu`:
# `ACEBasis(["H", "C", "O"], 3, max_n=4, max_l=2, radial=am.mace_radials(model))`.
# Does the span still hold, and what does it cost?
#
# ??? note "Answer"
#     It holds (the full basis contains the `uvu` one), with many more columns: products
#     of different channels, which MACE never forms.
