r"""A fixed repulsive core below the shortest distances of the training data.

A linear ACE model is a polynomial in the radial functions: below the shortest distance its
training data showed, nothing stops it from turning attractive, and atoms then collapse in MD.
The core adds, per pair of atoms, the universal ZBL screened-nuclear repulsion switched off
smoothly *before* the training data begin,

.. math::

    V(r) = \frac{Z_a Z_b e^2}{4\pi\varepsilon_0\, r}\, \phi(r/a)\, S(r), \qquad
    a = \frac{0.46850\ \text{Å}}{Z_a^{0.23} + Z_b^{0.23}},

    \phi(x) = 0.18175\,e^{-3.19980x} + 0.50986\,e^{-0.94229x}
            + 0.28022\,e^{-0.40290x} + 0.02817\,e^{-0.20162x},

with the switch ``S = 1`` for ``r ≤ r_in``, ``S = 1 − 10x³ + 15x⁴ − 6x⁵`` for
``x = (r − r_in)/(r_out − r_in) ∈ [0, 1]`` (C², zero with two derivatives at ``r_out``) and
``S = 0`` beyond ``r_out``. For a species pair whose shortest training distance is ``r_min``,
``r_out = outer · r_min`` and ``r_in = inner · r_min`` (defaults 0.75 and 0.5: far enough below
the data that thermal fluctuations of test structures never reach the switch, where ZBL is
already a wall of several eV). So the core is **exactly zero on every training
configuration** and does not change the fitted coefficients. Pairs that never occurred in
training use ``r_min = ZBL_UNSEEN_FRACTION × (sum of covalent radii)``.

``E = Σ_{i<j} V(r_ij)``, half of each pair to each atom's energy; forces and virial are exact
derivatives.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase.data import atomic_numbers, covalent_radii

__all__ = ["RepulsiveCore", "zbl"]

COULOMB = 14.399645
"""``e²/(4πε₀)`` in eV·Å."""

_ZBL_A = np.array([0.18175, 0.50986, 0.28022, 0.02817])
_ZBL_B = np.array([3.19980, 0.94229, 0.40290, 0.20162])

ZBL_UNSEEN_FRACTION = 0.6
"""``r_out`` of a species pair absent from the training data, in units of the sum of the
covalent radii."""


def zbl(r: np.ndarray, Za: int, Zb: int) -> tuple[np.ndarray, np.ndarray]:
    """ZBL energy (eV) and its derivative ``dV/dr`` (eV/Å) at distances ``r`` (Å)."""
    r = np.asarray(r, dtype=float)
    a = 0.46850 / (Za**0.23 + Zb**0.23)
    x = r[..., None] / a
    e = np.exp(-_ZBL_B * x)
    phi = (_ZBL_A * e).sum(-1)
    dphi = -(_ZBL_A * _ZBL_B * e).sum(-1) / a
    pre = COULOMB * Za * Zb
    return pre * phi / r, pre * (dphi / r - phi / r**2)


def _switch(r, r_in, r_out) -> tuple[np.ndarray, np.ndarray]:
    x = np.clip((r - r_in) / (r_out - r_in), 0.0, 1.0)
    s = 1 - 10 * x**3 + 15 * x**4 - 6 * x**5
    ds = (-30 * x**2 + 60 * x**3 - 30 * x**4) / (r_out - r_in)
    return s, ds


@dataclass
class RepulsiveCore:
    """ZBL switched off between ``inner[a, b]`` and ``outer[a, b]`` (Å) per species pair."""

    elements: list[str]
    inner: np.ndarray
    outer: np.ndarray

    def __post_init__(self) -> None:
        ns = len(self.elements)
        self.inner = np.asarray(self.inner, dtype=float)
        self.outer = np.asarray(self.outer, dtype=float)
        for name, t in (("inner", self.inner), ("outer", self.outer)):
            if t.shape != (ns, ns) or not np.all(np.isfinite(t)) or np.any(t < 0):
                raise ValueError(f"core {name} radii must be a finite {ns}×{ns} table ≥ 0")
        if not np.all(self.inner < self.outer):
            raise ValueError("core: every inner radius must lie below its outer radius")
        if not (
            np.array_equal(self.inner, self.inner.T) and np.array_equal(self.outer, self.outer.T)
        ):
            raise ValueError("core radii must be symmetric in the species pair")
        self._Z = np.array([atomic_numbers[el] for el in self.elements])

    @classmethod
    def from_coverage(
        cls, elements: list[str], coverage, inner: float, outer: float
    ) -> RepulsiveCore:
        """``inner``/``outer`` radii as these fractions of the shortest training distance of
        each species pair (see module docstring)."""
        if not 0 < inner < outer <= 1:
            raise ValueError(f"core fractions need 0 < inner < outer ≤ 1, got {inner}, {outer}")
        ns = len(elements)
        r_min = np.zeros((ns, ns))
        for a, b in np.ndindex(ns, ns):
            name = "-".join(sorted((elements[a], elements[b])))
            if name in coverage.ranges:
                r_min[a, b] = coverage.ranges[name][0]
            else:
                za, zb = atomic_numbers[elements[a]], atomic_numbers[elements[b]]
                r_min[a, b] = ZBL_UNSEEN_FRACTION * (covalent_radii[za] + covalent_radii[zb])
        return cls(list(elements), inner * r_min, outer * r_min)

    def energy_forces(self, pairs, n_atoms: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-atom energies, forces and the virial ``Σ r_ij ⊗ ∂E/∂r_ij`` of the core for the
        pairs of a structure (:class:`~ace_ref.basis.ace.Pairs`, both directions listed)."""
        energies = np.zeros(n_atoms)
        forces = np.zeros((n_atoms, 3))
        ns = len(self.elements)
        a, b = pairs.pair_type // ns, pairs.pair_type % ns
        r = np.linalg.norm(pairs.vectors, axis=1)
        near = r < self.outer[a, b]
        if not np.any(near):
            return energies, forces, np.zeros((3, 3))
        i, j, rv, rn = pairs.i[near], pairs.j[near], pairs.vectors[near], r[near]
        a, b = a[near], b[near]
        v = np.zeros(len(rn))
        dv = np.zeros(len(rn))
        for za, zb in {(x, y) for x, y in zip(a, b, strict=True)}:
            sel = (a == za) & (b == zb)
            e, de = zbl(rn[sel], self._Z[za], self._Z[zb])
            s, ds = _switch(rn[sel], self.inner[za, zb], self.outer[za, zb])
            v[sel], dv[sel] = e * s, de * s + e * ds
        # each unordered pair appears twice: half of V (and of its gradient) per direction
        np.add.at(energies, i, 0.5 * v)
        grad = (0.5 * dv / rn)[:, None] * rv  # ∂E/∂r_ij of this direction
        np.add.at(forces, i, grad)
        np.add.at(forces, j, -grad)
        return energies, forces, rv.T @ grad

    def pair_energy(self, r: np.ndarray, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        """``V(r)`` (eV) and ``dV/dr`` (eV/Å) of the pair of species indices ``a``, ``b``."""
        r = np.asarray(r, dtype=float)
        e, de = zbl(r, self._Z[a], self._Z[b])
        s, ds = _switch(r, self.inner[a, b], self.outer[a, b])
        return e * s, de * s + e * ds

    def to_dict(self) -> dict:
        return {
            "kind": "zbl",
            "elements": self.elements,
            "inner": self.inner.tolist(),
            "outer": self.outer.tolist(),
        }

    @classmethod
    def from_dict(cls, d: dict) -> RepulsiveCore:
        if d.get("kind") != "zbl":
            raise ValueError(f"unknown repulsive core kind {d.get('kind')!r}")
        return cls(list(d["elements"]), d["inner"], d["outer"])
