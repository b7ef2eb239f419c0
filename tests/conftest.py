"""Fixtures shared by the whole test tree.

* ``coupling_cache``: one coupling-coefficient cache directory for the session, passed as
  ``cache_dir=`` (or ``ACE_REF_CACHE``) wherever a test needs a cache but does not test it;
  each basis reads the blocks an earlier test already derived. Tests of the cache itself
  (``coupling/test_cache.py``) use their own ``tmp_path``.
* ``shared_data``: ``shared_data("ta")`` is ``../shared/data/ta``, or skips the test with the
  path it looked for when that folder is absent.
* ``ho_full_basis``, ``ho_sparsified_bases``: the H/O basis and its NequIP-style
  sparsifications (specs in ``tests/bases.py``), used by ``basis/test_sparsification.py``
  and ``verify/test_span.py``.

The random structures are made by one plain function, ``tests.structures.random_cluster``.
"""

from __future__ import annotations

import pytest

from ace_ref import ACEBasis
from tests.bases import SPARSIFICATIONS, SPARSIFY_SPEC
from tests.paths import SHARED_DATA


@pytest.fixture(scope="session")
def coupling_cache(tmp_path_factory):
    """The session's coupling-coefficient cache directory (``cache_dir=`` / ``ACE_REF_CACHE``)."""
    return tmp_path_factory.mktemp("coupling_cache")


@pytest.fixture(scope="session")
def shared_data():
    """``shared_data(name)``: the folder ``../shared/data/<name>``; skips when it is absent."""

    def folder(name: str):
        path = SHARED_DATA / name
        if not path.is_dir():
            pytest.skip(f"shared data {name!r} not found at {path} (../shared/data/{name})")
        return path

    return folder


@pytest.fixture(scope="session")
def ho_full_basis(coupling_cache):
    """The unsparsified H/O basis of ``SPARSIFY_SPEC``."""
    return ACEBasis(["H", "O"], **SPARSIFY_SPEC, cache_dir=coupling_cache)


@pytest.fixture(scope="session")
def ho_sparsified_bases(coupling_cache):
    """``{name: basis}`` for every entry of ``SPARSIFICATIONS``."""
    return {
        k: ACEBasis(["H", "O"], **SPARSIFY_SPEC, **kw, cache_dir=coupling_cache)
        for k, kw in SPARSIFICATIONS.items()
    }
