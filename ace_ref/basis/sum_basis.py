r"""A basis made of parts with their own cutoffs and radial bases, e.g. a pair part next to a
many-body part.

``SumBasis([pair, many_body])`` has the features of every part side by side,

.. math:: E = \sum_i \Big[E_0(z_i) + \sum_p \sum_k c^{(p)}_{z_i,k} B^{(p)}_{i,k}\Big],

still linear in all coefficients, so it fits, saves, loads and verifies like any basis. The
point is the design freedom of the ACE literature: a two-body part with a long cutoff and many
radial functions (the pair interaction is well sampled even at long range) next to a many-body
part with a short cutoff (its correlations are sampled only at the distances of bonded
neighbours), so that no many-body function is evaluated across distances the data never
showed. :func:`pair_and_many_body` builds that combination from ACE bases.

Column layout (packed, as every basis): for central species ``z`` the columns
``z·K … (z+1)·K − 1`` hold part 1's functions of ``z``, then part 2's, …; ``K = Σ_p K_p``.
If a part gives its elements different numbers of functions (per-element degree budgets),
species ``z``'s block is still part 1's functions of ``z``, then part 2's, …, and the blocks
have different widths (:meth:`SumBasis.species_columns`).
"""

from __future__ import annotations

import hashlib

import numpy as np
from ase import Atoms

from ace_ref.basis.ace import ACEBasis, Pairs
from ace_ref.basis.interface import species_columns
from ace_ref.basis.tables import DesignRows

__all__ = ["SumBasis", "pair_and_many_body"]


class SumBasis:
    """The features of several bases on the same elements, side by side (module docstring)."""

    has_equivariant_features = False
    """Only invariants: the parts' equivariant features have different shapes."""

    def __init__(self, parts: list) -> None:
        parts = list(parts)
        if len(parts) < 2:
            raise ValueError("a SumBasis needs at least two parts")
        elements = parts[0].elements
        for p in parts[1:]:
            if list(p.elements) != list(elements):
                raise ValueError(
                    f"every part needs the same elements, got {elements} and {p.elements}"
                )
        self.parts = parts
        self.elements = list(elements)
        ns = len(self.elements)
        # widths[p, z]: part p's functions of central species z
        self._widths = np.array(
            [[len(species_columns(p, z)) for z in range(ns)] for p in parts], dtype=np.int64
        )
        block = self._widths.sum(axis=0)  # species z's block width
        self._block_start = np.concatenate([[0], np.cumsum(block)]).astype(np.int64)
        self._part_start = np.vstack([np.zeros(ns, np.int64), np.cumsum(self._widths, axis=0)])
        self.n_functions_per_species = int(block.max())
        self.r_cut = np.maximum.reduce([p.r_cut for p in parts])

    def __len__(self) -> int:
        return int(self._block_start[-1])

    def species_columns(self, s: int) -> np.ndarray:
        """Columns of central species ``s``: every part's functions of ``s``, part by part."""
        return np.arange(self._block_start[s], self._block_start[s + 1])

    def columns(self, part: int) -> np.ndarray:
        """Columns of part ``part``'s functions, in that part's own column order."""
        return np.concatenate(
            [
                self._block_start[z] + self._part_start[part, z] + np.arange(self._widths[part, z])
                for z in range(len(self.elements))
            ]
        )

    def _combine(self, arrays: list[np.ndarray]) -> np.ndarray:
        """Scatter each part's packed last axis into this basis's packed last axis."""
        out = np.zeros((*arrays[0].shape[:-1], len(self)))
        for p, a in enumerate(arrays):
            out[..., self.columns(p)] = a
        return out

    def pairs(self, atoms: Atoms, where: str = "structure") -> Pairs:
        """The pairs of the part with the longest cutoff (it sees every pair the others see)."""
        return self.parts[int(np.argmax([p.r_cut.max() for p in self.parts]))].pairs(atoms, where)

    def features(self, atoms: Atoms, L: int = 0, where: str = "structure") -> np.ndarray:
        if L != 0:
            raise ValueError("a SumBasis gives invariant features only (L = 0)")
        return self._combine([p.features(atoms, 0, where) for p in self.parts])

    def design_rows(self, atoms: Atoms, where: str = "structure") -> DesignRows:
        rows = [p.design_rows(atoms, where) for p in self.parts]
        return DesignRows(
            self._combine([r.energy for r in rows]),
            self._combine([r.forces for r in rows]),
            self._combine([r.virial for r in rows]),
        )

    def column_degrees(self) -> np.ndarray:
        return self._combine([p.column_degrees() for p in self.parts])

    def column_orders(self) -> np.ndarray:
        return self._combine([p.column_orders() for p in self.parts]).astype(np.int64)

    def body_order(self) -> int:
        return max(p.body_order() for p in self.parts)

    def describe(self) -> str:
        lines = [f"sum of {len(self.parts)} bases on {' '.join(self.elements)}:"]
        for k, p in enumerate(self.parts):
            widths = sorted(set(self._widths[k].tolist()))
            lines.append(f"--- part {k + 1} ({'/'.join(map(str, widths))} functions per species)")
            lines.append(p.describe())
        lines.append(f"all species: {len(self)} linear coefficients")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"kind": "sum", "parts": [p.to_dict() for p in self.parts]}

    @classmethod
    def from_dict(cls, d: dict, cache_dir="default") -> SumBasis:
        if d.get("kind") != "sum":
            raise ValueError("not a sum-basis specification")
        return cls([ACEBasis.from_dict(p, cache_dir=cache_dir) for p in d["parts"]])

    def fingerprint(self) -> str:
        h = hashlib.sha256(b"sum")
        for p in self.parts:
            h.update(p.fingerprint().encode())
        return h.hexdigest()


def pair_and_many_body(
    elements,
    *,
    pair_r_cut,
    pair_max_n: int,
    many_body: ACEBasis,
    cache_dir="default",
    **pair_options,
) -> SumBasis:
    """A two-body ACE part (order 1, ``pair_max_n`` radial functions, cutoff ``pair_r_cut``: a
    number or a pair table as :class:`ACEBasis` takes it) next to ``many_body``."""
    pair = ACEBasis(
        elements,
        1,
        max_n=[pair_max_n],
        max_l=[0],
        r_cut=pair_r_cut,
        radial=many_body.radial_spec
        if "radial" not in pair_options
        else pair_options.pop("radial"),
        cache_dir=cache_dir,
        **pair_options,
    )
    return SumBasis([pair, many_body])
