"""The prediction path: product prefix tree and batched energy/force kernel."""

from __future__ import annotations

import numba
import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule
from hypothesis import given, settings
from hypothesis import strategies as st

from ace_ref import ACEBasis
from ace_ref.kernels.predict import _tree_sweep, atom_batches
from ace_ref.kernels.product_tree import build_product_tree
from ace_ref.kernels.simd import WIDTH
from ace_ref.models.linear import LinearACEModel


@pytest.fixture(scope="module")
def ch_basis(coupling_cache):
    return ACEBasis(
        ["C", "H", "O"],
        order=4,
        max_n=[5, 3, 2, 2],
        max_l=[0, 2, 2, 1],
        r_cut=4.0,
        cache_dir=coupling_cache,
    )


def _direct(ctilde_z, product_index, product_order, A):
    """``E = Σ_v c̃_v Π_t A[a_vt]`` and ``∂E/∂A`` by the product rule, one product at a time."""
    E = 0.0
    grad = np.zeros_like(A)
    for v in np.flatnonzero(ctilde_z):
        idx = product_index[v, : product_order[v]]
        E += ctilde_z[v] * np.prod(A[idx])
        for t in range(len(idx)):
            grad[idx[t]] += ctilde_z[v] * np.prod(np.delete(A[idx], t))
    return E, grad


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), used=st.integers(1, WIDTH), sparsity=st.floats(0.0, 0.9))
def test_tree_sweep_equals_direct_products(ch_basis, seed, used, sparsity):
    """Every lane of the vectorised sweep equals the products evaluated one by one; unused
    lanes (a species' last, padded batch) stay exactly zero."""
    rng = np.random.default_rng(seed)
    t = ch_basis.tables(0)
    ns = len(ch_basis.elements)
    ctilde = rng.normal(size=(ns, t.n_products))
    ctilde[rng.random(ctilde.shape) < sparsity] = 0.0
    tree = build_product_tree(t.product_index, t.product_order, ctilde)
    assert tree.n_products == int(np.count_nonzero(ctilde))
    n_A = ns * ch_basis.n_slot
    seg = tree.segments
    n_int = max(int(np.max(seg[:, 4] - seg[:, 3])), 1)
    for z in range(ns):
        At = np.zeros((n_A, WIDTH))
        At[:, :used] = rng.normal(size=(n_A, used))
        dEdAt = np.zeros((n_A, WIDTH))
        energy = np.empty((1, WIDTH))
        value, adj = np.empty((n_int, WIDTH)), np.empty((n_int, WIDTH))
        _tree_sweep(
            At, tree.slot, tree.coeff, tree.child_start, tree.child_mid, tree.child_end,
            tree.internal, tree.child_ipos, seg[z], value, adj, np.empty((4, WIDTH)),
            dEdAt, energy,
        )  # fmt: skip
        for w in range(used):
            E, grad = _direct(ctilde[z], t.product_index, t.product_order, At[:, w])
            assert energy[0, w] == pytest.approx(E, rel=1e-12, abs=1e-12)
            np.testing.assert_allclose(dEdAt[:, w], grad, rtol=1e-11, atol=1e-11)
        assert np.all(energy[0, used:] == 0.0)
        # ∂E/∂A at A = 0 is the coefficient of each order-1 product, nothing else
        order1 = np.zeros(n_A)
        for v in np.flatnonzero((t.product_order == 1) & (ctilde[z] != 0)):
            order1[t.product_index[v, 0]] += ctilde[z, v]
        for w in range(used, WIDTH):
            np.testing.assert_allclose(dEdAt[:, w], order1, rtol=1e-13, atol=0)


def test_tree_shares_prefixes(ch_basis):
    """Fewer nodes than products × order: prefixes are stored once."""
    t = ch_basis.tables(0)
    ctilde = np.ones((len(ch_basis.elements), t.n_products))
    tree = build_product_tree(t.product_index, t.product_order, ctilde)
    n_factors = int(t.product_order.sum()) * len(ch_basis.elements)
    assert tree.n_nodes < 0.6 * n_factors
    # every node's parent comes first and children ranges are consistent
    nonroot = tree.parent >= 0
    assert np.all(tree.parent[nonroot] < np.flatnonzero(nonroot))
    k = np.flatnonzero(nonroot)
    assert np.all(tree.child_start[tree.parent[k]] <= k)
    assert np.all(k < tree.child_end[tree.parent[k]])


def test_atom_batches_cover_every_atom_once():
    species = np.array([0, 2, 2] + [0] * 17 + [2])
    batches, bs = atom_batches(species, 3)
    assert batches.shape == (4, WIDTH)  # species 0: 18 atoms -> 3 batches; species 2: 3 -> 1
    got = batches[batches >= 0]
    assert sorted(got.tolist()) == list(range(len(species)))
    for b, z in zip(batches, bs, strict=True):
        assert np.all(species[b[b >= 0]] == z)


@pytest.mark.parametrize(
    "atoms",
    [
        molecule("CH4"),  # species O absent
        molecule("C6H6"),  # one species with fewer atoms than the other: padded batches
        Atoms("C", positions=[[0, 0, 0]]),  # no neighbours at all
        Atoms("CH2O", positions=[[0, 0, 0], [10, 0, 0], [10, 1.0, 0], [0, 0, 1.2]]),
    ],
    ids=["CH4", "C6H6", "single", "fragments"],
)
def test_predict_equals_design_rows(ch_basis, atoms):
    atoms = atoms.copy()
    atoms.rattle(0.05, seed=3)
    c = np.random.default_rng(4).normal(size=len(ch_basis)) * 0.1
    model = LinearACEModel(ch_basis, c)
    out = model.predict(atoms)
    rows = ch_basis.design_rows(atoms)
    assert out["energy"] == pytest.approx(rows.energy @ c, abs=1e-11)
    np.testing.assert_allclose(out["forces"], rows.forces @ c, atol=1e-11)


def test_species_without_coefficients_and_all_zero_model(ch_basis):
    """A central species whose coefficients are all zero has an empty trie (and so does an
    all-zero model): its atoms get exactly zero energy and the other species are unaffected."""
    rng = np.random.default_rng(8)
    K = ch_basis.n_functions_per_species
    c = rng.normal(size=len(ch_basis)) * 0.1
    c[:K] = 0.0  # species H (elements sorted by Z: H, C, O)
    atoms = molecule("CH3CH2OH")
    atoms.rattle(0.05, seed=9)
    out = LinearACEModel(ch_basis, c).predict(atoms)
    rows = ch_basis.design_rows(atoms)
    assert out["energy"] == pytest.approx(rows.energy @ c, abs=1e-11)
    np.testing.assert_allclose(out["forces"], rows.forces @ c, atol=1e-11)
    h = np.array(atoms.get_chemical_symbols()) == "H"
    assert np.all(out["energies"][h] == 0.0)
    zero = LinearACEModel(ch_basis, np.zeros(len(ch_basis))).predict(atoms)
    assert zero["energy"] == 0.0 and np.all(zero["forces"] == 0.0)


def test_threads_give_identical_results(ch_basis):
    big = molecule("C6H6")
    big.cell = [6.0, 6.0, 4.0]
    big = big.repeat((2, 2, 2))  # 96 atoms, several batches per species
    big.positions += np.random.default_rng(5).normal(scale=0.03, size=big.positions.shape)
    big.center(vacuum=3.0)
    c = np.random.default_rng(6).normal(size=len(ch_basis)) * 0.1
    model = LinearACEModel(ch_basis, c)
    previous = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = model.predict(big)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = model.predict(big)
    finally:
        numba.set_num_threads(previous)
    assert one["energy"] == two["energy"]
    np.testing.assert_array_equal(one["forces"], two["forces"])
    rows = ch_basis.design_rows(big)
    np.testing.assert_allclose(one["forces"], rows.forces @ c, atol=1e-10)
