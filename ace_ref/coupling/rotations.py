"""Random O(3) elements and real Wigner D matrices built from our own Clebsch–Gordan tensors.

For a rotation ``Q`` the real harmonics satisfy ``Y_l(Q r̂) = D^l(Q) Y_l(r̂)``. Here
``D^1 = P Q Pᵀ`` where ``P`` reorders ``(x, y, z)`` into the real ``l = 1`` order
``(m = -1, 0, 1) ↔ (y, z, x)``, and ``D^l`` for ``l ≥ 2`` is obtained by coupling
``D^{l-1} ⊗ D^1`` with the real-basis CG tensor ``C`` of ``(l-1) ⊗ 1 → l``:
``D^l = C^† (D^{l-1} ⊗ D^1) C``. For an improper element ``Q = -Q'`` (``det Q = −1``),
``D^l(Q) = (−1)^l D^l(Q')``.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from ace_ref.coupling.clebsch_gordan import cg_tensor
from ace_ref.one_particle.spherical import complex_to_real_matrix

__all__ = ["random_o3", "random_rotation", "wigner_d_real"]

_XYZ_TO_REAL_L1 = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A Haar-random proper rotation (det = +1): ``scipy.spatial.transform.Rotation.random``."""
    return Rotation.random(rng=rng).as_matrix()


def random_o3(rng: np.random.Generator, improper: bool | None = None) -> np.ndarray:
    """A random element of O(3); ``improper=True`` forces a reflection (det = −1)."""
    q = random_rotation(rng)
    if improper is None:
        improper = bool(rng.integers(2))
    return -q if improper else q


def _real_cg(l1: int, l2: int, L: int) -> np.ndarray:
    """Real-basis CG tensor ``(2l1+1)(2l2+1) × (2L+1)`` (complex dtype; unitary columns)."""
    C = cg_tensor(l1, l2, L).astype(complex)
    U1, U2, UL = (complex_to_real_matrix(l) for l in (l1, l2, L))
    C = np.einsum("am,bn,mnM,cM->abc", U1, U2, C, UL.conj())
    return C.reshape(-1, 2 * L + 1)


def wigner_d_real(l: int, Q: np.ndarray) -> np.ndarray:
    """Real Wigner matrix ``D^l(Q)`` of an O(3) element ``Q`` (3 × 3 orthogonal)."""
    Q = np.asarray(Q, dtype=float)
    if Q.shape != (3, 3) or not np.allclose(Q @ Q.T, np.eye(3), atol=1e-10):
        raise ValueError("Q must be a 3 × 3 orthogonal matrix")
    sign = 1.0
    if np.linalg.det(Q) < 0:
        Q, sign = -Q, -1.0
    D1 = _XYZ_TO_REAL_L1 @ Q @ _XYZ_TO_REAL_L1.T
    D = np.ones((1, 1))
    for k in range(1, l + 1):
        C = _real_cg(k - 1, 1, k)
        D = (C.conj().T @ np.kron(D, D1) @ C).real
    return D * sign**l
