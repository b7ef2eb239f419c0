"""The full linear ACE basis: specification, enumeration, coupling tables, evaluation.

A basis function of central species ``z_i`` is

.. math:: B_{i,k} = \\sum_{\\mathbf v} C_{k \\mathbf v} \\prod_{t=1}^{\\nu} A_{i, v_t},\\qquad
          A_{i,(z,n,l,m)} = \\sum_{j: z_j = z} R^{z_i z}_n(r_{ij}) Y_l^m(\\hat r_{ij}),

for a sorted tuple ``((z_1,n_1,l_1), ..., (z_ν,n_ν,l_ν))`` of one-particle types (the
*nl-tuple*) and one of the linearly independent couplings of
:mod:`ace_ref.coupling`. ``n`` starts at 1 (pacemaker convention).

Truncation (both conventions may be combined):

* per-order caps: ``max_n[ν-1]``, ``max_l[ν-1]`` bound every factor of a ν-correlation
  (pacemaker's ``nradmax_by_orders`` / ``lmax_by_orders``); for ν = 1 only ``l = 0`` exists.
* total degree: ``Σ_t (n_t + w_L l_t) ≤ D_ν`` with ``D`` an int/Fraction or one per order,
  evaluated in exact rational arithmetic (:class:`fractions.Fraction`).

Per-element degree budgets (``element_degree_scale={"H": 0.8, "C": 1.1}``): a function of
central species ``z`` is kept if its degree is within ``s_z D_ν`` (``s_z = 1`` for elements not
named). The functions of every element are then a subset of one list, the *union* list built
with the bound ``max_z(s_z) D_ν``.

Selected functions (``selected_functions={"H": [0, 3, ...], ...}``): each element keeps the
listed functions of the union list (e.g. those chosen by greedy selection,
:func:`ace_ref.fit.selection.greedy_columns`; :meth:`ACEBasis.with_columns` builds such a
basis from the columns of another).

Column layout ("packed layout"): coefficient ``c_{z,k}`` of central species ``z`` (index in
``basis.elements``) and function ``k`` is column ``z * n_functions_per_species + k``;
``len(basis) = n_species * n_functions_per_species``. Every central species has the same
list of functions (only the radial functions, through the pair cutoffs, depend on it).
With per-element budgets the columns are the packed columns of the union list whose function
is within its element's budget, in packed order (:meth:`ACEBasis.packed_columns`): central
species ``z`` owns the contiguous block :meth:`ACEBasis.species_columns` ``(z)``.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
from fractions import Fraction
from typing import NamedTuple

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers

from ace_ref import defaults
from ace_ref.basis.purification import PurifiedTables, purify_products
from ace_ref.basis.tables import AtomicBaseGradients, BasisTables, DesignRows, assemble_tables
from ace_ref.coupling.cache import CouplingCache
from ace_ref.coupling.multisets import (
    bounded_multisets,
    count_bounded_multisets,
    sample_bounded_multisets,
)
from ace_ref.coupling.symmetric import o3_multiplicity
from ace_ref.kernels import features
from ace_ref.one_particle.neighbours import MIN_CUTOFF, neighbour_list
from ace_ref.one_particle.pair_radials import PairRadials, pair_radials_from_dict
from ace_ref.one_particle.radial import RadialSpec

__all__ = ["ACEBasis", "Pairs"]


def _float_fraction(value: float) -> Fraction:
    """The simplest fraction (denominator ≤ 1000) within rounding of a float degree:
    ``9.2 → 46/5``, and ``0.8 · 9.2 = 7.359999999999999 → 184/25``, not ``7359999999999999/10¹⁵``
    (whose scaled integer budget would be astronomically large)."""
    return Fraction(str(value)).limit_denominator(1000)


def _per_order(value, order: int, name: str, kind=int) -> list | None:
    if value is None:
        return None
    if isinstance(value, int | Fraction | float) and not isinstance(value, bool):
        values = [value] * order
    else:
        values = list(value)
    if len(values) != order:
        raise ValueError(
            f"{name} must have one entry per correlation order (order={order}), "
            f"got {len(values)}: {values}"
        )
    out = []
    for v in values:
        if kind is Fraction:
            try:
                v = Fraction(v) if not isinstance(v, float) else _float_fraction(v)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{name}: {v!r} is not a number") from exc
        else:
            if isinstance(v, bool) or int(v) != v:
                raise ValueError(f"{name}: {v!r} is not an integer")
            v = int(v)
        if v < 0:
            raise ValueError(f"{name}: negative entry {v}")
        out.append(v)
    return out


class Pairs(NamedTuple):
    """Pairs of one structure as the kernels take them (pairs sorted by the central atom)."""

    species: np.ndarray
    """Species index (in ``basis.elements``) of every atom."""
    i: np.ndarray
    """Central atom of every pair."""
    j: np.ndarray
    """Neighbour of every pair."""
    vectors: np.ndarray
    """``r_ij = r_j + shift·cell − r_i`` (Å), C-contiguous ``(n_pairs, 3)``."""
    offsets: np.ndarray
    """Pairs of atom ``i`` are ``offsets[i]:offsets[i+1]``."""
    pair_type: np.ndarray
    """``species[i]·n_species + species[j]``: which radial basis applies."""


def _parity(L: int, parity: int | None) -> int:
    """``parity`` checked (``±1``), default ``(-1)^L``."""
    if parity is None:
        return (-1) ** int(L)
    if parity not in (1, -1):
        raise ValueError(f"parity must be +1 or -1, got {parity!r}")
    return int(parity)


class ACEBasis:
    """Full linear ACE basis (see module docstring for formulas and layout).

    Parameters
    ----------
    elements
        Chemical symbols (sorted internally by atomic number).
    order
        Maximal correlation order ν (body order ν + 1).
    max_n, max_l
        Per-order caps (int or one per order).
    max_degree
        Total-degree bound (int/Fraction or one per order); ``w_L`` weights ``l``.
    r_cut
        Cutoff (Å), or a dict ``{("C", "H"): 4.5, ...}`` of pair cutoffs (symmetric; pairs not
        named use ``defaults.R_CUT`` unless a ``"default"`` key is given).
    radial
        A :class:`~ace_ref.one_particle.radial.RadialSpec` (kind and options), or just its
        kind ``"bessel"``, ``"polynomial"`` or ``"ace1"`` (the one that exports to LAMMPS
        ``.yace`` exactly) with ``radial_options`` for the radial class. Or user-supplied
        radial functions ``R^{z_i z_j}_{nl}(r)`` that may depend on ``l`` and the species pair,
        a :class:`~ace_ref.one_particle.pair_radials.PairRadials` (callable or tabulated); its
        cutoffs replace ``r_cut`` and, if it is species-embedded, the atomic base has one block
        ``A_{i,nlm} = Σ_j R^{z_i z_j}_{nl}(r_ij) Y_lm(r̂_ij)`` instead of one per neighbour
        species (labels name the neighbour ``"*"``).
    cache_dir
        Coupling cache directory (``"default"``: :func:`ace_ref.coupling.cache.default_cache_dir`;
        ``None``: no disk cache).
    max_functions
        Refuse larger bases (the error states the size).
    coupling, lmax_hidden, channels, independent
        NequIP-style sparsifications (:mod:`ace_ref.coupling.chain`): ``coupling="chain"`` builds
        the functions by iterated tensor products, with every hidden feature capped at
        ``L ≤ lmax_hidden`` (``None``: no cap); ``channels="uvu"`` ties the radial index n of
        all factors of a product (``"full"``, alias ``"uvw"``: all n-tuples);
        ``independent=False`` keeps every NequIP path as a column (linearly dependent).
        The defaults give the full symmetric ACE basis.
    max_output_L
        Largest ``L`` of equivariant features ``features(atoms, L)`` the basis supports. With a
        total degree it bounds the spherical harmonics needed (see :attr:`l_max`); invariants
        (``L = 0``) never need more than the triangle bound.
    element_degree_scale
        Per-element degree budgets ``{element: s_z}`` (positive numbers; elements not named
        keep ``s_z = 1``): central species ``z`` keeps the functions of degree ``≤ s_z D_ν``
        (module docstring). Needs ``max_degree``. Equivariant features (``L > 0``) are those
        of the union list for every species.
    selected_functions
        ``{element: indices}``: each element keeps only these functions of the union list
        (ascending, distinct, within the element's budget; every element needs at least one).
        Usually made by :meth:`with_columns` from a greedy selection.
    purify
        Self-interaction-free functions (:mod:`ace_ref.basis.purification`): every product
        ``Π_t A_{a_t}`` is replaced by its sum over *distinct* neighbours, so a function of
        correlation order ν is a pure (ν+1)-body function (zero on fewer than ν neighbours).
        Same functions count, same labels; the atomic base gains the pointwise products of
        one-particle functions the corrections need. Invariant features only (``L = 0``).
    """

    has_equivariant_features = True
    """``features(atoms, L)`` gives ``L > 0`` features too."""

    def __init__(
        self,
        elements,
        order: int,
        *,
        max_n=None,
        max_l=None,
        max_degree=None,
        w_L=defaults.W_L,
        r_cut=defaults.R_CUT,
        radial: str | RadialSpec | PairRadials = defaults.RADIAL,
        radial_options: dict | None = None,
        cache_dir="default",
        max_functions: int = defaults.MAX_FUNCTIONS,
        coupling: str = "symmetric",
        lmax_hidden: int | None = None,
        channels: str = "full",
        independent: bool = True,
        max_output_L: int = defaults.MAX_OUTPUT_L,
        element_degree_scale: dict | None = None,
        selected_functions: dict | None = None,
        purify: bool = False,
    ) -> None:
        if isinstance(elements, str):
            elements = [elements]
        elements = list(dict.fromkeys(elements))
        if not elements:
            raise ValueError("at least one element is required")
        for el in elements:
            if el not in atomic_numbers or el == "X":
                raise ValueError(f"unknown element {el!r}")
        self.elements = sorted(elements, key=lambda s: atomic_numbers[s])
        if isinstance(order, bool) or int(order) != order or order < 1:
            raise ValueError(f"order (correlation order ν) must be an integer ≥ 1, got {order!r}")
        self.order = int(order)
        self.max_n = _per_order(max_n, self.order, "max_n")
        self.max_l = _per_order(max_l, self.order, "max_l")
        self.max_degree = _per_order(max_degree, self.order, "max_degree", kind=Fraction)
        self.w_L = Fraction(w_L) if not isinstance(w_L, float) else _float_fraction(w_L)
        if self.w_L <= 0:
            raise ValueError(f"w_L must be positive, got {w_L}")
        if self.max_n is None and self.max_degree is None:
            raise ValueError("give max_n (with max_l) or max_degree to truncate the basis")
        if self.max_n is not None and self.max_l is None and self.max_degree is None:
            raise ValueError("max_n needs max_l (or max_degree) as well")
        self.element_degree_scale = self._element_scales(element_degree_scale)
        self._species_functions: list[np.ndarray] | None = None
        self._species_tables: dict[int, BasisTables] = {}
        self._union_degree = self.max_degree
        if self.element_degree_scale is not None:
            top = max(self.element_degree_scale.values())
            self._union_degree = [d * top for d in self.max_degree]
        self.max_functions = int(max_functions)
        if not isinstance(purify, bool | np.bool_):
            raise ValueError(f"purify must be True or False, got {purify!r}")
        self.purify = bool(purify)
        self._purified: PurifiedTables | None = None
        self._set_sparsification(coupling, lmax_hidden, channels, independent)
        self._caps = [self._order_caps(nu) for nu in range(1, self.order + 1)]
        if any(nmax < 1 for nmax, _ in self._caps):
            raise ValueError(f"truncation leaves no radial function for some order: {self._caps}")
        self.n_max = max(c[0] for c in self._caps)
        if isinstance(max_output_L, bool) or int(max_output_L) != max_output_L:
            raise ValueError(f"max_output_L must be an integer ≥ 0, got {max_output_L!r}")
        if max_output_L < 0:
            raise ValueError(f"max_output_L must be an integer ≥ 0, got {max_output_L!r}")
        self.max_output_L = int(max_output_L)
        self.l_max = self._needed_l_max()
        from ace_ref.one_particle.spherical import LMAX_TABLE

        if self.l_max > LMAX_TABLE:  # the Y_lm kernel is tabulated up to LMAX_TABLE
            raise ValueError(
                f"this truncation needs spherical harmonics up to l = {self.l_max}, but they "
                f"are tabulated only up to l = {LMAX_TABLE}: cap max_l (it combines with "
                "max_degree) or lower max_degree"
            )
        self.pair_radials = radial if isinstance(radial, PairRadials) else None
        if self.pair_radials is not None:
            self._use_pair_radials(radial, radial_options)
            radial = defaults.RADIAL  # only fills the unused spec of the built-in kinds
        if isinstance(radial, RadialSpec):
            if radial_options:
                raise ValueError("give radial options inside the RadialSpec, not radial_options")
            radial, radial_options = radial.kind, radial.options
        self.radial_spec = RadialSpec(radial, **(radial_options or {}))
        self.radial_kind = self.radial_spec.kind
        self.radial_options = dict(self.radial_spec.options)
        self.r_cut = self._pair_cutoffs(r_cut)
        self.radials = self._make_radials()
        if self.pair_radials is not None:
            self.radial_kind = self.pair_radials.name
            self.radial_options = {}
            self.r_cut = np.array(
                [[self.pair_radials.cutoff(a, b) for b in self.elements] for a in self.elements]
            )
            self.radials = [[self.pair_radials] * len(self.elements)] * len(self.elements)
        self._coupling = CouplingCache(cache_dir)
        self._tables: dict[int, BasisTables] = {}
        self._nl_cache: dict[tuple[int, int], list] = {}
        self._n_paths: dict[int, int] = {}
        self._refuse_absurd_size()
        n = self._count(0)  # the full count bounds every independent sparsification
        self._check_size(n)
        self.n_functions_per_species = n
        if self.coupling == "chain":
            self.n_functions_per_species = self.tables(0).n_functions
            self._check_size(self.n_functions_per_species)
        if not getattr(self, "_count_only", False):
            self.tables(0)
        self._select(selected_functions)

    def _select(self, selected_functions: dict | None) -> None:
        """Set the functions each element keeps: its degree budget, then ``selected_functions``
        of those (checked) if given."""
        self._species_functions = self._budget_functions()
        self.selected_functions = self._check_selected(selected_functions)
        if self.selected_functions is not None:
            self._species_functions = [self.selected_functions[el] for el in self.elements]

    @classmethod
    def size(cls, elements, order: int, **kwargs) -> int:
        """``len(ACEBasis(elements, order, **kwargs))`` without building its coupling tables
        (the count of the O(3) character formula; fast enough to search truncations)."""
        basis = cls.__new__(cls)
        basis._count_only = True
        basis.__init__(elements, order, **kwargs)
        return len(basis)

    def _check_size(self, n: int) -> None:
        if n * len(self.elements) > self.max_functions:
            raise ValueError(
                f"this specification gives {n * len(self.elements)} basis functions "
                f"({n} per species), more than max_functions={self.max_functions}; "
                "lower order/max_n/max_l/max_degree or raise max_functions"
            )

    def _element_scales(self, scales) -> dict[str, Fraction] | None:
        """``{element: s_z}`` for every element (exact fractions), or ``None`` if all are 1."""
        if scales is None:
            return None
        if not isinstance(scales, dict):
            raise ValueError(
                f"element_degree_scale must be a dict {{element: scale}}, got {scales!r}"
            )
        if self.max_degree is None:
            raise ValueError(
                "element_degree_scale scales the total degree max_degree: give max_degree"
            )
        out = dict.fromkeys(self.elements, Fraction(1))
        for el, value in scales.items():
            if el not in self.elements:
                raise ValueError(
                    f"element_degree_scale names {el!r}, not one of the basis elements "
                    f"{self.elements}"
                )
            try:
                if isinstance(value, float):
                    if not math.isfinite(value):
                        raise ValueError
                    value = _float_fraction(value)
                value = Fraction(value)
            except (TypeError, ValueError, ZeroDivisionError):
                raise ValueError(
                    f"element_degree_scale[{el!r}] must be a positive number, got {value!r}"
                ) from None
            if value <= 0:
                raise ValueError(
                    f"element_degree_scale[{el!r}] must be a positive number, got {value}"
                )
            out[el] = value
        if all(v == 1 for v in out.values()):
            return None
        return out

    def _within_budget(self, degrees: list[Fraction], orders: list[int]) -> list[np.ndarray]:
        """Per central species, the indices of the union-list functions (exact degree
        ``degrees[k]``, order ``orders[k]``) within ``s_z D_ν``."""
        out = []
        for el in self.elements:
            scale = self.element_degree_scale[el]
            bound = [scale * d for d in self.max_degree]
            keep = [
                k
                for k, (g, nu) in enumerate(zip(degrees, orders, strict=True))
                if g <= bound[nu - 1]
            ]
            out.append(np.array(keep, dtype=np.int64))
        return out

    def _budget_functions(self) -> list[np.ndarray] | None:
        """Which union-list functions each central species keeps (``None``: all of them)."""
        if self.element_degree_scale is None:
            return None
        if getattr(self, "_count_only", False) and self.coupling == "symmetric":
            degrees, orders = [], []  # from the tuples: every coupling of a tuple shares its degree
            for nu in range(1, self.order + 1):
                for combo, _, multiplicity in self.nl_tuples(nu, 0):
                    degree = sum((self._degree1(n, l) for _, n, l in combo), Fraction(0))
                    degrees += [degree] * multiplicity
                    orders += [nu] * multiplicity
        else:
            labels = self.tables(0).labels
            degrees = [
                sum((self._degree1(n, l) for _, n, l in lab["nl"]), Fraction(0)) for lab in labels
            ]
            orders = [len(lab["nl"]) for lab in labels]
        functions = self._within_budget(degrees, orders)
        if any(len(f) == 0 for f in functions):
            empty = [el for el, f in zip(self.elements, functions, strict=True) if len(f) == 0]
            raise ValueError(f"element_degree_scale leaves no function for {empty}")
        return functions

    def _check_selected(self, selected) -> dict[str, np.ndarray] | None:
        """``selected_functions`` as ``{element: int64 array}``, refused unless every element
        names an ascending list of distinct functions within its budget."""
        if selected is None:
            return None
        if not isinstance(selected, dict):
            raise ValueError(
                f"selected_functions must be a dict {{element: function indices}}, got "
                f"{type(selected).__name__}"
            )
        if sorted(selected) != sorted(self.elements):
            raise ValueError(
                f"selected_functions must name every basis element {self.elements} once, got "
                f"{sorted(selected)}"
            )
        out = {}
        for s, el in enumerate(self.elements):
            try:
                idx = np.asarray(selected[el], dtype=np.float64).reshape(-1)
            except (TypeError, ValueError):
                raise ValueError(
                    f"selected_functions[{el!r}] must be a list of function indices"
                ) from None
            if len(idx) == 0:
                raise ValueError(
                    f"selected_functions[{el!r}] is empty: every element needs a function"
                )
            if not np.all(np.isfinite(idx)) or not np.all(idx == np.round(idx)):
                raise ValueError(f"selected_functions[{el!r}] must hold integer indices")
            idx = idx.astype(np.int64)
            if np.any(np.diff(idx) <= 0):
                raise ValueError(
                    f"selected_functions[{el!r}] must be ascending and without repeats"
                )
            allowed = (
                np.arange(self.n_functions_per_species)
                if self._species_functions is None
                else self._species_functions[s]
            )
            outside = idx[~np.isin(idx, allowed)]
            if len(outside):
                raise ValueError(
                    f"selected_functions[{el!r}] names functions {outside[:5].tolist()} that are "
                    f"not among the element's {len(allowed)} functions of this basis"
                )
            out[el] = idx
        return out

    def with_columns(self, columns) -> ACEBasis:
        """The basis of only ``columns`` of this one (column ``i`` of the result is column
        ``sorted(columns)[i]`` here, same function, same prior degree), e.g. the greedy choice of
        :func:`ace_ref.fit.selection.greedy_columns`."""
        columns = np.unique(np.asarray(columns, dtype=np.int64))
        if len(columns) == 0 or columns[0] < 0 or columns[-1] >= len(self):
            raise ValueError(f"columns must be indices in [0, {len(self)})")
        packed = self.packed_columns()[columns]
        K = self.n_functions_per_species
        chosen = {el: (packed[packed // K == z] % K).tolist() for z, el in enumerate(self.elements)}
        empty = [el for el, f in chosen.items() if not f]
        if empty:
            raise ValueError(f"the chosen columns leave no function for {empty}")
        # the same basis as ``from_dict`` of the spec with these ``selected_functions`` (tested),
        # without enumerating the functions and building the union tables again: those do not
        # depend on the selection, only the per-species tables do
        subset = copy.copy(self)
        subset._tables, subset._nl_cache = dict(self._tables), dict(self._nl_cache)
        subset._n_paths, subset._species_tables = dict(self._n_paths), {}
        subset._select(chosen)
        return subset

    def species_functions(self, s: int) -> np.ndarray:
        """Indices into the union list (``tables(0)``) of the functions of central species
        ``s`` (all of them unless ``element_degree_scale`` budgets the elements)."""
        if self._species_functions is None:
            return np.arange(self.n_functions_per_species)
        return self._species_functions[s]

    def species_tables(self, s: int) -> BasisTables:
        """Invariant tables of central species ``s``'s own functions (``species_functions``),
        with only the products they use: what its atoms evaluate. Without per-element budgets
        these are :meth:`tables` ``(0)``."""
        if self._species_functions is None:
            return self.tables(0)
        if s not in self._species_tables:
            t = self.tables(0)
            keep = self.species_functions(s)
            counts = t.c_indptr[keep + 1] - t.c_indptr[keep]
            start = np.repeat(t.c_indptr[keep] - np.cumsum(counts) + counts, counts)
            entries = start + np.arange(int(counts.sum()))  # CSR entries of the kept rows
            used, columns = np.unique(t.c_indices[entries], return_inverse=True)
            self._species_tables[s] = assemble_tables(
                0, len(keep), 1, [t.product_index[used]],
                [np.repeat(np.arange(len(keep)), counts)], [columns.reshape(-1)],
                [t.c_data[entries]], self.order, self.n_neighbour_slots, self.n_slot,
                [t.labels[k] for k in keep],
            )  # fmt: skip
        return self._species_tables[s]

    def _atoms_of_species(self, species, offsets):
        """Per central species ``s`` present: ``(s, atoms, their pair offsets, their pairs)``
        (pairs are stored by central atom, ``offsets[i]:offsets[i+1]``)."""
        counts = np.diff(offsets)
        for s in range(len(self.elements)):
            atoms = np.flatnonzero(species == s)
            if len(atoms) == 0:
                continue
            c = counts[atoms]
            local = np.zeros(len(atoms) + 1, dtype=np.int64)
            np.cumsum(c, out=local[1:])
            pairs = np.repeat(offsets[atoms] - local[:-1], c) + np.arange(local[-1])
            yield s, atoms, local, pairs

    def species_columns(self, s: int) -> np.ndarray:
        """This basis's columns of central species ``s`` (a contiguous block)."""
        widths = [len(self.species_functions(z)) for z in range(len(self.elements))]
        start = sum(widths[:s])
        return np.arange(start, start + widths[s])

    def packed_columns(self) -> np.ndarray:
        """Where each column sits in the packed layout of the union list: column ``c`` of this
        basis is packed column ``packed_columns()[c] = z K + k`` (``K``:
        :attr:`n_functions_per_species`). The identity without per-element budgets."""
        K = self.n_functions_per_species
        return np.concatenate(
            [z * K + self.species_functions(z) for z in range(len(self.elements))]
        )

    def packed_coefficients(self, coefficients: np.ndarray) -> np.ndarray:
        """``coefficients`` (one per column) spread into the packed layout of the union list,
        zero for the functions an element's budget leaves out."""
        coefficients = np.asarray(coefficients, dtype=float)
        if self._species_functions is None:
            return coefficients
        out = np.zeros(
            (*coefficients.shape[:-1], self.n_functions_per_species * len(self.elements))
        )
        out[..., self.packed_columns()] = coefficients
        return out

    def _set_sparsification(self, coupling, lmax_hidden, channels, independent) -> None:
        from ace_ref.coupling.chain import CHANNELS, COUPLINGS

        if coupling not in COUPLINGS:
            raise ValueError(f"unknown coupling {coupling!r} (choose from {COUPLINGS})")
        channels = "full" if channels == "uvw" else channels
        if channels not in CHANNELS:
            raise ValueError(f"unknown channels {channels!r} (choose 'full'/'uvw' or 'uvu')")
        if lmax_hidden is not None:
            if coupling != "chain":
                raise ValueError(
                    "lmax_hidden caps the hidden features of the chain tree: it needs "
                    "coupling='chain'"
                )
            if isinstance(lmax_hidden, bool) or int(lmax_hidden) != lmax_hidden:
                raise ValueError(f"lmax_hidden must be an integer ≥ 0, got {lmax_hidden!r}")
            if lmax_hidden < 0:
                raise ValueError(f"lmax_hidden must be an integer ≥ 0, got {lmax_hidden!r}")
            lmax_hidden = int(lmax_hidden)
        if not isinstance(independent, bool | np.bool_):
            raise ValueError(f"independent must be True or False, got {independent!r}")
        self.coupling = coupling
        self.lmax_hidden = lmax_hidden
        self.channels = channels
        self.independent = bool(independent)

    @property
    def is_sparsified(self) -> bool:
        """True unless this is the full symmetric ACE basis."""
        return self.coupling != "symmetric" or self.channels != "full"

    # ------------------------------------------------------------------ specification
    def _order_caps(self, nu: int) -> tuple[int, int]:
        nmax = self.max_n[nu - 1] if self.max_n is not None else None
        lmax = self.max_l[nu - 1] if self.max_l is not None else None
        if self._union_degree is not None:
            D = self._union_degree[nu - 1]
            n_deg = int(D)  # n ≥ 1, l ≥ 0: n ≤ D
            l_deg = int((D - 1) / self.w_L) if D >= 1 else -1
            nmax = n_deg if nmax is None else min(nmax, n_deg)
            lmax = l_deg if lmax is None else min(lmax, l_deg)
        return nmax, max(lmax, 0) if lmax is not None else 0

    def _needed_l_max(self) -> int:
        """Largest ``l`` any one-particle function can carry in a feature of output
        ``L ≤ max_output_L`` — the extent of the spherical harmonics.

        Coupling ``l_1 … l_ν`` to ``L`` needs ``l_1 ≤ l_2 + … + l_ν + L`` (triangle rule), so
        ``2 w_L l_1 ≤ w_L (l_1 + … + l_ν) + w_L L ≤ D_ν − ν + w_L L`` with every ``n ≥ 1``:
        ``l ≤ ⌊(D_ν − ν + w_L L)/(2 w_L)⌋``, besides the per-order cap ``max_l``. Order 1
        carries ``l = L``. :meth:`tables` checks that no tuple exceeds it.
        """
        L = self.max_output_L
        needed = min(L, self._caps[0][1] if self.order == 1 else max(c[1] for c in self._caps))
        degree = self._union_degree
        if degree is not None and degree[0] < 1 + self.w_L * L:
            needed = min(needed, max(int((degree[0] - 1) / self.w_L), 0))
        for nu in range(2, self.order + 1):
            cap = self._caps[nu - 1][1]
            if degree is not None:
                D = degree[nu - 1]
                cap = min(cap, max(int((D - nu + self.w_L * L) / (2 * self.w_L)), 0))
            needed = max(needed, cap)
        return needed

    def _pair_cutoffs(self, r_cut) -> np.ndarray:
        ns = len(self.elements)
        if isinstance(r_cut, dict):
            default = r_cut.get("default", defaults.R_CUT)
            table = np.full((ns, ns), float(default))
            for key, value in r_cut.items():
                if key == "default":
                    continue
                a, b = key
                for el in (a, b):
                    if el not in self.elements:
                        raise ValueError(f"r_cut names element {el!r} not in {self.elements}")
                ia, ib = self.elements.index(a), self.elements.index(b)
                table[ia, ib] = table[ib, ia] = float(value)
        else:
            table = np.full((ns, ns), float(r_cut))
        if not np.all(np.isfinite(table)) or np.any(table < MIN_CUTOFF):
            raise ValueError(
                f"cutoffs must be finite and at least {MIN_CUTOFF} Å, got {table.tolist()}"
            )
        return table

    def _make_radials(self) -> list:
        ns = len(self.elements)
        return [
            [self.radial_spec.build(self.n_max, float(self.r_cut[a, b])) for b in range(ns)]
            for a in range(ns)
        ]

    def _types(self, nu: int) -> list[tuple[int, int, int]]:
        nmax, lmax = self._caps[nu - 1]
        return [
            (s, n, l)
            for s in range(self.n_neighbour_slots)
            for n in range(1, nmax + 1)
            for l in range(0, lmax + 1)
            if self._degree1(n, l) <= self._degree_bound(nu)
        ]

    def _degree1(self, n: int, l: int) -> Fraction:
        return Fraction(n) + self.w_L * l

    def _degree_bound(self, nu: int) -> Fraction:
        if self._union_degree is None:
            return Fraction(10**9)
        return self._union_degree[nu - 1]

    def nl_tuples(self, nu: int, L: int = 0, parity: int | None = None) -> list:
        """Sorted one-particle tuples of order ``nu`` whose coupling to ``L`` is non-empty.

        Returns a list of ``(tuple_of_(s, n, l), group_sizes, multiplicity)`` (computed once).
        ``parity`` defaults to ``(-1)^L`` (see :meth:`tables`).
        """
        parity = _parity(L, parity)
        key = (nu, L) if parity == (-1) ** L else (nu, L, parity)
        if key not in self._nl_cache:
            self._nl_cache[key] = list(self._enumerate_nl_tuples(nu, L, parity))
        return self._nl_cache[key]

    def _enumerate_nl_tuples(self, nu: int, L: int, parity: int | None = None):
        parity = _parity(L, parity)
        types = self._types(nu) if nu > 1 else [t for t in self._types_order1() if t[2] == L]
        # exact degrees as integers: deg · q with q the common denominator of w_L and the bound
        scaled, bound_q = self._scaled_degrees(types, nu)
        memo: dict = {}
        for pool in self._pools(types):
            weights = [scaled[t] for t in pool]
            for index in bounded_multisets(weights, nu, bound_q):
                combo = tuple(pool[i] for i in index)
                if (-1) ** sum(t[2] for t in combo) != parity:
                    continue
                sizes = tuple(len(list(g)) for _, g in itertools.groupby(combo))
                ls = tuple(t[2] for t in combo)
                key = (ls, sizes)
                if key not in memo:
                    groups, pos = [], 0
                    for size in sizes:
                        groups.append((ls[pos], size))
                        pos += size
                    memo[key] = o3_multiplicity(groups, L, parity)
                if memo[key]:
                    yield combo, sizes, memo[key]

    def _pools(self, types) -> list[list]:
        """Sets of one-particle types whose sorted tuples are candidates: all types, or for
        ``channels="uvu"`` one pool per radial index n (every factor shares the channel n)."""
        if self.channels != "uvu":
            return [types]
        by_n: dict = {}
        for t in types:
            by_n.setdefault(t[1], []).append(t)
        return [by_n[n] for n in sorted(by_n)]

    def _types_order1(self):
        nmax, _ = self._caps[0]
        lmax = max(c[1] for c in self._caps)
        return [
            (s, n, l)
            for s in range(self.n_neighbour_slots)
            for n in range(1, nmax + 1)
            for l in range(lmax + 1)
            if self._degree1(n, l) <= self._degree_bound(1)
        ]

    def _scaled_degrees(self, types, nu: int) -> tuple[dict, int]:
        """Exact degrees of ``types`` and the order-``nu`` bound as integers (scaled by the
        common denominator of ``w_L`` and the bound)."""
        bound = Fraction(self._degree_bound(nu))
        q = math.lcm(self.w_L.denominator, bound.denominator)
        return {t: int(self._degree1(t[1], t[2]) * q) for t in types}, int(bound * q)

    def _refuse_absurd_size(self) -> None:
        """Refuse a basis larger than ``max_functions`` before enumerating a tuple or
        building a table, and say how large it would be.

        Per order ``ν ≥ 2`` the sorted ν-tuples within the degree budget are counted exactly
        (:func:`ace_ref.coupling.multisets.count_bounded_multisets`, memory independent of
        the number of one-particle types). Where they could exceed the budget, the number
        of invariants is estimated (:meth:`_size_estimate`: exact for ``ν = 2``, sampled or
        bounded below for ``ν ≥ 3``). The basis is refused if the estimates add up to more
        than ``max_functions``, or if some order has more than ``20 max_functions``
        candidate tuples (too many to enumerate).
        """
        n_species = len(self.elements)
        per_species_budget = self.max_functions / n_species
        total, parts, kinds = 0, [], set()
        for nu in range(2, self.order + 1):
            types = self._types(nu)
            scaled, bound_q = self._scaled_degrees(types, nu)
            pools = self._pools(types)
            weights = [[scaled[t] for t in pool] for pool in pools]
            counts = np.array([count_bounded_multisets(w, nu, bound_q) for w in weights], float)
            n_tuples = counts.sum()
            if n_tuples <= per_species_budget and nu > 2:
                continue
            value, kind = self._size_estimate(nu, pools, weights, counts, bound_q)
            total += value * n_species
            kinds.add(kind)
            parts.append(f"order {nu}: {kind} {value * n_species:.3g} ({n_tuples:.3g} tuples)")
            if total > self.max_functions or n_tuples > 20 * self.max_functions:
                how = "at least " if "at least" in kinds else "about " if "about" in kinds else ""
                raise ValueError(
                    f"this specification gives {how}{total:.3g} basis functions, more than "
                    f"max_functions={self.max_functions} ({'; '.join(parts)}); lower "
                    "order/max_n/max_l/max_degree or raise max_functions"
                )

    def _size_estimate(self, nu, pools, weights, counts, bound_q) -> tuple[int, str]:
        """Number of order-``nu`` invariants per species, before building anything.

        Returns the number and how it was found:

        * ``"exactly"`` for ``nu = 2``, in closed form: two factors couple to an invariant
          only if they carry the same ``l`` (multiplicity one), so the count is the number of
          bounded pairs within each ``l``.
        * ``"about"`` for ``nu ≥ 3`` if the sampling tables are small (≤ 10⁷ numbers): the
          mean character-formula multiplicity of 400 tuples drawn uniformly (seeded) times
          the number of tuples.
        * ``"at least"`` otherwise: products of ``l = 0`` functions alone are invariant, one
          each.
        """

        def count_within(select) -> int:
            total = 0
            for pool, w in zip(pools, weights, strict=True):
                kept = [wi for t, wi in zip(pool, w, strict=True) if select(t)]
                total += count_bounded_multisets(kept, nu, bound_q)
            return total

        if nu == 2:
            ls = sorted({t[2] for pool in pools for t in pool})
            return sum(count_within(lambda t, l=l: t[2] == l) for l in ls), "exactly"
        table_size = sum(
            len(w) * (nu + 1) * (min(bound_q, nu * max(w, default=0)) + 1) for w in weights
        )
        if table_size > 10**7:
            return count_within(lambda t: t[2] == 0), "at least"
        rng = np.random.default_rng(0)
        draws = rng.multinomial(400, counts / counts.sum())
        total = 0
        for pool, w, n_draws in zip(pools, weights, draws, strict=True):
            for index in sample_bounded_multisets(w, nu, bound_q, int(n_draws), rng):
                combo = tuple(pool[i] for i in index)
                if (-1) ** sum(t[2] for t in combo) != 1:
                    continue
                sizes = [len(list(g)) for _, g in itertools.groupby(combo)]
                groups, pos = [], 0
                for size in sizes:
                    groups.append((combo[pos][2], size))
                    pos += size
                total += o3_multiplicity(groups, 0, 1)
        return int(total / 400 * counts.sum()), "about"

    def _count(self, L: int) -> int:
        return sum(m for nu in range(1, self.order + 1) for _, _, m in self.nl_tuples(nu, L))

    # ------------------------------------------------------------------ tables
    @property
    def n_lm(self) -> int:
        return (self.l_max + 1) ** 2

    @property
    def n_slot(self) -> int:
        """One-particle functions per neighbour species: ``n_max (l_max + 1)^2``, plus the
        pointwise products of a purified basis (:attr:`extra_slots`)."""
        if getattr(self, "_purified", None) is not None:
            return self._purified.n_slot
        return self.n_max * self.n_lm

    @property
    def extra_slots(self) -> np.ndarray:
        """Pointwise products ``ψ_e = Π_t φ_{extra_slots[e, t]}`` a purified basis adds to
        the one-particle functions (indices inside a species block, ``-1`` padding); they sit
        at ``s n_slot + n_max (l_max+1)² + e``. Empty unless ``purify``."""
        if getattr(self, "_purified", None) is None:
            return np.zeros((0, self.order), dtype=np.int64)
        return self._purified.extra_index

    def one_particle_index(self, s: int, n: int, l: int, m) -> np.ndarray:
        """``a = s n_slot + (n − 1)(l_max+1)^2 + l² + l + m``."""
        if l > self.l_max:
            raise ValueError(
                f"a feature needs spherical harmonics of degree l = {l}, beyond this basis's "
                f"l_max = {self.l_max} (sized for outputs L ≤ {self.max_output_L}); build the "
                "basis with a larger max_output_L"
            )
        return s * self.n_slot + (n - 1) * self.n_lm + l * l + l + np.asarray(m)

    def tables(self, L: int = 0, parity: int | None = None) -> BasisTables:
        """Index and coupling tables for output irrep ``L`` (built once, then reused).

        ``parity`` (``±1``) is the output's sign under inversion, ``(-1)^Σl`` of its factors;
        the default ``(-1)^L`` gives the functions that transform with ``D^L(Q)`` for every
        ``Q ∈ O(3)`` (scalars, vectors, …). The other parity (``L = 0``: pseudo-scalars,
        ``L = 1``: pseudo-vectors such as e3nn's ``1e``) transforms with ``det(Q) D^L(Q)``.
        """
        parity = _parity(L, parity)
        key = L if parity == (-1) ** L else (L, parity)
        if key in self._tables:
            return self._tables[key]
        if self.purify and key != 0:
            raise ValueError(
                f"a purified basis (purify=True) gives invariant features only; L = {L} with "
                f"parity {parity:+d} needs purify=False"
            )
        prod_rows, c_rows, c_cols, c_vals, labels = [], [], [], [], []
        n_products = 0
        k = 0
        width = 2 * L + 1
        n_paths = 0
        for nu in range(1, self.order + 1):
            for combo, sizes, mult in self.nl_tuples(nu, L, parity):
                ls = tuple(t[2] for t in combo)
                if self.coupling == "chain":
                    from ace_ref.coupling.chain import chain_block

                    block = chain_block(ls, sizes, L, parity, self.lmax_hidden, self.independent)
                    n_paths += block.n_paths
                    if block.n_functions == 0:
                        continue
                else:
                    block = self._coupling.get(ls, sizes, L, parity)
                    n_paths += block.n_functions
                    if block.n_functions != mult:
                        raise RuntimeError(
                            f"coupling of {combo} gave {block.n_functions} functions, "
                            f"character formula says {mult}"
                        )
                base = np.array([self.one_particle_index(s, n, l, 0) for s, n, l in combo])
                a = base[None, :] + block.m_tuples.astype(np.int64)
                padded = np.full((len(a), self.order), -1, dtype=np.int64)
                padded[:, :nu] = a
                prod_rows.append(padded)
                f_idx, t_idx, M_idx = np.nonzero(block.coeffs)
                c_rows.append((k + f_idx) * width + M_idx)
                c_cols.append(n_products + t_idx)
                c_vals.append(block.coeffs[f_idx, t_idx, M_idx])
                for f in range(block.n_functions):
                    label = {
                        "order": nu,
                        "nl": [(self._slot_name(s), n, l) for s, n, l in combo],
                        "path": [int(x) for x in block.paths[f]],
                    }
                    if self.coupling == "chain":
                        label["ordering"] = [int(x) for x in block.orderings[f]]
                    labels.append(label)
                n_products += len(a)
                k += block.n_functions
        tables = assemble_tables(
            L, k, width, prod_rows, c_rows, c_cols, c_vals, self.order,
            self.n_neighbour_slots, self.n_slot, labels,
        )  # fmt: skip
        if self.purify:
            tables = self._purified_tables(tables)
        self._tables[key] = tables
        self._n_paths[key] = n_paths
        return tables

    def _purified_tables(self, raw: BasisTables) -> BasisTables:
        """The invariant tables rewritten on distinct neighbours (sets :attr:`extra_slots`)."""
        p = purify_products(
            raw.product_index, raw.product_order, raw.coupling_matrix, self.n_slot, self.order
        )
        self._purified = p
        return assemble_tables(
            0, raw.n_functions, 1, [p.product_index], [p.rows], [p.cols], [p.vals], self.order,
            self.n_neighbour_slots, p.n_slot, raw.labels,
        )  # fmt: skip

    def n_paths(self, L: int = 0) -> int:
        """Number of coupling paths per species before any reduction: for ``coupling="chain"``
        every non-zero NequIP path (ordering × chain path), otherwise the function count."""
        self.tables(L)
        return self._n_paths[L]

    # ------------------------------------------------------------------ descriptions
    def __len__(self) -> int:
        if self._species_functions is not None:
            return sum(len(f) for f in self._species_functions)
        return self.n_functions_per_species * len(self.elements)

    def counts_by_order(self, L: int = 0) -> dict[int, int]:
        """Number of functions per correlation order (per central species)."""
        counts = dict.fromkeys(range(1, self.order + 1), 0)
        for lab in self.tables(L).labels:
            counts[lab["order"]] += 1
        return counts

    def _cutoff_text(self) -> str:
        """``4.5 Å``, or the pairs that differ from the most common cutoff: ``4.5 Å (O-O 3.220,
        C-C 4.350)``."""
        values, counts = np.unique(self.r_cut, return_counts=True)
        common = values[np.argmax(counts)]
        others = [
            f"{a}-{b} {self.r_cut[i, j]:.3f}"
            for i, a in enumerate(self.elements)
            for j, b in enumerate(self.elements)
            if j >= i and self.r_cut[i, j] != common
        ]
        return f"{common:g} Å" + (f" ({', '.join(others)})" if others else "")

    def describe(self) -> str:
        """Human-readable summary: counts per order and per central species."""
        counts = self.counts_by_order()
        lines = [
            f"ACE basis: elements {' '.join(self.elements)}, correlation order ν ≤ {self.order} "
            f"(body order ≤ {self.order + 1}), radial '{self.radial_kind}' with n ≤ {self.n_max}, "
            f"l ≤ {self.l_max}",
            f"cutoff {self._cutoff_text()}; truncation: "
            + (f"max_n={self.max_n} max_l={self.max_l} " if self.max_n is not None else "")
            + (
                f"max_degree={[str(d) for d in self.max_degree]} (w_L={self.w_L})"
                if self.max_degree is not None
                else ""
            ),
        ]
        if self.pair_radials is not None:
            lines.append(self.pair_radials.describe())
        if self.is_sparsified:
            lines.append(
                f"sparsification: coupling '{self.coupling}', hidden L ≤ "
                f"{'∞' if self.lmax_hidden is None else self.lmax_hidden}, channels "
                f"'{self.channels}', {'independent functions' if self.independent else 'all paths'}"
                f" ({self.n_paths(0)} NequIP paths per species)"
            )
        lines += [f"{'order':>6} {'per species':>12}"]
        for nu, c in counts.items():
            lines.append(f"{nu:>6} {c:>12}")
        lines.append(f"{'total':>6} {self.n_functions_per_species:>12}")
        if self.element_degree_scale is not None:
            lines.append(
                "per-element degree budgets (of the list above): "
                + ", ".join(f"{el} × {v}" for el, v in self.element_degree_scale.items())
            )
        if self.purify:
            lines.append(
                f"purified (self-interaction-free): distinct neighbours in every product; "
                f"{len(self.extra_slots)} pointwise products added to the "
                f"{self.n_max * self.n_lm} one-particle functions"
            )
        if self.selected_functions is not None:
            lines.append("selected functions (of the list above, e.g. by greedy selection):")
        for s, el in enumerate(self.elements):
            lines.append(f"central {el}: {len(self.species_functions(s))} functions")
        lines.append(f"all species: {len(self)} linear coefficients")
        return "\n".join(lines)

    def fingerprint(self) -> str:
        """SHA-256 of the invariant tables (products and coupling coefficients rounded to 12
        significant digits): two bases with the same fingerprint define the same functions in
        the same column order, so fitted coefficients mean the same thing."""
        import hashlib

        t = self.tables(0)
        h = hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode())
        for a in (t.product_index, t.c_indptr, t.c_indices):
            h.update(np.ascontiguousarray(a, dtype=np.int64).tobytes())
        h.update(np.array([float(f"{x:.12g}") for x in t.c_data]).tobytes())
        return h.hexdigest()

    def to_dict(self) -> dict:
        """Plain-JSON specification from which :meth:`from_dict` rebuilds the same basis."""
        d = {
            "elements": self.elements,
            "order": self.order,
            "max_n": self.max_n,
            "max_l": self.max_l,
            "max_degree": None if self.max_degree is None else [str(d) for d in self.max_degree],
            "w_L": str(self.w_L),
            "r_cut": self.r_cut.tolist(),
            "radial": self.radial_kind,
            "radial_options": self.radial_options,
        }
        if self.pair_radials is not None:
            d["radial"] = self.pair_radials.to_dict()
            d["radial_options"] = {}
        if self.max_output_L != defaults.MAX_OUTPUT_L:
            d["max_output_L"] = self.max_output_L
        # sparsification keys only when they differ from the full basis, so that the
        # fingerprints of existing full-basis models do not change
        if self.coupling != "symmetric":
            d["coupling"] = self.coupling
            d["lmax_hidden"] = self.lmax_hidden
            d["independent"] = self.independent
        if self.channels != "full":
            d["channels"] = self.channels
        if self.element_degree_scale is not None:
            d["element_degree_scale"] = {el: str(v) for el, v in self.element_degree_scale.items()}
        if self.selected_functions is not None:
            d["selected_functions"] = {
                el: [int(k) for k in f] for el, f in self.selected_functions.items()
            }
        if self.purify:  # only when set: unpurified fingerprints stay as they were
            d["purify"] = True
        return d

    @classmethod
    def from_dict(cls, d: dict, cache_dir="default") -> ACEBasis:
        els = d["elements"]
        table = np.asarray(d["r_cut"], dtype=float)
        r_cut = {(a, b): table[i, j] for i, a in enumerate(els) for j, b in enumerate(els)}
        return cls(
            els,
            d["order"],
            max_n=d["max_n"],
            max_l=d["max_l"],
            max_degree=None if d["max_degree"] is None else [Fraction(x) for x in d["max_degree"]],
            w_L=Fraction(d["w_L"]),
            r_cut=r_cut,
            radial=(
                pair_radials_from_dict(d["radial"])
                if isinstance(d["radial"], dict)
                else d["radial"]
            ),
            radial_options=d.get("radial_options") or {},
            cache_dir=cache_dir,
            coupling=d.get("coupling", "symmetric"),
            lmax_hidden=d.get("lmax_hidden"),
            channels=d.get("channels", "full"),
            independent=d.get("independent", True),
            max_output_L=d.get("max_output_L", defaults.MAX_OUTPUT_L),
            element_degree_scale=(
                {el: Fraction(v) for el, v in d["element_degree_scale"].items()}
                if d.get("element_degree_scale")
                else None
            ),
            selected_functions=d.get("selected_functions"),
            purify=bool(d.get("purify", False)),
        )

    # ------------------------------------------------------------------ evaluation
    def pairs(self, atoms: Atoms, where: str = "structure") -> Pairs:
        """The pairs this basis sees in ``atoms``: the neighbour list at ``max r_cut``,
        cut to each species pair's own cutoff, sorted by the central atom ``i``.

        ``where`` names the structure in error messages (unknown elements, bad geometry).
        """
        if not isinstance(atoms, Atoms):
            raise TypeError(f"{where}: expected ase.Atoms, got {type(atoms).__name__}")
        index = {el: s for s, el in enumerate(self.elements)}
        species = np.empty(len(atoms), dtype=np.int64)
        for i, sym in enumerate(atoms.get_chemical_symbols()):
            if sym not in index:
                raise ValueError(
                    f"{where}: atom {i} is {sym}, not one of the basis elements {self.elements}"
                )
            species[i] = index[sym]
        nl = neighbour_list(atoms, float(self.r_cut.max()), where)
        pair_type = species[nl.i] * len(self.elements) + species[nl.j]
        r = np.linalg.norm(nl.vectors, axis=1)
        keep = r < self.r_cut.ravel()[pair_type]
        if not np.all(keep):
            i, j, D = nl.i[keep], nl.j[keep], nl.vectors[keep]
            offsets = np.zeros(len(atoms) + 1, dtype=np.int64)
            np.cumsum(np.bincount(i, minlength=len(atoms)), out=offsets[1:])
            pair_type = pair_type[keep]
        else:
            i, j, D, offsets = nl.i, nl.j, nl.vectors, nl.offsets
        return Pairs(species, i, j, np.ascontiguousarray(D), offsets, pair_type)

    def radial_parameters(self) -> np.ndarray:
        """Parameter rows of every species pair's radial basis (row ``a·n_species + b``), the
        plain-array form the kernels evaluate
        (:meth:`ace_ref.one_particle.radial.BesselRadial.params`)."""
        if self.pair_radials is not None:
            raise ValueError(
                f"the basis uses {self.pair_radials.name} radial functions, which have no "
                "packed parameter rows: evaluate it through pair_basis / design_rows"
            )
        ns = len(self.elements)
        return np.array([self.radials[a][b].params() for a in range(ns) for b in range(ns)])

    def column_degrees(self) -> np.ndarray:
        """Degree ``Σ_t (n_t + w_L l_t)`` of every column (packed layout), exact values as
        floats; the smoothness prior ``Γ_kk = (1 + deg_k)^p`` is built from it."""
        degs = np.array(
            [float(sum(n + self.w_L * l for _, n, l in lab["nl"])) for lab in self.tables(0).labels]
        )
        return np.tile(degs, len(self.elements))[self.packed_columns()]

    def column_orders(self) -> np.ndarray:
        """Correlation order ``ν`` (number of one-particle factors) of every column, packed
        layout: ``ν + 1`` is the column's body order."""
        orders = np.array([len(lab["nl"]) for lab in self.tables(0).labels], dtype=np.int64)
        return np.tile(orders, len(self.elements))[self.packed_columns()]

    def body_order(self) -> int:
        """Body order ``ν_max + 1`` of every invariant of this basis."""
        return self.order + 1

    def pair_basis(self, D, pair_type, extended: bool = True):
        """``φ`` (n_pairs, n_slot) and ``∇φ`` (n_pairs, n_slot, 3) of pairs ``D`` whose species
        pair is ``pair_type = z_i n_species + z_j``. ``extended=False``: without the pointwise
        products of a purified basis (:attr:`extra_slots`), only ``n_max (l_max+1)²`` slots."""
        if self.pair_radials is not None:
            phi, dphi = self._pair_basis_from_pair_radials(D, pair_type)
        else:
            phi, dphi = features.pair_basis(
                D, pair_type, self.radial_parameters(), self.n_max, self.l_max
            )
        if self.purify and extended:  # the pointwise products of the purified functions
            return features.extend_pair_basis(phi, dphi, self.extra_slots)
        return phi, dphi

    # ------------------------------------------------------------------ user-supplied radials
    def _use_pair_radials(self, radials: PairRadials, radial_options) -> None:
        """Check user-supplied radials against the specification (cutoffs come from them)."""
        if radial_options:
            raise ValueError("radial options belong to the radial object, not radial_options")
        missing = sorted(set(self.elements) - set(radials.elements))
        if missing:
            raise ValueError(f"the radial functions do not cover the elements {missing}")
        if self.n_max > radials.n_max:
            raise ValueError(
                f"the truncation needs radial channels n ≤ {self.n_max}, the radial functions "
                f"have n_max = {radials.n_max}"
            )
        if self.l_max > radials.l_max:
            raise ValueError(
                f"the basis needs l ≤ {self.l_max}, the radial functions stop at l_max = "
                f"{radials.l_max}: cap max_l / max_output_L"
            )

    @property
    def n_neighbour_slots(self) -> int:
        """Blocks of the atomic base: one per neighbour species, or one when the neighbour
        species is folded into the radial channel (species-embedded radials)."""
        if getattr(self, "pair_radials", None) is not None and self.pair_radials.species_embedded:
            return 1
        return len(self.elements)

    def _slot_name(self, s: int) -> str:
        """Label of neighbour block ``s``: its element, or ``"*"`` (every neighbour)."""
        return "*" if self.n_neighbour_slots == 1 and len(self.elements) > 1 else self.elements[s]

    def neighbour_slot(self, neighbour_species: np.ndarray) -> np.ndarray:
        """Atomic-base block of each neighbour (its species index, or 0 when embedded)."""
        neighbour_species = np.asarray(neighbour_species, dtype=np.int64)
        if self.n_neighbour_slots == 1:
            return np.zeros_like(neighbour_species)
        return neighbour_species

    def _pair_basis_from_pair_radials(self, D, pair_type):
        ns, nmax = len(self.elements), self.n_max
        r = np.linalg.norm(D, axis=1) if len(D) else np.zeros(0)
        els = np.array(self.elements)
        pair_type = np.asarray(pair_type, dtype=np.int64)
        R, dR = self.pair_radials.evaluate_pairs(r, els[pair_type // ns], els[pair_type % ns])
        R, dR = R[:, :nmax, : self.l_max + 1], dR[:, :nmax, : self.l_max + 1]
        return features.pair_basis_from_radials(D, R, dR, self.l_max)

    def atomic_base_with_gradients(self, structures: Atoms | list[Atoms]) -> AtomicBaseGradients:
        """``A`` and its position gradients for one structure or many, in one parallel sweep.

        All pairs of all structures are evaluated together in one kernel (Numba threads over
        atoms; each pair's ``φ`` is added into ``A`` as it is computed), so a data set of
        small molecules keeps every core busy. Atoms are
        numbered consecutively over the structures (structure ``k`` owns atoms
        ``structure_offsets[k] : structure_offsets[k+1]``). See :class:`AtomicBaseGradients`.
        """
        batch = [structures] if isinstance(structures, Atoms) else list(structures)
        parts = [self.pairs(a, f"structure {k}") for k, a in enumerate(batch)]
        n_atoms = np.array([len(a) for a in batch], dtype=np.int64)
        structure_offsets = np.zeros(len(batch) + 1, dtype=np.int64)
        np.cumsum(n_atoms, out=structure_offsets[1:])
        n_pairs = np.array([len(p[1]) for p in parts], dtype=np.int64)
        pair_start = np.concatenate([[0], np.cumsum(n_pairs)]).astype(np.int64)
        species = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
        shift = structure_offsets[:-1]
        first = np.concatenate([p[1] + s for p, s in zip(parts, shift, strict=True)] or [[]])
        second = np.concatenate([p[2] + s for p, s in zip(parts, shift, strict=True)] or [[]])
        vectors = np.concatenate([p[3] for p in parts] or [np.zeros((0, 3))])
        pair_type = np.concatenate([p[5] for p in parts] or [np.zeros(0, np.int64)])
        offsets = np.zeros(int(structure_offsets[-1]) + 1, dtype=np.int64)
        for k, p in enumerate(parts):  # per-atom pair offsets, shifted into the batch
            a, b = structure_offsets[k], structure_offsets[k + 1]
            offsets[a + 1 : b + 1] = p[4][1:] + pair_start[k]
        first, second = first.astype(np.int64), second.astype(np.int64)
        if self.pair_radials is not None or self.purify:
            slot = self.neighbour_slot(species[second])
            phi, dphi = self.pair_basis(vectors, pair_type.astype(np.int64))
            n_at, ks = int(structure_offsets[-1]), self.n_neighbour_slots
            A = features.atomic_base(offsets, slot, phi, ks, self.n_slot)
            dA_self = np.zeros((n_at, ks * self.n_slot, 3))
            cols = slot[:, None] * self.n_slot + np.arange(self.n_slot)[None, :]
            np.add.at(dA_self, (first[:, None], cols), -dphi)
            return AtomicBaseGradients(
                values=A, self_gradients=dA_self, pair_gradients=dphi, first=first,
                second=second, second_species=slot, structure_offsets=structure_offsets,
                n_slot=self.n_slot,
            )  # fmt: skip
        A, dA_self, dphi = features.atomic_base_with_gradients(
            np.ascontiguousarray(vectors),
            pair_type.astype(np.int64),
            offsets,
            species[second],
            self.radial_parameters(),
            self.n_max,
            self.l_max,
            len(self.elements),
        )
        return AtomicBaseGradients(
            values=A,
            self_gradients=dA_self,
            pair_gradients=dphi,
            first=first,
            second=second,
            second_species=species[second],
            structure_offsets=structure_offsets,
            n_slot=self.n_slot,
        )

    def atomic_base(self, atoms: Atoms) -> np.ndarray:
        """``A[i, a]`` for every atom (one-particle index ``a``, see :meth:`one_particle_index`)."""
        species, i, j, D, offsets, pair_type = self.pairs(atoms, "structure")
        phi, _ = self.pair_basis(D, pair_type)
        slot = self.neighbour_slot(species[j])
        return features.atomic_base(offsets, slot, phi, self.n_neighbour_slots, self.n_slot)

    def features(
        self, atoms: Atoms, L: int = 0, where: str = "structure", parity: int | None = None
    ) -> np.ndarray:
        """Per-atom features.

        ``L = 0``: invariants in the packed layout, shape ``(n_atoms, len(basis))`` (columns
        of other central species are zero). ``L > 0``: equivariant features of shape
        ``(n_atoms, n_functions_L, 2L+1)`` for the atom's own species (same list for all
        species); the last axis transforms with the real Wigner matrix ``D^L``. ``parity``:
        see :meth:`tables`; the other parity is returned in the ``L > 0`` layout for every
        ``L`` (no packed layout, no species blocks).
        """
        if isinstance(L, bool) or int(L) != L or L < 0:
            raise ValueError(f"L must be a non-negative integer, got {L!r}")
        natural = _parity(L, parity) == (-1) ** L
        species, i, j, D, offsets, pair_type = self.pairs(atoms, where)
        phi, _ = self.pair_basis(D, pair_type)
        slot = self.neighbour_slot(species[j])
        A = features.atomic_base(offsets, slot, phi, self.n_neighbour_slots, self.n_slot)
        if L > 0 or not natural:
            t = self.tables(int(L), parity)
            B = features.product_features(
                A, t.product_index, t.product_order, t.c_indptr, t.c_indices, t.c_data
            )
            return B.reshape(len(atoms), t.n_functions, 2 * L + 1)
        out = np.zeros((len(atoms), len(self)))
        for s in range(len(self.elements)):
            rows = np.flatnonzero(species == s)
            if len(rows):
                t = self.species_tables(s)
                out[np.ix_(rows, self.species_columns(s))] = features.product_features(
                    A[rows], t.product_index, t.product_order, t.c_indptr, t.c_indices, t.c_data
                )
        return out

    def design_rows(
        self,
        atoms: Atoms,
        where: str = "structure",
        force_rows: np.ndarray | None = None,
        virial: bool = True,
    ) -> DesignRows:
        """Energy, force and virial rows of the design matrix for one structure.

        With ``force_rows`` (shape ``(3 n_atoms, len(basis))``, e.g. a slice of a block
        buffer) the force rows are written there, row ``3i + a`` for atom ``i`` and direction
        ``a``, and ``DesignRows.forces`` is that array instead of ``(n_atoms, 3, K)``.
        ``virial=False`` skips the virial rows (``DesignRows.virial`` is then ``None``): a
        fit assembles them only for configurations with a stress.
        """
        t = self.tables(0)
        species, i, j, D, offsets, pair_type = self.pairs(atoms, where)
        phi, dphi = self.pair_basis(D, pair_type)
        slot = self.neighbour_slot(species[j])
        A = features.atomic_base(offsets, slot, phi, self.n_neighbour_slots, self.n_slot)
        if self._species_functions is None:
            B, dB = features.features_and_pair_gradients(A, offsets, slot, dphi, self.n_slot, t)
            E, F, V = features.scatter_design_rows(
                B, dB, species, i, j, D, len(self.elements), force_rows, virial
            )
            return DesignRows(E, F, V)
        # per-element budgets: each species' atoms evaluate only its own functions
        n = len(atoms)
        # V is allocated either way, so that the kernel sees one argument layout (one compile)
        E, V = np.zeros(len(self)), np.zeros((3, 3, len(self)))
        F = np.zeros((3 * n, len(self))) if force_rows is None else force_rows
        if F.shape != (3 * n, len(self)):
            raise ValueError(f"force_rows has shape {F.shape}, need {(3 * n, len(self))}")
        F[:] = 0.0
        for s, rows, local, pairs in self._atoms_of_species(species, offsets):
            t = self.species_tables(s)
            B, dB = features.features_and_pair_gradients(
                A[rows], local, slot[pairs], dphi[pairs], self.n_slot, t
            )
            cols = self.species_columns(s)
            lo, hi = int(cols[0]), int(cols[-1]) + 1
            features.add_design_rows(
                B, dB, i[pairs], j[pairs], D[pairs], E[lo:hi], F[:, lo:hi],
                V[:, :, lo:hi], virial,
            )  # fmt: skip
        forces = F.reshape(n, 3, -1) if force_rows is None else F
        return DesignRows(E, forces, V if virial else None)
