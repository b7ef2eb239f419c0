r"""Converters between ace_ref's real coupling coefficients and e3nn's ``o3.wigner_3j``.

ace_ref's real coupling of two factors to ``L`` (the coefficients the symmetric coupling uses,
:func:`ace_ref.coupling.symmetric._to_real_basis` for ``ν = 2``) is

.. math::

    C^{\rm ace}_{l_1 l_2 L}[\mu_1, \mu_2, M] = \sum_{m_1 m_2 m}
        \overline{U^{l_1}_{\mu_1 m_1}}\, \overline{U^{l_2}_{\mu_2 m_2}}\,
        \langle l_1 m_1\, l_2 m_2 | L\, m\rangle\, U^{L}_{M m},

with ``U`` the complex-to-real matrices
(:func:`ace_ref.one_particle.spherical.complex_to_real_matrix`):
``[A_{l_1} ⊗ A_{l_2}]_{LM} = Σ C[μ_1, μ_2, M] A_{l_1 μ_1} A_{l_2 μ_2}`` transforms like ``Y_{LM}``.
It is real when ``l_1 + l_2 + L`` is even and purely imaginary when it is odd (so ace_ref keeps
``i``-multiplied couplings for odd sums, which give real invariants).

e3nn's ``W = o3.wigner_3j(l_1, l_2, l_3)`` is a real tensor invariant under its Wigner matrices,
normalised ``Σ W² = 1``. Its Wigner matrices are ace_ref's of a relabelled frame
(``D^{e3nn}(R) = D(P R P^T)``, :func:`ace_ref.one_particle.spherical.to_e3nn`), so as *arrays*
both sets of matrices have the same invariant tensors; the invariant of a triple is unique up
to a scalar, hence ``W = λ C`` with a scalar ``λ`` per triple. Its modulus follows from the
norms: ``Σ |C|² = 2L + 1`` (unitary CG columns), so ``|λ| = 1/√(2L+1)``. Its phase:

* ``l_1 + l_2 + l_3`` **even**: e3nn builds its coefficients from the complex CG with the
  change of basis ``q_l = (−i)^l q^0_l`` (the ``(−i)^l`` makes the result real), so its tensor
  carries ``(−i)^{l_1} (−i)^{l_2} \overline{(−i)^{l_3}} = (−i)^{l_1 + l_2 − l_3}
  = (−1)^{(l_1 + l_2 − l_3)/2}`` relative to a construction without that factor, and
  ``q^0`` differs from ``U`` by a relabelling that leaves the CG tensor unchanged. Hence

  .. math:: W = (−1)^{(l_1 + l_2 − l_3)/2}\, C / \sqrt{2 l_3 + 1}.

* ``l_1 + l_2 + l_3`` **odd**: ``C = i C''`` with ``C''`` real; the tensor e3nn 0.4 ships is
  ``± C''/√(2l_3+1)`` with the sign fixed by its convention for these triples: **the first
  non-zero entry in C order (``m_1`` slowest) is positive**. (The ``(−i)^l`` phase alone
  does not fix it: it would assign the opposite sign to e.g. (1, 2, 2) and (5, 5, 5).)

Both rules are stated for ``l_1 ≤ l_2 ≤ l_3``; e3nn derives every other order from the sorted
one by the 3j permutation symmetry (transposition of two legs multiplies by
``(−1)^{l_1 + l_2 + l_3}``), and so do these converters. Tested against e3nn 0.4.4 for every
triple with ``l ≤ 6`` (``tests/neural/test_e3nn_coupling.py``).
"""

from __future__ import annotations

import itertools

import numpy as np

from ace_ref.coupling.clebsch_gordan import cg_tensor
from ace_ref.one_particle.spherical import complex_to_real_matrix

__all__ = ["ace_real_coupling", "to_e3nn_wigner_3j", "from_e3nn_wigner_3j"]


def _check(l1: int, l2: int, l3: int) -> None:
    for l in (l1, l2, l3):
        if isinstance(l, bool) or int(l) != l or l < 0:
            raise ValueError(f"degrees must be integers ≥ 0, got {(l1, l2, l3)}")
    if not abs(l1 - l2) <= l3 <= l1 + l2:
        raise ValueError(f"({l1}, {l2}, {l3}) violates the triangle rule")


def ace_real_coupling(l1: int, l2: int, L: int) -> np.ndarray:
    r"""``C^{ace}[μ_1 + l_1, μ_2 + l_2, M + L]`` of the module docstring (complex128).

    Real for even ``l_1 + l_2 + L``, purely imaginary for odd.
    """
    _check(l1, l2, L)
    C = cg_tensor(l1, l2, L).astype(complex)
    U1, U2, UL = (complex_to_real_matrix(l) for l in (l1, l2, L))
    return np.einsum("am,bn,mnk,ck->abc", U1.conj(), U2.conj(), C, UL)


def _sorted_sign(l1: int, l2: int, l3: int, C: np.ndarray) -> float:
    """The phase of the module docstring for a sorted triple, applied to the real part."""
    if (l1 + l2 + l3) % 2 == 0:
        return (-1.0) ** ((l1 + l2 - l3) // 2)
    flat = C.ravel()
    first = flat[np.flatnonzero(np.abs(flat) > 1e-12)[0]]
    return float(np.sign(first))


def _sorted_e3nn(l1: int, l2: int, l3: int) -> np.ndarray:
    C = ace_real_coupling(l1, l2, l3)
    R = C.real if (l1 + l2 + l3) % 2 == 0 else C.imag
    return _sorted_sign(l1, l2, l3, R) * R / np.sqrt(2 * l3 + 1)


def to_e3nn_wigner_3j(l1: int, l2: int, l3: int) -> np.ndarray:
    """e3nn's ``o3.wigner_3j(l1, l2, l3)`` computed from ace_ref's coupling (no e3nn needed).

    Sort the triple, apply the rule of the module docstring, and undo the sorting with e3nn's
    permutation symmetry (each transposition of legs: factor ``(−1)^{l_1 + l_2 + l_3}``).

    Returns
    -------
    ndarray, shape (2 l1 + 1, 2 l2 + 1, 2 l3 + 1), float64
    """
    _check(l1, l2, l3)
    ls = (int(l1), int(l2), int(l3))
    perm = tuple(sorted(range(3), key=lambda t: (ls[t], t)))
    W = _sorted_e3nn(*(ls[t] for t in perm))
    # W is indexed by the sorted legs; axis k of W is leg perm[k] of the request
    out = np.transpose(W, np.argsort(perm))
    parity = _permutation_parity(perm)
    return out * ((-1.0) ** (sum(ls) * parity))


def from_e3nn_wigner_3j(W: np.ndarray, l1: int, l2: int, l3: int) -> np.ndarray:
    """ace_ref's ``C^{ace}_{l1 l2 l3}`` from e3nn's ``W = o3.wigner_3j(l1, l2, l3)``.

    ``C = λ⁻¹ W`` with ``λ`` the scalar of the module docstring, found as
    ``⟨W_ref, W⟩`` against :func:`to_e3nn_wigner_3j` (so it is exact whatever the sign
    convention of the given ``W``, and fails loudly if ``W`` is not that triple's invariant).
    """
    W = np.asarray(W, dtype=float)
    ref = to_e3nn_wigner_3j(l1, l2, l3)
    if W.shape != ref.shape:
        raise ValueError(f"W has shape {W.shape}, expected {ref.shape}")
    overlap = float(np.sum(ref * W))
    if abs(abs(overlap) - 1.0) > 1e-8 or np.abs(W - overlap * ref).max() > 1e-8:
        raise ValueError(f"W is not the normalised invariant of ({l1}, {l2}, {l3})")
    C = ace_real_coupling(l1, l2, l3)
    return C * overlap  # W = overlap · ref and ref ∝ C


def _permutation_parity(perm) -> int:
    return sum(1 for a, b in itertools.combinations(range(3), 2) if perm[a] > perm[b]) % 2
