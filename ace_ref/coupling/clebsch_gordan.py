"""Exact Clebsch–Gordan coefficients ``⟨l1 m1 l2 m2 | L M⟩`` (SymPy) and their dense tensors.

Complex spherical harmonics with the Condon–Shortley phase; the tensors ``cg_tensor(l1, l2,
L)[m1+l1, m2+l2, M+L]`` are
exact rationals under square roots, converted to float64 once.
"""

from __future__ import annotations

import numpy as np
import sympy
from sympy.physics.wigner import clebsch_gordan as _sympy_clebsch_gordan

__all__ = ["clebsch_gordan", "cg_tensor"]


def clebsch_gordan(l1: int, m1: int, l2: int, m2: int, L: int, M: int) -> sympy.Expr:
    """Exact Clebsch–Gordan coefficient ``<l1 m1 l2 m2 | L M>`` (Condon–Shortley convention).

    Returns a SymPy number such as ``sqrt(3)/3``; zero outside the selection rules.
    """
    return _sympy_clebsch_gordan(l1, l2, L, m1, m2, M)


def cg_tensor(l1: int, l2: int, L: int, memo: dict | None = None) -> np.ndarray:
    """Dense array ``C[m1 + l1, m2 + l2, M + L] = <l1 m1 l2 m2 | L M>`` in float64.

    Each entry is the exact SymPy value rounded once to float64. ``memo`` is an optional
    caller-owned dict that avoids recomputing tensors within one build.
    """
    key = (l1, l2, L)
    if memo is not None and key in memo:
        return memo[key]
    out = np.zeros((2 * l1 + 1, 2 * l2 + 1, 2 * L + 1))
    if abs(l1 - l2) <= L <= l1 + l2:
        for m1 in range(-l1, l1 + 1):
            for m2 in range(-l2, l2 + 1):
                M = m1 + m2
                if abs(M) <= L:
                    out[m1 + l1, m2 + l2, M + L] = float(clebsch_gordan(l1, m1, l2, m2, L, M))
    if memo is not None:
        memo[key] = out
    return out
