"""Assembly drops the force rows along rigid motions, and the summary is that of all the rows.

The claim (ace_ref.fit.rigid_motions): for an invariant basis, the ``3N − r`` rows left after
folding out the rigid motions give the same Gram matrix ``AᵀA`` and ``Aᵀy`` as all ``3N``, for
any positive per-atom weights, finite or periodic, with or without energy and virial rows; and
rows that are not invariant are all kept.
"""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from hypothesis import given, settings
from hypothesis import strategies as st

from ace_ref import ACEBasis
from ace_ref.fit import Config, Weights
from ace_ref.fit.assembly import config_rows, drop_rigid_motion_rows, summarise
from ace_ref.fit.rigid_motions import project_out_rigid_motions, rigid_motion_directions
from tests.structures import random_cluster

E0 = {"H": -0.5, "O": -2.0}


@pytest.fixture(scope="module")
def basis(coupling_cache):
    return ACEBasis(["H", "O"], 3, max_degree=[8, 7, 6], r_cut=4.0, cache_dir=coupling_cache)


def _config(atoms: Atoms, rng, *, stress: bool = False, force_weights=None) -> Config:
    n = len(atoms)
    return Config(
        atoms,
        float(rng.normal()),
        rng.normal(size=(n, 3)),  # not net-force free: those parts cannot be fitted
        rng.normal(size=(3, 3)) if stress else None,
        force_weights=force_weights,
        source="test",
    )


def _dropped(config: Config, basis, weights: Weights):
    """Full rows, and the rows left by drop_rigid_motion_rows."""
    A, y = config_rows(basis, config, E0, weights)
    A2, y2 = np.asfortranarray(A.copy()), y.copy()
    kept = drop_rigid_motion_rows(config, weights, A2, y2)
    return A, y, A2[:kept], y2[:kept]


def _assert_same_gram(A, y, A2, y2):
    scale = np.abs(A.T @ A).max()
    assert np.abs(A2.T @ A2 - A.T @ A).max() <= 1e-12 * scale
    assert np.abs(A2.T @ y2 - A.T @ y).max() <= 1e-12 * np.sqrt(scale) * np.abs(y).max()


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_atoms=st.integers(3, 9),
    with_weights=st.booleans(),
    with_energy=st.booleans(),
)
def test_finite_configurations_lose_six_rows_and_keep_their_gram(
    basis, seed, n_atoms, with_weights, with_energy
):
    rng = np.random.default_rng(seed)
    symbols = rng.choice(["H", "O"], size=n_atoms).tolist()
    atoms = random_cluster(rng, symbols, box=2.5, min_distance=0.9)
    weights = rng.uniform(0.2, 3.0, size=n_atoms) if with_weights else None
    config = _config(atoms, rng, force_weights=weights)
    w = Weights.parse("energy=30,forces=1" if with_energy else "energy=0,forces=1")
    A, y, A2, y2 = _dropped(config, basis, w)
    assert len(A2) == len(A) - 6
    _assert_same_gram(A, y, A2, y2)


def test_periodic_configuration_loses_only_translations_and_keeps_its_virial(basis):
    rng = np.random.default_rng(3)
    atoms = random_cluster(
        rng, ["H", "O", "O", "H", "H", "O"], box=5.0, min_distance=1.0, cell=[5.0] * 3, pbc=True
    )
    config = _config(atoms, rng, stress=True)
    A, y, A2, y2 = _dropped(config, basis, Weights.parse("energy=30,forces=1,virial=1"))
    assert len(A2) == len(A) - 3
    np.testing.assert_array_equal(A2[-6:], A[-6:])  # the virial rows, moved up unchanged
    np.testing.assert_array_equal(y2[-6:], y[-6:])
    _assert_same_gram(A, y, A2, y2)


@pytest.mark.parametrize(
    ("positions", "rank"),
    [
        ([[0, 0, 0]], 3),  # one atom: translations only
        ([[0, 0, 0], [0, 0, 1.1]], 5),  # two atoms: no rotation about their axis
        ([[0, 0, 0], [0, 0, 1.1], [0, 0, 2.3]], 5),  # collinear
        ([[0, 0, 0], [0, 0, 1.1], [0.9, 0, -0.3]], 6),
    ],
)
def test_rank_of_the_rigid_motions(basis, positions, rank):
    atoms = Atoms("O" * len(positions), positions=positions)
    directions = rigid_motion_directions(atoms, np.ones(3 * len(atoms)))
    assert directions.shape == (3 * len(atoms), rank)
    np.testing.assert_allclose(directions.T @ directions, np.eye(rank), atol=1e-12)
    config = _config(atoms, np.random.default_rng(0))
    A, y, A2, y2 = _dropped(config, basis, Weights())
    assert len(A2) == len(A) - rank
    _assert_same_gram(A, y, A2, y2)


def test_rows_that_are_not_invariant_are_all_kept():
    rng = np.random.default_rng(1)
    atoms = random_cluster(rng, "H4O", box=2.5, min_distance=0.9)
    X = np.asfortranarray(rng.normal(size=(15, 7)))
    t = rng.normal(size=15)
    X2, t2 = X.copy(order="F"), t.copy()
    kept = project_out_rigid_motions(X2, t2, rigid_motion_directions(atoms, np.ones(15)))
    assert kept == 15  # an orthogonal change of rows: still exact
    np.testing.assert_allclose(X2.T @ X2, X.T @ X, atol=1e-12)
    np.testing.assert_allclose(X2.T @ t2, X.T @ t, atol=1e-12)


def test_zero_force_weight_leaves_the_rows_alone(basis):
    rng = np.random.default_rng(2)
    atoms = random_cluster(rng, "H3O2", box=2.5, min_distance=0.9)
    config = _config(atoms, rng, force_weights=np.array([1.0, 0.0, 1.0, 2.0, 1.0]))
    A, y, A2, y2 = _dropped(config, basis, Weights())
    np.testing.assert_array_equal(A2, A)
    np.testing.assert_array_equal(y2, y)


@pytest.mark.parametrize("method", ["normal", "qr"])
def test_summary_is_that_of_all_the_rows(basis, method):
    """The streamed summary (fewer rows folded) against the Gram matrix of every row."""
    rng = np.random.default_rng(4)
    configs = [
        _config(random_cluster(rng, "H3O2", box=2.5, min_distance=0.9), rng) for _ in range(12)
    ]
    w = Weights.parse("energy=30,forces=1")
    rows = [config_rows(basis, c, E0, w) for c in configs]
    A = np.vstack([r[0] for r in rows])
    y = np.concatenate([r[1] for r in rows])
    system = summarise(basis, configs, E0, w, method=method, block_rows=40)
    assert system.n_rows == len(y)  # every observation counted
    assert system.yy == pytest.approx(y @ y, rel=1e-14)
    G, b = (system.G, system.b) if method == "normal" else (system.R.T @ system.R, None)
    if b is None:
        b = system.R.T @ system.z
    scale = np.abs(A.T @ A).max()
    assert np.abs(G - A.T @ A).max() < 1e-12 * scale
    assert np.abs(b - A.T @ y).max() < 1e-12 * np.sqrt(scale) * np.abs(y).max()
    c = rng.normal(size=len(basis)) * 1e-3
    assert system.squared_error(c) == pytest.approx(np.sum((A @ c - y) ** 2), rel=1e-9)
