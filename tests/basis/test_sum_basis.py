"""A sum of bases (a pair part next to a many-body part) is a basis and a model like any other."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms

import ace_ref
from ace_ref import ACEBasis
from ace_ref.basis import Basis, SumBasis, pair_and_many_body
from ace_ref.models.sum_model import SumModel
from ace_ref.verify import check_forces, check_invariance
from tests.structures import emt_configs


@pytest.fixture(scope="module")
def fitted(coupling_cache):
    configs = emt_configs(np.random.default_rng(9), 30, "CuCuCuAl", box=3.4, min_distance=2.0)
    many = ACEBasis(["Al", "Cu"], order=2, max_degree=[5, 5], r_cut=3.2, cache_dir=coupling_cache)
    basis = pair_and_many_body(
        ["Al", "Cu"], pair_r_cut=4.5, pair_max_n=8, many_body=many, cache_dir=coupling_cache
    )
    result = ace_ref.fit(configs, basis, e0={"Al": 0.0, "Cu": 0.0}, committee_size=8)
    return basis, result, configs


def test_columns_are_the_parts_side_by_side_per_species(fitted):
    basis, _, configs = fitted
    assert isinstance(basis, Basis) and len(basis) == sum(len(p) for p in basis.parts)
    atoms = configs[0].atoms
    B = basis.features(atoms)
    for k, part in enumerate(basis.parts):
        np.testing.assert_array_equal(B[:, basis.columns(k)], part.features(atoms))
    rows = basis.design_rows(atoms)
    for k, part in enumerate(basis.parts):
        np.testing.assert_array_equal(
            rows.forces[..., basis.columns(k)], part.design_rows(atoms).forces
        )
    assert basis.body_order() == 3 and basis.r_cut.max() == 4.5
    with pytest.raises(ValueError, match="same elements"):
        SumBasis([basis.parts[0], ACEBasis(["Cu"], order=1, max_n=2, max_l=0)])


def test_sum_model_predicts_like_its_design_rows_and_is_exact(fitted):
    basis, result, configs = fitted
    model = result.model
    assert isinstance(model, SumModel)
    atoms = configs[1].atoms
    rows = basis.design_rows(atoms)
    out = model.predict(atoms)
    assert out["energy"] == pytest.approx(rows.energy @ model.coefficients, rel=1e-12)
    np.testing.assert_allclose(out["forces"], rows.forces @ model.coefficients, atol=1e-10)
    calc = model.calculator()
    assert all(r.passed for r in check_invariance(calc, atoms))
    assert all(r.passed for r in check_forces(calc, atoms))
    bulk = Atoms("Cu2Al", cell=np.diag([3.0, 3.1, 3.2]), pbc=True,
                 scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.1], [0.3, 0.0, 0.5]])  # fmt: skip
    rows = check_forces(calc, bulk)
    assert any("stress" in (r.check + r.name) for r in rows) and all(r.passed for r in rows)


def test_sum_model_file_round_trip(fitted, tmp_path):
    _, result, configs = fitted
    back = ace_ref.load(result.model.save(tmp_path / "m.npz"))
    assert isinstance(back, SumModel)
    np.testing.assert_array_equal(back.coefficients, result.model.coefficients)
    assert (
        back.predict(configs[2].atoms)["energy"] == result.model.predict(configs[2].atoms)["energy"]
    )
    assert back.uncertainty.committee.coefficients.shape == (8, len(back.basis))
