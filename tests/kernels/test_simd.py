"""Vector row intrinsics: bit-identical to the scalar element-wise loops."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from ace_ref.kernels.simd import WIDTH, row_axpy, row_copy, row_fill, row_fma, row_mul


@njit(cache=False)
def _apply_all(out, x, y, alpha):
    row_copy(out, 0, x, 1)
    row_fill(out, 1, alpha)
    row_mul(out, 2, x, 0, y, 1)
    row_fma(out, 3, x, 2, y, 0)
    row_axpy(out, 4, alpha, x, 3)
    row_fma(out, 5, out, 5, out, 5)  # aliasing operands: reads before the write


@pytest.mark.parametrize("seed", range(5))
def test_row_operations_equal_scalar_loops(seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(4, WIDTH)) * 10.0 ** rng.integers(-5, 5, size=(4, WIDTH))
    y = rng.normal(size=(4, WIDTH))
    out = rng.normal(size=(7, WIDTH))
    alpha = float(rng.normal())
    expected = out.copy()
    expected[0] = x[1]
    expected[1] = alpha
    expected[2] = x[0] * y[1]
    expected[3] = expected[3] + x[2] * y[0]
    expected[4] = expected[4] + alpha * x[3]
    expected[5] = expected[5] + expected[5] * expected[5]
    _apply_all(out, x, y, alpha)
    np.testing.assert_array_equal(out, expected)  # bit-identical, untouched row 6 included


def test_row_operations_reject_wrong_arrays():
    @njit(cache=False)
    def bad(a, b):
        row_copy(a, 0, b, 0)

    with pytest.raises(Exception, match="2-d float64"):
        bad(np.zeros((2, WIDTH)), np.zeros(WIDTH))
