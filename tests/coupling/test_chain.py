"""Chain (NequIP-style) coupling: uncapped chains span the full symmetric block, capped chains
keep only paths with every hidden L ≤ L_max."""

from __future__ import annotations

import numpy as np
import pytest

from ace_ref.coupling.cache import coupled_block
from ace_ref.coupling.chain import chain_block


def _canonical_rows(block):
    """Coefficient vectors of a block keyed by canonical m-tuple (for span comparisons)."""
    return {tuple(t): k for k, t in enumerate(block.m_tuples.tolist())}


@pytest.mark.parametrize(
    "ls,groups,L",
    [((1, 1, 2), (1, 1, 1), 0), ((2, 2, 2), (3,), 0), ((1, 1, 1, 1), (2, 2), 0),
     ((1, 2, 3, 4), (1, 1, 1, 1), 0), ((2, 2, 2, 2), (2, 2), 2), ((1, 2, 2), (1, 2), 1)],
)  # fmt: skip
def test_uncapped_chain_spans_the_full_block(ls, groups, L):
    """All orderings × chain paths, symmetrised, span every invariant: rank = character
    formula, and the row spaces of chain and symmetric couplings coincide."""
    chain = chain_block(ls, groups, L)
    full = coupled_block(ls, groups, L)
    assert chain.n_functions == full.n_functions == chain.multiplicity > 0
    keys = sorted({tuple(t) for b in (chain, full) for t in b.m_tuples.tolist()})

    def dense(block):
        index = _canonical_rows(block)
        out = np.zeros((block.n_functions, len(keys), 2 * L + 1))
        for j, key in enumerate(keys):
            if key in index:
                out[:, j] = block.coeffs[:, index[key]]
        return out.reshape(block.n_functions, -1)

    stacked = np.vstack([dense(chain), dense(full)])
    sv = np.linalg.svd(stacked / np.linalg.norm(stacked, axis=1)[:, None], compute_uv=False)
    assert int(np.sum(sv > 1e-9 * sv[0])) == full.n_functions
    # capped chains keep only paths with every hidden L ≤ L_max
    for cap in range(3):
        capped = chain_block(ls, groups, L, lmax_hidden=cap, independent=False)
        assert np.all(capped.paths[:, : len(ls) - 1] <= cap)
        assert chain_block(ls, groups, L, lmax_hidden=cap).n_functions <= full.n_functions
