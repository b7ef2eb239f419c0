"""Basis sizes against pyace (the ML-PACE reference implementation), when it is installed."""

from __future__ import annotations

from collections import Counter

import pytest

from ace_ref import ACEBasis
from ace_ref.verify.peers import pyace_basis_configuration

pyace = pytest.importorskip("pyace", reason="pyace (pip install --pre python-ace) not installed")


def _pyace_counts(elements, max_n, max_l):
    cfg = pyace_basis_configuration(elements, max_n, max_l)
    per_element, per_order = Counter(), Counter()
    for block in cfg.funcspecs_blocks:
        for f in block.funcspecs:
            per_element[f.elements[0]] += 1
            per_order[len(f.ns)] += 1
    return dict(per_element), dict(per_order)


@pytest.mark.parametrize(
    "elements,max_n,max_l",
    [
        (["Si"], [8, 6, 4], [0, 6, 4]),
        (["Si"], [8, 6, 4, 3], [0, 6, 4, 3]),
        (["Si"], [6, 4, 3, 2, 1], [0, 4, 3, 2, 1]),
        (["C", "H"], [4, 3, 2, 1], [0, 3, 2, 1]),
        (["C", "H", "O"], [8, 6, 4], [0, 6, 4]),
    ],
)
def test_sizes_match_pyace(elements, max_n, max_l, coupling_cache):
    ours = ACEBasis(elements, len(max_n), max_n=max_n, max_l=max_l, cache_dir=coupling_cache)
    per_element, per_order = _pyace_counts(elements, max_n, max_l)
    assert per_element == {el: ours.n_functions_per_species for el in elements}
    assert per_order == {nu: c * len(elements) for nu, c in ours.counts_by_order().items()}
    assert len(ours) == sum(per_element.values())
