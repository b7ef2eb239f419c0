"""User-supplied radials R^{z_i z_j}_{nl}(r): callable and tabulated, species-resolved and
species-embedded, through ACEBasis, the sparsifications, the kernels, the fit and the model."""

from __future__ import annotations

import numpy as np
import pytest

from ace_ref import ACEBasis, LinearACEModel
from ace_ref.one_particle.pair_radials import (
    CallableRadials,
    TabulatedRadials,
    pair_radials_from_dict,
)
from ace_ref.one_particle.radial import BesselRadial
from tests.structures import random_cluster

ELEMENTS = ["H", "O"]
SPEC = dict(max_n=[3, 2, 2], max_l=[0, 2, 2])
BESSEL = BesselRadial(3, 3.5)


def bessel_for_every_l(r, center, neighbour):
    return BESSEL(r)  # (m, n_max): the same for every l


def l_and_pair_dependent(r, center, neighbour):
    """R_nl^{ab}(r) = w_ab (1 + l/3) R_n(r)·exp(−l r/4) (and its derivative)."""
    w = {"H": 0.7, "O": -1.3}[neighbour] * {"H": 1.0, "O": 0.5}[center]
    R, dR = BESSEL(r)
    l = np.arange(3)[None, None, :]
    g = np.exp(-l * r[:, None, None] / 4) * (1 + l / 3) * w
    dg = -l / 4 * g
    return R[:, :, None] * g, dR[:, :, None] * g + R[:, :, None] * dg


@pytest.fixture(scope="module")
def structures():
    rng = np.random.default_rng(7)
    return [
        random_cluster(rng, ["H", "H", "O", "O", "H", "O"], box=2.6, min_distance=0.8)
        for _ in range(3)
    ]


def test_callable_radials_reproduce_the_builtin_basis(structures, coupling_cache):
    builtin = ACEBasis(ELEMENTS, 3, r_cut=3.5, cache_dir=coupling_cache, **SPEC)
    radials = CallableRadials(ELEMENTS, 3, 2, 3.5, bessel_for_every_l)
    user = ACEBasis(ELEMENTS, 3, radial=radials, cache_dir=coupling_cache, **SPEC)
    assert len(user) == len(builtin)
    for atoms in structures:
        np.testing.assert_allclose(user.features(atoms), builtin.features(atoms), atol=1e-14)
        a, b = user.design_rows(atoms), builtin.design_rows(atoms)
        np.testing.assert_allclose(a.forces, b.forces, atol=1e-13)
        np.testing.assert_allclose(a.virial, b.virial, atol=1e-13)
    g1, g0 = (
        user.atomic_base_with_gradients(structures),
        builtin.atomic_base_with_gradients(structures),
    )
    np.testing.assert_allclose(g1.values, g0.values, atol=1e-14)
    np.testing.assert_allclose(g1.self_gradients, g0.self_gradients, atol=1e-13)
    assert user.fingerprint() != builtin.fingerprint()


@pytest.mark.parametrize("embedded", [False, True])
def test_forces_are_derivatives_of_l_dependent_radials(structures, embedded, coupling_cache):
    radials = CallableRadials(ELEMENTS, 3, 2, 3.5, l_and_pair_dependent, species_embedded=embedded)
    basis = ACEBasis(ELEMENTS, 3, radial=radials, channels="uvu", cache_dir=coupling_cache, **SPEC)
    if embedded:  # one block of the atomic base: fewer functions than per-species blocks
        assert basis.n_neighbour_slots == 1
        assert {f[0] for lab in basis.tables(0).labels for f in lab["nl"]} == {"*"}
    c = np.random.default_rng(1).normal(size=len(basis))
    atoms = structures[0]
    F = basis.design_rows(atoms).forces @ c
    h = 1e-6
    for i, k in ((0, 0), (3, 2)):
        plus, minus = atoms.copy(), atoms.copy()
        plus.positions[i, k] += h
        minus.positions[i, k] -= h
        fd = -(basis.features(plus).sum(0) - basis.features(minus).sum(0)) @ c / (2 * h)
        assert F[i, k] == pytest.approx(fd, rel=1e-6, abs=1e-8)


def test_embedded_basis_is_the_resolved_basis_with_species_summed(structures, coupling_cache):
    """Order 1 (A_{i,n00} itself): embedded = Σ over the neighbour blocks of the resolved
    basis whose radials carry the same species weights."""
    kw = dict(max_n=[3], max_l=[0], cache_dir=coupling_cache)
    emb = ACEBasis(
        ELEMENTS, 1, radial=CallableRadials(ELEMENTS, 3, 2, 3.5, l_and_pair_dependent, True), **kw
    )
    res = ACEBasis(
        ELEMENTS, 1, radial=CallableRadials(ELEMENTS, 3, 2, 3.5, l_and_pair_dependent), **kw
    )
    for atoms in structures:
        Fe, Fr = emb.features(atoms), res.features(atoms)
        for s in range(2):
            e = Fe[:, s * 3 : (s + 1) * 3]
            r = Fr[:, s * 6 : (s + 1) * 6]
            np.testing.assert_allclose(e, r[:, :3] + r[:, 3:], atol=1e-14)


def test_tabulated_radials_state_their_accuracy_and_round_trip(structures, coupling_cache):
    radials = CallableRadials(ELEMENTS, 3, 2, 3.5, l_and_pair_dependent)
    tab = TabulatedRadials.from_radials(radials, n_points=1001)
    acc = tab.accuracy
    assert acc["n_points"] == 1001 and 0 < acc["value_rel"] < 1e-8
    assert 0 < acc["derivative_rel"] < 1e-5
    r = np.linspace(0.3, 3.6, 777)
    R0, _ = radials.evaluate(r, "O", "H")
    R1, _ = tab.evaluate(r, "O", "H")
    assert np.abs(R1 - R0).max() <= acc["value_rel"] * np.abs(R0).max() * 1.01
    basis = ACEBasis(ELEMENTS, 3, radial=tab, cache_dir=coupling_cache, **SPEC)
    again = ACEBasis.from_dict(basis.to_dict(), cache_dir=coupling_cache)
    assert again.fingerprint() == basis.fingerprint()
    np.testing.assert_array_equal(again.features(structures[0]), basis.features(structures[0]))
    # the derivative returned is the interpolant's own: forces consistent with energies
    h = 1e-6
    R_p, _ = tab.evaluate(np.array([1.2345 + h]), "H", "O")
    R_m, _ = tab.evaluate(np.array([1.2345 - h]), "H", "O")
    _, dR = tab.evaluate(np.array([1.2345]), "H", "O")
    np.testing.assert_allclose(dR, (R_p - R_m) / (2 * h), rtol=1e-6, atol=1e-9)


def test_callable_radials_cannot_be_loaded_from_a_file(coupling_cache):
    radials = CallableRadials(ELEMENTS, 3, 2, 3.5, bessel_for_every_l, description="mine")
    basis = ACEBasis(ELEMENTS, 2, radial=radials, cache_dir=coupling_cache, max_n=3, max_l=2)
    d = basis.to_dict()
    assert d["radial"]["type"] == "callable" and len(d["radial"]["samples_sha256"]) == 64
    with pytest.raises(ValueError, match="tabulate"):
        pair_radials_from_dict(d["radial"])


def test_fit_and_model_on_user_radials(structures, coupling_cache):
    """A linear model on user radials predicts through the design rows, exactly."""
    radials = CallableRadials(ELEMENTS, 3, 2, 3.5, l_and_pair_dependent, species_embedded=True)
    basis = ACEBasis(ELEMENTS, 2, radial=radials, cache_dir=coupling_cache, max_n=3, max_l=2)
    c = np.random.default_rng(3).normal(size=len(basis))
    model = LinearACEModel(basis, c, {"H": -1.0, "O": -2.0})
    atoms = structures[1]
    p = model.predict(atoms)
    rows = basis.design_rows(atoms)
    assert p["energy"] == pytest.approx(rows.energy @ c - 3.0 - 6.0, abs=1e-12)
    np.testing.assert_allclose(p["forces"], rows.forces @ c, atol=1e-13)


def test_misfit_radials_are_refused(coupling_cache):
    small = CallableRadials(["H"], 2, 1, 3.0, bessel_for_every_l)
    with pytest.raises(ValueError, match="do not cover"):
        ACEBasis(ELEMENTS, 2, radial=small, max_n=2, max_l=1, cache_dir=coupling_cache)
    with pytest.raises(ValueError, match="n_max = 2"):
        ACEBasis(["H"], 2, radial=small, max_n=3, max_l=1, cache_dir=coupling_cache)
    with pytest.raises(ValueError, match="l_max = 1"):
        ACEBasis(["H"], 2, radial=small, max_n=2, max_l=2, cache_dir=coupling_cache)
    bad = CallableRadials(["H"], 2, 1, 3.0, lambda r, a, b: (np.zeros((len(r), 5)),) * 2)
    basis = ACEBasis(["H"], 1, radial=bad, max_n=2, max_l=0, cache_dir=coupling_cache)
    from ase import Atoms

    with pytest.raises(ValueError, match="shape"):
        basis.features(Atoms("H2", positions=[[0, 0, 0], [0, 0, 1.0]]))
