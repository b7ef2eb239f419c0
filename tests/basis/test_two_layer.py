"""Two-layer linear message passing (multi-ACE) basis: exact derivatives, symmetry, receptive
field, body order, span. Fitting and model files: models/test_two_layer.py."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms

from ace_ref import ACEBasis
from ace_ref.basis.two_layer import TwoLayerBasis
from ace_ref.coupling.rotations import random_o3
from ace_ref.models.two_layer import TwoLayerModel
from ace_ref.verify.body_order import body_order
from tests.finite_differences import assert_force_rows_match, assert_virial_rows_match
from tests.structures import random_cluster

RC = 3.0


@pytest.fixture(scope="module")
def basis(coupling_cache):
    """ν1 = 2 channels with L1 ≤ 1, ν2 ≤ 2 products: every code path (pseudo-tensors, both
    shells, identical factors)."""
    layer1 = ACEBasis(
        ["H", "O"], order=2, max_n=[2, 2], max_l=[0, 1], r_cut=RC, cache_dir=coupling_cache
    )
    return TwoLayerBasis(layer1, lmax_hidden=1, max_n=2, order=2, max_degree=[5, 6],
                         cache_dir=coupling_cache)  # fmt: skip


def test_sizes_and_description(basis):
    assert len(basis) == 2 * basis.n_functions_per_species
    assert basis.n_layer1_per_species == basis.layer1.n_functions_per_species
    assert basis.body_order() == 1 + 2 * 3
    assert basis.receptive_field == pytest.approx(2 * RC)
    text = basis.describe()
    assert "receptive field 6 Å" in text and "body order 7" in text
    assert len(basis.column_degrees()) == len(basis)


def test_forces_and_virial_are_exact_derivatives(basis):
    rng = np.random.default_rng(0)
    # pairs inside and beyond r_cut: both shells contribute
    atoms = random_cluster(rng, "H4O2", box=4.2, min_distance=0.8)
    rows = basis.design_rows(atoms)
    np.testing.assert_allclose(rows.energy, basis.features(atoms).sum(axis=0), atol=1e-12)
    c = rng.normal(size=len(basis))
    assert_force_rows_match(basis, atoms, c)
    # periodic: virial rows are strain derivatives, forces sum to zero
    cell = random_cluster(rng, "H3O", box=3.2, min_distance=0.0, cell=np.eye(3) * 3.4, pbc=True)
    np.testing.assert_allclose((basis.design_rows(cell).forces @ c).sum(axis=0), 0, atol=1e-9)
    assert_virial_rows_match(basis, cell, c, components=[(0, 0), (1, 2), (2, 1)])


def test_invariance_rotation_reflection_permutation(basis):
    rng = np.random.default_rng(1)
    atoms = random_cluster(rng, "H4O2", box=4.0, min_distance=0.8)
    X = basis.features(atoms)
    assert np.abs(X).max() > 1e-3
    for improper in (False, True):
        Q = random_o3(rng, improper=improper)
        moved = atoms.copy()
        moved.positions = atoms.positions @ Q.T + rng.normal(size=3)
        np.testing.assert_allclose(basis.features(moved), X, atol=1e-11 * np.abs(X).max())
    perm = np.array([3, 1, 0, 2, 5, 4])  # H ↔ H and O ↔ O
    np.testing.assert_allclose(basis.features(atoms[perm]), X[perm], atol=1e-12)


def test_receptive_field_is_two_cutoffs(basis):
    """Atoms on a line 0.8 r_cut apart: atom 0 feels atom 2 (1.6 r_cut, through B¹ of atom
    1) but not atom 3 (2.4 r_cut); a single-layer ACE basis feels neither."""
    d = 0.8 * RC
    atoms = Atoms("HOHO", positions=[[k * d, 0.0, 0.0] for k in range(4)])

    def moved(index):
        out = atoms.copy()
        out.positions[index] += [0.05, 0.1, -0.07]
        return out

    X = basis.features(atoms)[0]
    assert np.abs(basis.features(moved(2))[0] - X).max() > 1e-4 * np.abs(X).max()
    assert np.abs(basis.features(moved(3))[0] - X).max() == 0.0
    single = basis.layer1.features(atoms)[0]
    assert np.abs(basis.layer1.features(moved(2))[0] - single).max() == 0.0


@pytest.mark.parametrize("nu1,nu2", [(1, 1), (1, 2), (2, 1)])
def test_body_order_inclusion_exclusion(coupling_cache, nu1, nu2):
    """V_M vanishes above 1 + ν2 (ν1 + 1) bodies and not at it."""
    layer1 = ACEBasis(["H"], order=nu1, max_n=[2, 2][:nu1], max_l=[0, 1][:nu1], r_cut=4.0,
                      cache_dir=coupling_cache)  # fmt: skip
    b = TwoLayerBasis(layer1, lmax_hidden=1, max_n=2, order=nu2, max_degree=[4, 4][:nu2],
                      cache_dir=coupling_cache)  # fmt: skip
    expected = 1 + nu2 * (nu1 + 1)
    assert b.body_order() == expected
    rng = np.random.default_rng(nu1 + 3 * nu2)
    model = TwoLayerModel(b, rng.normal(size=len(b)))
    cluster = random_cluster(rng, f"H{expected + 1}", box=1.9, min_distance=0.6)
    spectrum = body_order(model.calculator(), cluster, progress=False)
    assert spectrum.apparent_body_order() == expected
    assert spectrum.check(expected).passed


def test_bad_options(basis):
    with pytest.raises(TypeError, match="ACEBasis"):
        TwoLayerBasis("H")
    with pytest.raises(ValueError, match="lmax_hidden"):
        TwoLayerBasis(basis.layer1, lmax_hidden=-1)
    with pytest.raises(NotImplementedError, match="invariant"):
        basis.features(Atoms("H2", positions=[[0, 0, 0], [1, 0, 0]]), L=1)


def test_two_layer_features_lie_outside_single_layer_ace(coupling_cache):
    """span_inclusion on any two feature maps: the layer-1 readout of a two-layer basis lies
    in the span of a single-layer ACE basis (same cutoff, higher body order), the message-
    passing features do not — even on clusters where every atom sees every other one."""
    from ace_ref.verify.span import span_inclusion

    layer1 = ACEBasis(["H", "O"], order=1, max_n=[3], max_l=[0], r_cut=RC, cache_dir=coupling_cache)
    two = TwoLayerBasis(layer1, lmax_hidden=1, max_n=3, order=1, constant_channel=False,
                        cache_dir=coupling_cache)  # fmt: skip
    full = ACEBasis(["H", "O"], order=3, max_n=[3, 3, 3], max_l=[0, 2, 2], r_cut=RC,
                    cache_dir=coupling_cache)  # fmt: skip
    assert span_inclusion(layer1, full, blocks=False).included
    report = span_inclusion(two, full, blocks=False)
    assert not report.included
    for s in report.species:
        assert s.excess > 1e6
        # everything but the 3 + 3 layer-1 readout functions is new
        assert s.rank_joint - s.rank_full == s.n_sparse - layer1.n_functions_per_species
