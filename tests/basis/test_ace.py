"""ACEBasis: sizes, symmetry, exact derivatives, body order, bad input."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule
from hypothesis import given, settings
from hypothesis import strategies as st

from ace_ref import ACEBasis
from ace_ref.coupling.rotations import random_o3, wigner_d_real
from tests.finite_differences import assert_force_rows_match, assert_virial_rows_match
from tests.structures import random_cluster


@pytest.fixture(scope="module")
def chon_basis(coupling_cache):
    return ACEBasis(
        ["C", "H", "O"],
        order=3,
        max_n=[5, 3, 2],
        max_l=[0, 3, 2],
        r_cut=4.0,
        cache_dir=coupling_cache,
    )


@pytest.fixture(scope="module")
def si_basis(coupling_cache):
    return ACEBasis(
        "Si",
        order=4,
        max_n=[4, 3, 2, 1],
        max_l=[0, 3, 2, 1],
        r_cut=4.0,
        radial="polynomial",
        cache_dir=coupling_cache,
    )


def _molecule(seed=0):
    atoms = molecule("CH3CH2OH")
    atoms.rattle(0.1, seed=seed)
    return atoms


def _si_box(seed=0, repeat=1):
    atoms = bulk("Si", "diamond", a=5.43, cubic=False).repeat(repeat)
    atoms.rattle(0.15, seed=seed)
    return atoms


# ---------------------------------------------------------------- sizes
def test_703_functions_pacemaker_spec(coupling_cache):
    basis = ACEBasis("Si", order=3, max_n=[8, 6, 4], max_l=[0, 6, 4], cache_dir=coupling_cache)
    assert len(basis) == 703
    assert basis.counts_by_order() == {1: 8, 2: 147, 3: 548}


def test_size_equals_sum_of_character_formula_counts(chon_basis):
    from ace_ref.coupling.symmetric import o3_multiplicity

    expected = 0
    for nu in range(1, 4):
        for combo, sizes, _ in chon_basis.nl_tuples(nu):
            groups, pos = [], 0
            for s in sizes:
                groups.append((combo[pos][2], s))
                pos += s
            expected += o3_multiplicity(groups, 0, 1)
    assert chon_basis.n_functions_per_species == expected
    assert len(chon_basis) == 3 * expected
    text = chon_basis.describe()
    assert f"{len(chon_basis)} linear coefficients" in text


def test_total_degree_is_exact_rational():
    from fractions import Fraction

    basis = ACEBasis(
        "Si", order=2, max_degree=[6, Fraction(13, 2)], w_L=Fraction(3, 2), cache_dir=None
    )
    for lab in basis.tables(0).labels:
        deg = sum(Fraction(n) + Fraction(3, 2) * l for _, n, l in lab["nl"])
        assert deg <= (6 if lab["order"] == 1 else Fraction(13, 2))
    # a degree exactly on the boundary is kept: (n=2,l=1)+(n=2,l=1) = 2*(2+3/2) = 7 > 13/2,
    # (1,1)+(2,1) = 2.5 + 3.5 = 6 ≤ 6.5 kept
    nls = {tuple(map(tuple, lab["nl"])) for lab in basis.tables(0).labels}
    assert (("Si", 1, 1), ("Si", 2, 1)) in nls
    assert (("Si", 2, 1), ("Si", 2, 1)) not in nls


# ---------------------------------------------------------------- invariance
@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 10_000), improper=st.booleans())
def test_invariance_rotation_reflection_translation(chon_basis, seed, improper):
    atoms = _molecule(seed % 7)
    B = chon_basis.features(atoms)
    rng = np.random.default_rng(seed)
    Q = random_o3(rng, improper=improper)
    moved = atoms.copy()
    moved.positions = atoms.positions @ Q.T + rng.normal(size=3) * 3.0
    np.testing.assert_allclose(chon_basis.features(moved), B, atol=1e-10 * np.abs(B).max())
    assert np.abs(B).max() > 1e-3


def test_permutation_of_same_species_atoms(chon_basis):
    atoms = _molecule(3)
    B = chon_basis.features(atoms)
    perm = np.arange(len(atoms))
    h = [i for i, s in enumerate(atoms.get_chemical_symbols()) if s == "H"]
    perm[h] = np.roll(h, 2)
    np.testing.assert_allclose(chon_basis.features(atoms[perm]), B[perm], atol=1e-12)


def test_periodic_rewrapping_and_small_cell(si_basis):
    atoms = _si_box(1)  # 2-atom primitive cell, much smaller than the cutoff
    B = si_basis.features(atoms)
    shifted = atoms.copy()
    shifted.positions += np.array([[7.1, -3.3, 12.0]])
    shifted.wrap()
    np.testing.assert_allclose(si_basis.features(shifted), B, atol=1e-10)
    # a 2x2x2 supercell has the same per-atom features, repeated
    big = atoms.repeat(2)
    np.testing.assert_allclose(si_basis.features(big), np.tile(B, (8, 1)), atol=1e-10)
    # rotating atoms and cell together
    Q = random_o3(np.random.default_rng(2), improper=True)
    rot = atoms.copy()
    rot.set_cell(atoms.cell.array @ Q.T, scale_atoms=False)
    rot.positions = atoms.positions @ Q.T
    np.testing.assert_allclose(si_basis.features(rot), B, atol=1e-10)


@pytest.mark.parametrize("L", [1, 2])
def test_equivariant_features_transform_with_wigner_d(chon_basis, L):
    atoms = _molecule(1)
    F = chon_basis.features(atoms, L=L)
    assert F.shape[1] > 0 and F.shape[2] == 2 * L + 1
    rng = np.random.default_rng(L)
    for improper in (False, True):
        Q = random_o3(rng, improper=improper)
        moved = atoms.copy()
        moved.positions = atoms.positions @ Q.T
        expected = F @ wigner_d_real(L, Q).T
        np.testing.assert_allclose(
            chon_basis.features(moved, L=L), expected, atol=1e-10 * np.abs(F).max()
        )


# ---------------------------------------------------------------- derivatives
def test_force_rows_are_exact_derivatives(chon_basis):
    atoms = _molecule(5)
    rows = chon_basis.design_rows(atoms)
    c = np.random.default_rng(0).normal(size=len(chon_basis))
    np.testing.assert_allclose(rows.energy, chon_basis.features(atoms).sum(axis=0), rtol=1e-12)
    assert_force_rows_match(chon_basis, atoms, c)


def test_virial_rows_are_strain_derivatives(si_basis):
    atoms = _si_box(4, repeat=(2, 1, 1))
    c = np.random.default_rng(1).normal(size=len(si_basis))
    assert_virial_rows_match(si_basis, atoms, c)
    # forces in a periodic crystal sum to zero
    F = np.einsum("iak,k->ia", si_basis.design_rows(atoms).forces, c)
    np.testing.assert_allclose(F.sum(axis=0), 0, atol=1e-10 * np.abs(F).max())
    assert_force_rows_match(si_basis, atoms, c)


def test_smooth_at_cutoff():
    basis = ACEBasis(["H"], order=2, max_n=[4, 3], max_l=[0, 2], r_cut=3.0, cache_dir=None)
    c = np.random.default_rng(0).normal(size=len(basis))
    energies, forces = [], []
    for d in (3.0 - 1e-3, 3.0 - 1e-4, 3.0 + 1e-4):
        atoms = Atoms("H2", positions=[[0, 0, 0], [d, 0, 0]])
        rows = basis.design_rows(atoms)
        energies.append(rows.energy @ c)
        forces.append(rows.forces[1, 0] @ c)
    assert energies[-1] == 0.0 and forces[-1] == 0.0
    assert abs(energies[1]) < 1e-12 and abs(forces[1]) < 1e-8
    assert abs(energies[0]) < 1e-8 and abs(forces[0]) < 1e-5


# ---------------------------------------------------------------- body order
def _cluster_energy(basis, atoms, c, subset):
    if not subset:
        return 0.0
    return basis.features(atoms[list(subset)]).sum(axis=0) @ c


def _many_body_term(basis, atoms, c):
    """V_M(S) = Σ_{T⊆S} (−1)^{|S|−|T|} E(T) for S = all atoms."""
    n = len(atoms)
    total = 0.0
    for k in range(n + 1):
        for T in itertools.combinations(range(n), k):
            total += (-1) ** (n - k) * _cluster_energy(basis, atoms, c, T)
    return total


@pytest.mark.parametrize("order", [1, 2, 3])
def test_body_order_inclusion_exclusion(order):
    basis = ACEBasis(
        ["H"],
        order=order,
        max_n=[3, 2, 2][:order],
        max_l=[0, 2, 1][:order],
        r_cut=6.0,
        cache_dir=None,
    )
    rng = np.random.default_rng(order)
    c = rng.normal(size=len(basis))
    atoms = random_cluster(rng, f"H{order + 2}", box=2.0, min_distance=0.0)
    scale = np.abs(basis.features(atoms)).sum() * np.abs(c).max()
    # M = ν + 1 atoms: non-zero; M = ν + 2: zero up to round-off
    at_limit = _many_body_term(basis, atoms[: order + 1], c)
    above = _many_body_term(basis, atoms, c)
    assert abs(at_limit) > 1e-6 * scale
    assert abs(above) < 1e-11 * scale


# ---------------------------------------------------------------- bad input
def test_bad_input_messages(chon_basis, coupling_cache):
    with pytest.raises(ValueError, match="Xx"):
        ACEBasis(["Xx"], order=2, max_n=2, max_l=1)
    with pytest.raises(ValueError, match="cutoff"):
        ACEBasis("H", order=2, max_n=2, max_l=1, r_cut=-1.0)
    with pytest.raises(ValueError, match="order"):
        ACEBasis("H", order=0, max_n=2, max_l=1)
    with pytest.raises(ValueError, match=r"max_n must have one entry per correlation order"):
        ACEBasis("H", order=3, max_n=[2, 2], max_l=1)
    with pytest.raises(ValueError, match=r"\d+ basis functions"):
        ACEBasis(["C", "H", "O"], order=5, max_n=10, max_l=8, cache_dir=coupling_cache)
    atoms = _molecule()
    atoms.symbols[0] = "N"
    with pytest.raises(ValueError, match="atom 0 is N"):
        chon_basis.features(atoms)
    atoms = _molecule()
    atoms.positions[2] = np.nan
    with pytest.raises(ValueError, match="atom 2 has a non-finite position"):
        chon_basis.features(atoms)
    atoms = _molecule()
    atoms.positions[4] = atoms.positions[1]
    with pytest.raises(ValueError, match="atoms 1 and 4 overlap"):
        chon_basis.design_rows(atoms)


def test_pair_cutoffs_are_respected():
    basis = ACEBasis(
        ["H", "O"],
        order=2,
        max_n=[3, 2],
        max_l=[0, 1],
        r_cut={("H", "H"): 2.0, ("H", "O"): 3.5, ("O", "O"): 3.0},
        cache_dir=None,
    )
    assert basis.r_cut.tolist() == [[2.0, 3.5], [3.5, 3.0]]
    # H–H at 2.5 Å is beyond its 2.0 Å cutoff: features equal those of isolated atoms (zero)
    far = Atoms("H2", positions=[[0, 0, 0], [2.5, 0, 0]])
    assert np.all(basis.features(far) == 0)
    # H–O at 2.5 Å is inside its 3.5 Å cutoff
    assert np.abs(basis.features(Atoms("HO", positions=[[0, 0, 0], [2.5, 0, 0]]))).max() > 0
    with pytest.raises(ValueError, match="not in"):
        ACEBasis(["H"], order=1, max_n=[2], max_l=[0], r_cut={("H", "C"): 2.0})


def test_l_max_is_the_triangle_bound_and_larger_L_needs_max_output_L():
    """Invariants of order ν with total degree D never need l > (D − ν)/(2 w_L); the basis
    sizes its spherical harmonics by that (plus the largest equivariant output L)."""
    b = ACEBasis(["H", "C", "O"], 3, max_degree=[11, 11, 9], w_L=1, max_output_L=0)
    assert b.l_max == 4  # ν = 2: (11 − 2)/2 = 4.5; ν = 3: (9 − 3)/2 = 3
    used = {l for t in b.tables(0).labels for _, _, l in t["nl"]}
    assert max(used) == 4
    assert len(b) == len(ACEBasis(["H", "C", "O"], 3, max_degree=[11, 11, 9], w_L=1))
    with pytest.raises(ValueError, match="larger max_output_L"):
        b.tables(1)
    assert ACEBasis("Si", 2, max_degree=8, w_L=1, max_output_L=2).l_max == 4  # (8 − 2 + 2)/2
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="max_output_L must be an integer"):
            ACEBasis("Si", 2, max_degree=8, max_output_L=bad)
