"""Real Wigner D-matrices of O(3) elements."""

from __future__ import annotations

import numpy as np

from ace_ref.coupling.rotations import random_o3, wigner_d_real


def test_wigner_d_matches_rotation_for_l1_and_is_orthogonal():
    rng = np.random.default_rng(0)
    Q = random_o3(rng, improper=True)
    D1 = wigner_d_real(1, Q)
    v = rng.normal(size=3)
    # Y_1 ∝ (y, z, x): rotating the vector rotates its (y, z, x) components by D^1
    perm = [1, 2, 0]
    np.testing.assert_allclose(D1 @ v[perm], (Q @ v)[perm], atol=1e-13)
    for l in range(5):
        D = wigner_d_real(l, Q)
        np.testing.assert_allclose(D @ D.T, np.eye(2 * l + 1), atol=1e-12)
        R1, R2 = random_o3(rng), random_o3(rng)
        np.testing.assert_allclose(
            wigner_d_real(l, R1 @ R2), wigner_d_real(l, R1) @ wigner_d_real(l, R2), atol=1e-12
        )
