"""The coupling cache: round trip, corrupt and tampered files are detected and rebuilt."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from ace_ref.coupling.cache import CouplingCache


# ---------------------------------------------------------------- cache
def test_cache_roundtrip_and_corruption(tmp_path):
    cache = CouplingCache(tmp_path)
    block = cache.get((2, 2, 2), (3,), 0, 1)
    files = list((tmp_path / "coupling").glob("*.npz"))
    assert len(files) == 1
    again = CouplingCache(tmp_path).get((2, 2, 2), (3,), 0, 1)
    np.testing.assert_array_equal(again.coeffs, block.coeffs)
    # flip bytes in the middle of the file: must warn, rebuild, and give the same numbers
    data = bytearray(files[0].read_bytes())
    data[len(data) // 2] ^= 0xFF
    files[0].write_bytes(bytes(data))
    with pytest.warns(RuntimeWarning, match="corrupt"):
        rebuilt = CouplingCache(tmp_path).get((2, 2, 2), (3,), 0, 1)
    np.testing.assert_array_equal(rebuilt.coeffs, block.coeffs)
    # truncated file
    files[0].write_bytes(files[0].read_bytes()[:100])
    with pytest.warns(RuntimeWarning, match="corrupt"):
        CouplingCache(tmp_path).get((2, 2, 2), (3,), 0, 1)
    # the rewritten file is valid again: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        CouplingCache(tmp_path).get((2, 2, 2), (3,), 0, 1)


def test_cache_detects_tampered_coefficients(tmp_path):
    cache = CouplingCache(tmp_path)
    cache.get((1, 1), (2,), 0, 1)
    path = next((tmp_path / "coupling").glob("*.npz"))
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    arrays["coeffs"] = arrays["coeffs"] * 1.0001  # valid npz, wrong numbers
    np.savez(path, **arrays)
    with pytest.warns(RuntimeWarning, match="checksum"):
        block = CouplingCache(tmp_path).get((1, 1), (2,), 0, 1)
    assert block.n_functions == 1
