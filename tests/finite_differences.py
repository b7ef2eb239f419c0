"""Design rows against central finite differences of the energy ``Σ_i B_i · c``."""

from __future__ import annotations

import itertools

import numpy as np
import pytest


def linear_energy(basis, atoms, c: np.ndarray) -> float:
    """``E = Σ_i Σ_k c_k B_ik`` of ``atoms``."""
    return basis.features(atoms).sum(axis=0) @ c


def assert_force_rows_match(basis, atoms, c: np.ndarray, h: float = 1e-5, rtol: float = 1e-6):
    """``rows.forces @ c`` equals ``−∂E/∂r`` for every atom and direction."""
    F = basis.design_rows(atoms).forces @ c
    scale = max(1.0, np.abs(F).max())
    for i, a in itertools.product(range(len(atoms)), range(3)):
        p, m = atoms.copy(), atoms.copy()
        p.positions[i, a] += h
        m.positions[i, a] -= h
        fd = -(linear_energy(basis, p, c) - linear_energy(basis, m, c)) / (2 * h)
        assert F[i, a] == pytest.approx(fd, abs=rtol * scale), (i, a)


def assert_virial_rows_match(basis, atoms, c: np.ndarray, components=None, h: float = 1e-6):
    """``rows.virial @ c`` equals ``∂E/∂ε_ab`` (cell and atoms strained together) for the
    given ``(a, b)`` components (default all nine)."""
    W = np.einsum("abk,k->ab", basis.design_rows(atoms).virial, c)
    scale = max(1.0, np.abs(W).max())
    for a, b in components or itertools.product(range(3), repeat=2):
        eps = np.zeros((3, 3))
        eps[a, b] = h
        p, m = atoms.copy(), atoms.copy()
        p.set_cell(atoms.cell.array @ (np.eye(3) + eps).T, scale_atoms=True)
        m.set_cell(atoms.cell.array @ (np.eye(3) - eps).T, scale_atoms=True)
        fd = (linear_energy(basis, p, c) - linear_energy(basis, m, c)) / (2 * h)
        assert W[a, b] == pytest.approx(fd, abs=1e-6 * scale), (a, b)
