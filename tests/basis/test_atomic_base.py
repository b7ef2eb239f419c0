"""``ACEBasis.atomic_base_with_gradients``: many structures in one sweep, gradients checked
against finite differences (issue 6, the featomic comparison's content)."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule

from ace_ref import ACEBasis


@pytest.fixture(scope="module")
def basis():
    return ACEBasis(["H", "C", "O", "Si"], 2, max_n=[4, 3], max_l=[0, 2], r_cut=3.2, cache_dir=None)


def _structures():
    water = molecule("H2O")
    ethanol = molecule("CH3CH2OH")
    ethanol.rattle(0.05, seed=3)
    si = bulk("Si", "diamond", a=5.43) * (1, 1, 2)  # periodic, with images of atoms themselves
    si.rattle(0.05, seed=4)
    small = Atoms("Si", cell=np.eye(3) * 3.0, pbc=True)  # only self-image pairs
    return [water, ethanol, si, small]


def _dense_jacobian(result, k, n_atoms_k):
    """∂A_i/∂r_m for the atoms of structure k: (n_k, n_A, n_k, 3)."""
    a0 = result.structure_offsets[k]
    n_A = result.values.shape[1]
    J = np.zeros((n_atoms_k, n_A, n_atoms_k, 3))
    for i in range(n_atoms_k):
        J[i, :, i] += result.self_gradients[a0 + i]
    for p in range(len(result.first)):
        i, j = result.first[p] - a0, result.second[p] - a0
        if 0 <= i < n_atoms_k:
            s = result.second_species[p]
            block = slice(s * result.n_slot, (s + 1) * result.n_slot)
            J[i, block, j] += result.pair_gradients[p]
    return J


def test_batch_values_equal_one_structure_at_a_time(basis):
    structures = _structures()
    result = basis.atomic_base_with_gradients(structures)
    assert result.structure_offsets.tolist() == np.cumsum([0, *map(len, structures)]).tolist()
    for k, atoms in enumerate(structures):
        a, b = result.structure_offsets[k], result.structure_offsets[k + 1]
        np.testing.assert_array_equal(result.values[a:b], basis.atomic_base(atoms))
        single = basis.atomic_base_with_gradients(atoms)
        np.testing.assert_array_equal(single.self_gradients, result.self_gradients[a:b])


def test_gradients_match_finite_differences(basis):
    structures = _structures()
    result = basis.atomic_base_with_gradients(structures)
    h = 1e-5
    for k, atoms in enumerate(structures):
        n = len(atoms)
        J = _dense_jacobian(result, k, n)
        for m in range(n):
            for c in range(3):
                plus, minus = atoms.copy(), atoms.copy()
                plus.positions[m, c] += h
                minus.positions[m, c] -= h
                fd = (basis.atomic_base(plus) - basis.atomic_base(minus)) / (2 * h)
                np.testing.assert_allclose(J[:, :, m, c], fd, atol=2e-7, err_msg=f"{k} {m} {c}")


def test_bad_structures_are_named(basis):
    with pytest.raises(ValueError, match="structure 1: atom 0 is Fe"):
        basis.atomic_base_with_gradients([molecule("H2O"), Atoms("Fe", positions=[[0, 0, 0]])])
    empty = basis.atomic_base_with_gradients([])
    assert empty.values.shape == (0, len(basis.elements) * basis.n_slot)
