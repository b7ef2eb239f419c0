"""ace_ref's real coupling ↔ e3nn's wigner_3j, every triple with l ≤ 6 (all leg orders)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the [neural] extra is not installed")
o3 = pytest.importorskip("e3nn.o3", reason="e3nn is not installed: pip install '.[neural]'")

from ace_ref.coupling.e3nn_convention import (  # noqa: E402
    ace_real_coupling,
    from_e3nn_wigner_3j,
    to_e3nn_wigner_3j,
)

TRIPLES = [
    (l1, l2, l3)
    for l1 in range(7)
    for l2 in range(7)
    for l3 in range(abs(l1 - l2), min(l1 + l2, 6) + 1)
]


def test_every_triple_up_to_l6_matches_e3nn():
    worst = 0.0
    for l1, l2, l3 in TRIPLES:
        W = o3.wigner_3j(l1, l2, l3, dtype=torch.float64).numpy()
        worst = max(worst, np.abs(to_e3nn_wigner_3j(l1, l2, l3) - W).max())
        C = from_e3nn_wigner_3j(W, l1, l2, l3)
        np.testing.assert_allclose(C, ace_real_coupling(l1, l2, l3), atol=1e-13)
    assert len(TRIPLES) == 175
    assert worst < 1e-14


def test_the_sign_rule_is_needed():
    """Without the per-triple sign (only scale and i), some triples come out negated."""
    flipped = []
    for l1, l2, l3 in TRIPLES:
        C = ace_real_coupling(l1, l2, l3)
        R = (C.real if (l1 + l2 + l3) % 2 == 0 else C.imag) / np.sqrt(2 * l3 + 1)
        W = o3.wigner_3j(l1, l2, l3, dtype=torch.float64).numpy()
        if np.abs(W + R).max() < 1e-12:
            flipped.append((l1, l2, l3))
    assert (2, 2, 2) in flipped and (1, 2, 2) in flipped
    with pytest.raises(ValueError, match="not the normalised invariant"):
        from_e3nn_wigner_3j(np.ones((3, 3, 3)), 1, 1, 1)
