"""The repulsive core: zero on the training data, exact derivatives, a wall below the data."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms

import ace_ref
from ace_ref import ACEBasis
from ace_ref.models.core import RepulsiveCore, zbl
from ace_ref.verify import check_forces
from tests.structures import emt_configs


@pytest.fixture(scope="module")
def fitted(coupling_cache):
    configs = emt_configs(np.random.default_rng(4), 30, "CuCuCuAl", box=3.2, min_distance=2.1)
    basis = ACEBasis(["Al", "Cu"], order=2, max_degree=[6, 5], r_cut=4.0, cache_dir=coupling_cache)
    with_core = ace_ref.fit(configs, basis, e0={"Al": 0.0, "Cu": 0.0}, core="zbl")
    without = ace_ref.fit(configs, basis, e0={"Al": 0.0, "Cu": 0.0}, core=None)
    return with_core.model, without.model, configs


def test_zbl_derivative_and_values():
    r = np.linspace(0.3, 3.0, 50)
    e, de = zbl(r, 29, 13)
    h = 1e-6
    np.testing.assert_allclose(
        de, (zbl(r + h, 29, 13)[0] - zbl(r - h, 29, 13)[0]) / (2 * h), rtol=1e-7
    )
    assert np.all(np.diff(e) < 0) and np.all(e > 0)


def test_core_is_zero_on_training_data_and_leaves_the_fit_unchanged(fitted):
    with_core, without, configs = fitted
    np.testing.assert_array_equal(with_core.coefficients, without.coefficients)
    for c in configs:
        pairs = with_core.basis.pairs(c.atoms)
        E, F, W = with_core.core.energy_forces(pairs, len(c.atoms))
        assert not E.any() and not F.any() and not W.any()
        assert with_core.predict(c.atoms)["energy"] == without.predict(c.atoms)["energy"]


def test_core_forces_and_stress_are_exact_derivatives(fitted):
    model = fitted[0]
    squeezed = fitted[2][0].atoms.copy()
    squeezed.positions *= 0.7  # pairs well inside the core region
    assert model.core.energy_forces(model.basis.pairs(squeezed), len(squeezed))[0].any()
    rows = check_forces(model.calculator(), squeezed)
    assert rows and all(r.passed for r in rows), [r.message for r in rows if not r.passed]
    bulk = Atoms("Cu2Al", cell=np.diag([2.6, 2.6, 2.6]), pbc=True,
                 scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.1], [0.3, 0.0, 0.5]])  # fmt: skip
    rows = check_forces(model.calculator(), bulk)
    assert any(r.check == "stress" or "stress" in r.name for r in rows)
    assert all(r.passed for r in rows), [r.message for r in rows if not r.passed]


def test_the_core_is_a_wall_where_the_polynomial_is_not(fitted):
    with_core, without, _ = fitted
    r_min = with_core.uncertainty.coverage.ranges["Cu-Cu"][0]
    dimers = [Atoms("Cu2", positions=[[0, 0, 0], [0, 0, d]]) for d in (0.5, 0.8, r_min)]
    e = [with_core.predict(a)["energy"] for a in dimers]
    assert e[0] > e[1] > e[2] + 5.0  # tens of eV at 0.5 Å
    bare = [without.predict(a)["energy"] for a in dimers]
    assert e[0] - bare[0] > 50.0


def test_core_survives_the_model_file_and_is_checked(fitted, tmp_path):
    model = fitted[0]
    back = ace_ref.load(model.save(tmp_path / "m.npz"))
    np.testing.assert_array_equal(back.core.outer, model.core.outer)
    np.testing.assert_array_equal(back.core.inner, model.core.inner)
    with pytest.raises(ValueError, match="inner radius must lie below"):
        RepulsiveCore(["Al", "Cu"], model.core.outer, model.core.inner)
    with pytest.raises(ValueError, match="RepulsiveCore on"):
        type(model)(model.basis, model.coefficients, model.e0, core=RepulsiveCore(
            ["Cu"], [[1.0]], [[2.0]]))  # fmt: skip
    with pytest.raises(ValueError, match="unknown core"):
        ace_ref.fit(fitted[2][:3], model.basis, e0=model.e0, core="lj")
