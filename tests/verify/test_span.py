"""Span inclusion (ace_ref.verify.span): every single-layer sparsification lies in the span of
the full basis, numerically and algebraically; a wrong one is detected."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import molecule

from ace_ref import ACEBasis
from ace_ref.coupling.rotations import random_o3, wigner_d_real
from ace_ref.verify.span import coefficient_inclusion, span_inclusion
from tests.bases import SPARSIFICATIONS, SPARSIFY_SPEC


@pytest.mark.parametrize("name", list(SPARSIFICATIONS))
def test_span_inclusion_numerical_matches_exact(ho_full_basis, ho_sparsified_bases, name):
    """Every single-layer sparsification lies in the full span; the numerical rank test and
    the algebraic one agree on inclusion and on the unreachable blocks."""
    full, sparse = ho_full_basis, ho_sparsified_bases
    basis = sparse[name]
    exact = coefficient_inclusion(basis, full)
    report = span_inclusion(basis, full, seed=1)
    assert exact["included"] and report.included
    assert report.equal_span == exact["equal_span"] == (name == "chain")
    assert report.n_unreachable == exact["n_unreachable"]
    # per-block counts (first central species) equal the algebraic ones
    el = full.elements[0]
    for b in report.unreachable:
        key = tuple(sorted((full.elements.index(s), n, l) for s, n, l in b["nl"]))
        assert b["n_unreachable"] == exact["blocks"][key][0], b
    assert sum(b["n_unreachable"] for b in report.unreachable) == report.n_unreachable
    for s in report.species:
        assert s.rank_full == s.n_full  # the full basis is independent on the environments
        assert s.excess < 1e-2 and s.margin > 1e4  # clear verdicts
        assert s.element in full.elements
    assert el in report.summary()
    if name == "chain_L0":
        lost = report.unreachable_by_l()
        assert lost[(2, (1, 1))][0] == lost[(2, (1, 1))][1] > 0  # no angular 3-body term
    if name == "chain_L1":
        lost = {k: v for k, v in report.unreachable_by_l().items() if v[0]}
        assert set(lost) == {(2, (2, 2))}  # only the l = 2 pair correlations are lost


def test_equivariant_outputs_included(ho_full_basis, ho_sparsified_bases):
    full, sparse = ho_full_basis, ho_sparsified_bases
    report = span_inclusion(sparse["chain_L1"], full, L=1, seed=2)
    assert report.included and not report.equal_span
    assert (
        report.n_unreachable
        == coefficient_inclusion(sparse["chain_L1"], full, L=1)["n_unreachable"]
    )
    # the sparsified L = 1 features transform with D^1
    atoms = molecule("H2O")
    atoms.rattle(0.2, seed=3)
    F = sparse["chain_L1"].features(atoms, L=1)
    Q = random_o3(np.random.default_rng(0), improper=True)
    moved = atoms.copy()
    moved.positions = atoms.positions @ Q.T
    np.testing.assert_allclose(
        sparse["chain_L1"].features(moved, L=1),
        F @ wigner_d_real(1, Q).T,
        atol=1e-10 * np.abs(F).max(),
    )


@pytest.mark.parametrize(
    "wrong",
    [dict(radial="polynomial", coupling="chain", lmax_hidden=1), dict(r_cut=4.3, channels="uvu")],
)
def test_wrong_sparsification_is_detected(ho_full_basis, coupling_cache, wrong):
    """A 'sparsification' on another radial basis or cutoff is not in the full span."""
    full = ho_full_basis
    spec = {**SPARSIFY_SPEC, **wrong}
    basis = ACEBasis(["H", "O"], **spec, cache_dir=coupling_cache)
    report = span_inclusion(basis, full, seed=4)
    assert not report.included
    for s in report.species:
        assert s.excess > 1e6  # far above the round-off bound, not a borderline call
    with pytest.raises(ValueError, match="same atomic base"):
        coefficient_inclusion(basis, full)
