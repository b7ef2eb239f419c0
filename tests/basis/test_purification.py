"""Purified (self-interaction-free) bases: exact distinct-neighbour sums, pure body order,
symmetry, exact derivatives, files, refusals."""

from __future__ import annotations

import itertools
from math import comb, factorial

import numpy as np
import pytest
from ase import Atoms
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ace_ref import ACEBasis
from ace_ref.basis.purification import mobius, set_partitions
from ace_ref.coupling.rotations import random_o3
from tests.finite_differences import assert_force_rows_match, assert_virial_rows_match
from tests.structures import random_cluster

SPEC = dict(order=3, max_degree=[6, 6, 5], r_cut=4.0)
BELL = [1, 1, 2, 5, 15, 52, 203]


@pytest.fixture(scope="module")
def bases(coupling_cache):
    plain = ACEBasis(["C", "H"], cache_dir=coupling_cache, **SPEC)
    pure = ACEBasis(["C", "H"], cache_dir=coupling_cache, purify=True, **SPEC)
    return plain, pure


def _environment(rng, k: int, symbols=("C", "H")) -> Atoms:
    """A C atom at the origin with ``k`` neighbours inside the cutoff (and apart)."""
    names = "C" + "".join(rng.choice(list(symbols), k))
    atoms = random_cluster(rng, names, box=2.2, min_distance=0.9)
    atoms.positions -= atoms.positions[0]
    return atoms


# ---------------------------------------------------------------- the partition lattice
@pytest.mark.parametrize("n", range(7))
def test_set_partitions_are_the_bell_number_many_distinct_partitions(n):
    parts = set_partitions(n)
    assert len(parts) == BELL[n]
    canonical = {tuple(sorted(tuple(sorted(b)) for b in p)) for p in parts}
    assert len(canonical) == BELL[n]
    for p in parts:
        assert sorted(x for b in p for x in b) == list(range(n))


@pytest.mark.parametrize("n", range(1, 7))
def test_mobius_inversion_counts_injective_maps(n):
    # Σ_π μ(π) Π_B m = number of injective maps of n factors into m neighbours, m!/(m−n)!
    # (every φ = 1: P_B = m for every block)
    for m in range(0, 8):
        total = sum(mobius(p) * m ** len(p) for p in set_partitions(n))
        expected = factorial(m) // factorial(m - n) if m >= n else 0
        assert total == expected


# ---------------------------------------------------------------- exactness
def _distinct_sum_features(plain: ACEBasis, atoms: Atoms) -> np.ndarray:
    """``B°_k = Σ_v C_kv Σ_{j_1..j_ν distinct} Π_t φ_{a_t}(r_{j_t})`` of atom 0, by brute force
    over ordered tuples of distinct neighbours (the definition, no Möbius inversion)."""
    species, i, j, D, offsets, pair_type = plain.pairs(atoms)
    phi, _ = plain.pair_basis(D, pair_type)
    mine = np.flatnonzero(i == 0)
    t = plain.tables(0)
    AA = np.zeros(t.n_products)
    nb = plain.n_slot
    for v in range(t.n_products):
        factors = t.product_index[v, : t.product_order[v]]
        total = 0.0
        for tup in itertools.permutations(mine, len(factors)):
            term = 1.0
            for a, p in zip(factors, tup, strict=True):
                s, idx = divmod(int(a), nb)
                term *= phi[p, idx] if species[j[p]] == s else 0.0
            total += term
        AA[v] = total
    return t.coupling_matrix @ AA


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(1, 4))
@example(seed=0, k=3)
def test_purified_features_are_the_distinct_neighbour_sums(bases, seed, k):
    plain, pure = bases
    atoms = _environment(np.random.default_rng(seed), k)
    expected = _distinct_sum_features(plain, atoms)
    carbon = pure.elements.index("C")
    got = pure.features(atoms)[0][pure.species_columns(carbon)]
    scale = max(np.abs(expected).max(), 1e-300)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12 * scale)
    # and it is not the plain basis (which counts repeated neighbours) when k ≥ 1
    with_repeats = plain.features(atoms)[0][plain.species_columns(carbon)]
    assert np.abs(with_repeats - got).max() > 1e-6 * scale


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(1, 5))
def test_order_nu_functions_are_pure_nu_plus_one_body(bases, seed, k):
    """Zero on fewer than ν neighbours; on k ≥ ν the sum of its values on the C(k, ν)
    environments of exactly ν of them (inclusion–exclusion with no other term)."""
    _, pure = bases
    atoms = _environment(np.random.default_rng(seed), k)
    cols = pure.species_columns(pure.elements.index("C"))
    orders = pure.column_orders()[cols]
    f = pure.features(atoms)[0][cols]
    scale = np.abs(f).max()
    for nu in (1, 2, 3):
        mine = orders == nu
        if k < nu:
            assert np.abs(f[mine]).max() <= 1e-14 * scale
            continue
        subsets = list(itertools.combinations(range(1, k + 1), nu))
        assert len(subsets) == comb(k, nu)
        total = sum(pure.features(atoms[[0, *S]])[0][cols][mine] for S in subsets)
        np.testing.assert_allclose(f[mine], total, rtol=0, atol=1e-12 * scale)
        assert np.abs(f[mine]).max() > 1e-8 * scale


def test_same_functions_count_labels_and_order_one(bases):
    plain, pure = bases
    assert len(pure) == len(plain)
    assert pure.tables(0).labels == plain.tables(0).labels
    assert len(pure.extra_slots) > 0 and pure.n_slot == plain.n_slot + len(pure.extra_slots)
    # order 1 has nothing to purify: identical features
    atoms = _environment(np.random.default_rng(3), 4)
    one = pure.column_orders() == 1
    np.testing.assert_allclose(pure.features(atoms)[:, one], plain.features(atoms)[:, one])


# ---------------------------------------------------------------- symmetry and derivatives
@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 10_000), improper=st.booleans())
def test_invariance_rotation_reflection_translation_permutation(bases, seed, improper):
    _, pure = bases
    rng = np.random.default_rng(seed)
    atoms = random_cluster(rng, "C2H4", box=3.0, min_distance=0.9)
    B = pure.features(atoms)
    Q = random_o3(rng, improper=improper)
    moved = atoms.copy()
    moved.positions = atoms.positions @ Q.T + rng.normal(size=3) * 3.0
    perm = rng.permutation(len(atoms))
    np.testing.assert_allclose(pure.features(moved[perm]), B[perm], atol=1e-10 * np.abs(B).max())


def test_force_and_virial_rows_are_exact_derivatives(bases):
    _, pure = bases
    rng = np.random.default_rng(7)
    atoms = random_cluster(rng, "C2H3", box=5.0, min_distance=1.0, cell=np.eye(3) * 5, pbc=True)
    c = rng.normal(size=len(pure))
    assert_force_rows_match(pure, atoms, c)
    assert_virial_rows_match(pure, atoms, c)
    F = pure.design_rows(atoms).forces @ c
    np.testing.assert_allclose(F.sum(axis=0), 0, atol=1e-10 * np.abs(F).max())


def test_batched_atomic_base_matches_per_structure(bases):
    _, pure = bases
    rng = np.random.default_rng(11)
    structures = [_environment(rng, k) for k in (2, 4)]
    batch = pure.atomic_base_with_gradients(structures)
    A = np.concatenate([pure.atomic_base(a) for a in structures])
    np.testing.assert_allclose(batch.values, A, atol=1e-14)


# ---------------------------------------------------------------- files and refusals
def test_round_trip_and_fingerprint(bases, coupling_cache):
    plain, pure = bases
    again = ACEBasis.from_dict(pure.to_dict(), cache_dir=coupling_cache)
    assert again.purify and again.fingerprint() == pure.fingerprint()
    assert pure.fingerprint() != plain.fingerprint()
    assert "purify" not in plain.to_dict()  # unpurified fingerprints unchanged
    assert "purified (self-interaction-free)" in pure.describe()


def test_refusals(bases):
    _, pure = bases
    with pytest.raises(ValueError, match="invariant features only; L = 1"):
        pure.features(_environment(np.random.default_rng(0), 2), L=1)
    with pytest.raises(ValueError, match="purify must be True or False"):
        ACEBasis(["H"], cache_dir=None, purify="yes", **SPEC)
    from ace_ref.basis.two_layer import TwoLayerBasis

    with pytest.raises(ValueError, match="first layer must not be purified"):
        TwoLayerBasis(pure, lmax_hidden=1, max_n=2, order=1)


def test_model_predicts_the_purified_polynomial_and_round_trips(bases, tmp_path, coupling_cache):
    from ace_ref import LinearACEModel
    from ace_ref.models.load import load
    from ace_ref.models.yace import YaceExportError

    _, pure = bases
    rng = np.random.default_rng(5)
    c = rng.normal(size=len(pure)) * 1e-2
    model = LinearACEModel(pure, c, {"C": -1.0, "H": -0.5})
    atoms = random_cluster(rng, "C3H3", box=3.0, min_distance=0.9)
    out = model.predict(atoms)
    rows = pure.design_rows(atoms)
    n_c = atoms.get_chemical_symbols().count("C")
    assert out["energy"] == pytest.approx(rows.energy @ c - 1.0 * n_c - 0.5 * (6 - n_c), abs=1e-10)
    np.testing.assert_allclose(out["forces"], rows.forces @ c, atol=1e-12)
    again = load(model.save(tmp_path / "pure.npz"), cache_dir=coupling_cache)
    assert again.basis.purify
    np.testing.assert_allclose(again.predict(atoms)["forces"], out["forces"], atol=1e-12)
    with pytest.raises(YaceExportError, match="purified"):
        model.export_yace(tmp_path / "pure.yace")
    assert not (tmp_path / "pure.yace").exists()
