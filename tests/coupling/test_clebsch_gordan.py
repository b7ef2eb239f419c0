"""Exact Clebsch–Gordan coefficients: against SymPy's independent implementation, exact values,
orthogonality, and the ladder-derivation table (``tests/data/cg_table.py``) they reproduce."""

from __future__ import annotations

import importlib.util
import itertools
import subprocess
import sys

import numpy as np
import pytest
import sympy
from sympy.physics.quantum.cg import CG

from ace_ref.coupling.clebsch_gordan import cg_tensor, clebsch_gordan
from tests.paths import DATA, ROOT


# ---------------------------------------------------------------- Clebsch–Gordan
@pytest.mark.parametrize("l1,l2", [(0, 0), (1, 1), (2, 1), (2, 2), (3, 2), (4, 3)])
def test_cg_tensor_matches_sympy_quantum_cg(l1, l2):
    # independent SymPy implementation (sympy.physics.quantum) evaluated exactly
    for L in range(abs(l1 - l2), l1 + l2 + 1):
        T = cg_tensor(l1, l2, L)
        for m1, m2 in itertools.product(range(-l1, l1 + 1), range(-l2, l2 + 1)):
            M = m1 + m2
            if abs(M) > L:
                continue
            exact = CG(l1, m1, l2, m2, L, M).doit()
            assert T[m1 + l1, m2 + l2, M + L] == pytest.approx(float(exact), abs=1e-15)


def test_cg_exact_values():
    assert clebsch_gordan(1, 1, 1, -1, 0, 0) == sympy.sqrt(3) / 3
    assert clebsch_gordan(1, 0, 1, 0, 0, 0) == -sympy.sqrt(3) / 3
    assert clebsch_gordan(1, 1, 1, 1, 2, 2) == 1


@pytest.mark.parametrize("l1,l2", [(1, 1), (2, 3), (4, 4)])
def test_cg_orthogonality(l1, l2):
    # columns (L, M) of the CG matrix are orthonormal: it is a unitary change of basis
    cols = [cg_tensor(l1, l2, L).reshape(-1, 2 * L + 1) for L in range(abs(l1 - l2), l1 + l2 + 1)]
    U = np.concatenate(cols, axis=1)
    assert U.shape[0] == U.shape[1]
    np.testing.assert_allclose(U.T @ U, np.eye(U.shape[0]), atol=1e-13)


# ---------------------------------------------------------------- derivation outputs
def test_cg_tensor_matches_ladder_derivation_table():
    path = DATA / "cg_table.py"
    spec = importlib.util.spec_from_file_location("cg_table", path)
    table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(table)
    CG_TABLE, LMAX = table.CG_TABLE, table.LMAX

    seen = {}
    for l1, m1, l2, m2, L, M, exact, value in CG_TABLE:
        seen[(l1, m1, l2, m2, L, M)] = value
        assert float(sympy.sympify(exact)) == pytest.approx(value, abs=1e-15)
    for l1, l2 in itertools.product(range(LMAX + 1), repeat=2):
        for L in range(abs(l1 - l2), l1 + l2 + 1):
            T = cg_tensor(l1, l2, L)
            for m1, m2 in itertools.product(range(-l1, l1 + 1), range(-l2, l2 + 1)):
                M = m1 + m2
                expected = seen.get((l1, m1, l2, m2, L, M), 0.0)
                got = T[m1 + l1, m2 + l2, M + L] if abs(M) <= L else 0.0
                assert got == pytest.approx(expected, abs=1e-15)


def test_cg_table_is_reproduced_by_its_derivation(tmp_path):
    out = tmp_path / "cg_table.py"
    subprocess.run(
        [sys.executable, str(ROOT / "derivations" / "clebsch_gordan.py"), "--output", str(out)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    assert out.read_bytes() == (DATA / "cg_table.py").read_bytes()
