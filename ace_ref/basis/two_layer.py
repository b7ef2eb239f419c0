"""Two-layer linear message passing: the multi-ACE view of arXiv:2205.06643.

Layer 1 is an ordinary ACE basis (:class:`ace_ref.ACEBasis`) whose equivariant features
``B¹_{j, c, L_1 M_1}`` (every function ``c`` of every ``L_1 ≤ lmax_hidden``, plus, optionally,
the constant ``1`` — NequIP's species embedding ``h^(0)``) are kept as **channels**. Layer 2
builds an atomic base by one more equivariant convolution,

.. math:: A^{(2)}_{i,\\,(z, n, l, c, L_2) M_2} = \\sum_{j:\\,z_j = z} R_n(r_{ij})
          \\sum_{m M_1} \\langle l m\\, L_1 M_1 | L_2 M_2 \\rangle_{\\mathbb R}
          Y_{l m}(\\hat r_{ij})\\, B^{(1)}_{j, c, M_1},

(real-basis coupling of :func:`ace_ref.coupling.cache.coupled_block`, ``L_2 ≤ lmax_hidden``,
parity ``(−1)^{l + L_1}`` — pseudo-tensors occur), and then the coupled products of ACE:
``B^{(2)}_{i,k} = Σ_v C_{kv} Π_t A^{(2)}_{i, v_t}``, invariant, ``ν_2 ≤ order`` factors, from
the same exact coupling coefficients (an O(3) invariant needs the parities to multiply to
``+1``). The features of atom ``i`` are ``[B¹_i (L = 0, layer-1 readout) | B²_i]`` per central
species (packed layout of :class:`ace_ref.ACEBasis`: column ``z·K + k``).

Everything is linear in the coefficients, so the model fits with :mod:`ace_ref.fit` unchanged
(``assemble`` calls :meth:`TwoLayerBasis.design_rows`).

* **Receptive field** ``r_cut¹ + r_cut²`` (``2 r_cut`` by default): ``B¹_j`` sees the
  neighbours of ``j``.
* **Body order**: ``A²`` involves ``i``, ``j`` and the ``ν_1`` neighbours of ``j`` (``i`` may
  be one of them), a product of ``ν_2`` of them at most ``1 + ν_2 (ν_1 + 1)`` atoms; with the
  layer-1 readout the body order is ``max(ν_1 + 1, 1 + ν_2 (ν_1 + 1))`` (checked by
  inclusion–exclusion in the tests).
* **Truncation**: layer-2 radials ``n ≤ max_n``, harmonics ``l ≤ max_l`` (default
  ``lmax_hidden``), channels ``L_1 ≤ lmax_hidden``, ``L_2 ≤ lmax_hidden``, and optionally a
  total degree ``Σ_t (n_t + w_L l_t + deg c_t) ≤ max_degree[ν_2 − 1]`` where ``deg c`` is the
  degree ``Σ (n + w_L l)`` of the layer-1 function (0 for the constant channel).

Derivatives (energy, forces and virial rows of the design matrix) are exact: the layer-2
adjoint ``G = ∂B²/∂A²`` is formed on its sparsity pattern; its contraction with
``∂A²/∂r_ij`` gives the direct pair terms, and its contraction with ``∂A²/∂B¹_j`` (the
adjoint of the channels, accumulated over every ``i`` that sees ``j``) with the layer-1 pair
gradients ``∂B¹_j/∂r_jk`` gives the second-shell terms. Virials are ``Σ r ⊗ ∂E/∂r`` over
both pair lists. NumPy + Numba, serial (a reference evaluator, not a fast one).

Saved models: :class:`TwoLayerModel` writes its own format (``ace_ref.TwoLayerModel``);
:func:`ace_ref.models.load.load` recognises it.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from fractions import Fraction

import numpy as np
from ase import Atoms

from ace_ref import defaults
from ace_ref.basis.ace import ACEBasis, Pairs
from ace_ref.basis.interface import require_same_functions_per_species
from ace_ref.basis.tables import DesignRows, assemble_tables
from ace_ref.coupling.cache import CouplingCache, coupled_block
from ace_ref.coupling.symmetric import o3_multiplicity
from ace_ref.kernels import features
from ace_ref.kernels.two_layer import layer2_base, layer2_rows
from ace_ref.one_particle.neighbours import neighbour_list
from ace_ref.one_particle.radial import make_radial

__all__ = ["TwoLayerBasis"]


def _fraction(x) -> Fraction:
    return Fraction(str(x)) if isinstance(x, float) else Fraction(x)


class TwoLayerBasis:
    """Two-layer linear message-passing basis (see the module docstring).

    Duck-types the parts of :class:`ace_ref.ACEBasis` that fitting, models, verification and
    :func:`ace_ref.verify.span.span_inclusion` use: ``elements``, ``r_cut``, ``len``,
    ``features(atoms)`` (invariants, packed layout), ``design_rows``, ``column_degrees``,
    ``to_dict``/``from_dict``/``fingerprint``, ``describe``.

    Parameters
    ----------
    layer1
        The layer-1 :class:`ace_ref.ACEBasis` (any truncation or sparsification).
    lmax_hidden
        Largest ``L_1`` of the layer-1 channels and ``L_2`` of the layer-2 atomic base.
    max_n, max_l
        Layer-2 radial functions ``n ≤ max_n`` and harmonics ``l ≤ max_l``
        (default ``lmax_hidden``).
    order
        Correlation order ``ν_2`` of the layer-2 products.
    max_degree
        Optional total degree of the layer-2 products (int/Fraction or one per order).
    r_cut, radial, radial_options
        Layer-2 cutoff (default: layer 1's, a number or pair table) and radial basis.
    constant_channel
        Include the constant layer-1 channel (``A²`` then contains the plain ACE atomic base
        of the layer-2 radials).
    readout_layer1
        Include the layer-1 invariants of atom ``i`` as features (MACE-style sum of readouts).
    """

    has_equivariant_features = False
    """``features(atoms, L)`` exists for ``L = 0`` only."""

    def __init__(
        self,
        layer1: ACEBasis,
        *,
        lmax_hidden: int = defaults.L2_LMAX,
        max_n: int = defaults.L2_MAX_N,
        max_l: int | None = None,
        order: int = defaults.L2_ORDER,
        max_degree=None,
        r_cut=None,
        radial: str | None = None,
        radial_options: dict | None = None,
        constant_channel: bool = True,
        readout_layer1: bool = True,
        cache_dir="default",
        max_functions: int = defaults.MAX_FUNCTIONS,
    ) -> None:
        if not isinstance(layer1, ACEBasis):
            raise TypeError(f"layer1 must be an ACEBasis, got {type(layer1).__name__}")
        require_same_functions_per_species(layer1, "a two-layer basis's first layer")
        if layer1.purify:
            raise ValueError(
                "a two-layer basis's first layer must not be purified: its messages are "
                "equivariant features (L > 0), which a purified basis does not give"
            )
        checks = (("lmax_hidden", lmax_hidden, 0), ("max_n", max_n, 1), ("order", order, 1))
        for name, value, low in checks:
            if isinstance(value, bool) or int(value) != value or value < low:
                raise ValueError(f"{name} must be an integer ≥ {low}, got {value!r}")
        self.layer1 = layer1
        self.elements = list(layer1.elements)
        self.w_L = layer1.w_L
        self.lmax_hidden = int(lmax_hidden)
        self.max_n = int(max_n)
        self.max_l = self.lmax_hidden if max_l is None else int(max_l)
        from ace_ref.one_particle.spherical import LMAX_TABLE

        if not 0 <= self.max_l <= LMAX_TABLE:
            raise ValueError(f"max_l must be between 0 and {LMAX_TABLE}, got {max_l!r}")
        self.order = int(order)
        if max_degree is None:
            self.max_degree = None
        else:
            values = [max_degree] * self.order if np.ndim(max_degree) == 0 else list(max_degree)
            if len(values) != self.order:
                raise ValueError(f"max_degree needs one entry per layer-2 order ({self.order})")
            self.max_degree = [_fraction(v) for v in values]
        self.constant_channel = bool(constant_channel)
        self.readout_layer1 = bool(readout_layer1)
        ns = len(self.elements)
        if r_cut is None:
            self.r_cut = layer1.r_cut.copy()
        elif isinstance(r_cut, dict):
            probe = ACEBasis(self.elements, 1, max_n=[1], max_l=[0], r_cut=r_cut, cache_dir=None)
            self.r_cut = probe.r_cut  # the pair table, validated as ACEBasis does
        else:
            self.r_cut = np.full((ns, ns), float(r_cut))
        if not np.all(np.isfinite(self.r_cut)) or np.any(self.r_cut <= 0):
            raise ValueError(f"cutoffs must be positive and finite, got {self.r_cut.tolist()}")
        self.radial_kind = radial or layer1.radial_kind
        self.radial_options = dict(
            radial_options
            if radial_options is not None
            else (layer1.radial_options if radial is None else {})
        )
        self.radials = [
            [self._radial(float(self.r_cut[a, b])) for b in range(ns)] for a in range(ns)
        ]
        self.receptive_field = float(np.max(layer1.r_cut) + np.max(self.r_cut))
        self.max_functions = int(max_functions)
        self._coupling = CouplingCache(cache_dir)
        self._build()

    # ------------------------------------------------------------------ construction
    def _radial(self, rc: float):
        return make_radial(self.radial_kind, self.max_n, rc, self.radial_options)

    def _channels(self):
        """Layer-1 channels ``(L1, k, first B¹ row, degree, label)``; B¹ rows: the constant
        (if any) first, then each ``L1`` block in :meth:`ACEBasis.tables` order."""
        channels = []
        row = 0
        if self.constant_channel:
            channels.append((0, -1, 0, Fraction(0), "1"))
            row = 1
        self._l1_rows = {}
        for L1 in range(self.lmax_hidden + 1):
            t = self.layer1.tables(L1)
            self._l1_rows[L1] = row
            for k, lab in enumerate(t.labels):
                deg = sum((Fraction(n) + self.w_L * l for _, n, l in lab["nl"]), Fraction(0))
                channels.append((L1, k, row + k * (2 * L1 + 1), deg, lab))
            row += t.n_rows
        self.n_b1_rows = row
        return channels

    def _build(self) -> None:
        ns = len(self.elements)
        channels = self._channels()
        self.channels = channels
        bound = max(self.max_degree) if self.max_degree is not None else None
        # local types (same list for every neighbour species): (n, l, channel, L2, degree)
        local = []
        for n in range(1, self.max_n + 1):
            for l in range(self.max_l + 1):
                for c, (L1, _, _, deg1, _) in enumerate(channels):
                    for L2 in range(abs(l - L1), min(l + L1, self.lmax_hidden) + 1):
                        d = Fraction(n) + self.w_L * l + deg1
                        if bound is None or d <= bound:
                            local.append((n, l, c, L2, d))
        # a type carries the neighbour species: (s, local index)
        types = [(s, u) for s in range(ns) for u in range(len(local))]
        parity = [(-1) ** (local[u][1] + channels[local[u][2]][0]) for _, u in types]
        products = []  # (combo of type indices, group sizes)
        budget = 20 * self.max_functions
        for nu in range(1, self.order + 1):
            if nu > 1 and len(types) ** nu > 50 * budget:
                raise ValueError(
                    f"layer 2 has {len(types)} atomic-base channels; products of {nu} are too "
                    "many to enumerate: lower order/max_n/lmax_hidden or give max_degree"
                )
            D = None if self.max_degree is None else self.max_degree[nu - 1]
            for combo in itertools.combinations_with_replacement(range(len(types)), nu):
                if np.prod([parity[t] for t in combo]) != 1:
                    continue
                ls = tuple(local[types[t][1]][3] for t in combo)
                if nu == 1 and ls[0] != 0:
                    continue
                if D is not None and sum(local[types[t][1]][4] for t in combo) > D:
                    continue
                sizes = tuple(len(list(g)) for _, g in itertools.groupby(combo))
                groups, pos = [], 0
                for size in sizes:
                    groups.append((ls[pos], size))
                    pos += size
                if o3_multiplicity(groups, 0, (-1) ** sum(ls)) == 0:
                    continue
                products.append((combo, sizes))
                if len(products) > budget:
                    raise ValueError(
                        f"layer 2 gives more than {budget} coupled products: lower "
                        "order/max_n/lmax_hidden or give max_degree"
                    )
        # slots for the local types used (the same for every species)
        used = sorted({types[t][1] for combo, _ in products for t in combo})
        offset = {}
        n_slot = 0
        for u in used:
            offset[u] = n_slot
            n_slot += 2 * local[u][3] + 1
        self.n_slot2 = n_slot
        self._local = local
        self._local_offset = offset
        self._build_entries(used)
        self._build_tables(types, products, ns)
        K2 = self.layer2_tables.n_functions
        K1 = self.layer1.n_functions_per_species if self.readout_layer1 else 0
        self.n_layer1_per_species = K1
        self.n_layer2_per_species = K2
        self.n_functions_per_species = K1 + K2
        if len(self) > self.max_functions:
            raise ValueError(
                f"this two-layer basis has {len(self)} functions, more than "
                f"max_functions={self.max_functions}"
            )

    def _cg(self, l: int, L1: int, L2: int) -> np.ndarray:
        """Real coupling ``CG[m + l, M1 + L1, M2 + L2]`` of ``Y_l ⊗ B¹_{L1} → L2``."""
        block = coupled_block((l, L1), (1, 1), L2, (-1) ** (l + L1), cache=self._coupling)
        out = np.zeros((2 * l + 1, 2 * L1 + 1, 2 * L2 + 1))
        for t, (m1, m2) in enumerate(block.m_tuples.tolist()):
            out[m1 + l, m2 + L1] = block.coeffs[0, t]
        return out

    def _build_entries(self, used) -> None:
        """Flat list of the terms of ``A²``: slot, φ² index, B¹ row, coefficient."""
        n_lm2 = (self.max_l + 1) ** 2
        e_slot, e_phi, e_b1, e_val = [], [], [], []
        memo = {}
        for u in used:
            n, l, c, L2, _ = self._local[u]
            L1, _, row0, _, _ = self.channels[c]
            key = (l, L1, L2)
            if key not in memo:
                memo[key] = self._cg(l, L1, L2)
            cg = memo[key]
            for mi, Mi, Mo in zip(*np.nonzero(cg), strict=True):
                e_slot.append(self._local_offset[u] + Mo)
                e_phi.append((n - 1) * n_lm2 + l * l + mi)
                e_b1.append(row0 + Mi)
                e_val.append(cg[mi, Mi, Mo])
        order = np.argsort(np.array(e_slot, dtype=np.int64), kind="stable")
        self.e_slot = np.array(e_slot, dtype=np.int64)[order]
        self.e_phi = np.array(e_phi, dtype=np.int64)[order]
        self.e_b1 = np.array(e_b1, dtype=np.int64)[order]
        self.e_val = np.array(e_val, dtype=float)[order]
        # entries of each slot: e_ptr[a]:e_ptr[a+1]
        self.e_ptr = np.zeros(self.n_slot2 + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.e_slot, minlength=self.n_slot2), out=self.e_ptr[1:])

    def _build_tables(self, types, products, ns) -> None:
        prod_rows, c_rows, c_cols, c_vals, labels = [], [], [], [], []
        n_products = 0
        k = 0
        for combo, sizes in products:
            nu = len(combo)
            ls = tuple(self._local[types[t][1]][3] for t in combo)
            block = self._coupling.get(ls, sizes, 0, (-1) ** sum(ls))
            if block.n_functions == 0:
                continue
            base = np.array([self._slot_of_m0(types[t]) for t in combo])
            a = base[None, :] + block.m_tuples.astype(np.int64)
            padded = np.full((len(a), self.order), -1, dtype=np.int64)
            padded[:, :nu] = a
            prod_rows.append(padded)
            f_idx, t_idx, _ = np.nonzero(block.coeffs)
            c_rows.append(k + f_idx)
            c_cols.append(n_products + t_idx)
            c_vals.append(block.coeffs[f_idx, t_idx, 0])
            for f in range(block.n_functions):
                labels.append(
                    {
                        "order": nu,
                        "types": [self._type_label(types[t]) for t in combo],
                        "path": [int(x) for x in block.paths[f]],
                        "degree": str(sum(self._local[types[t][1]][4] for t in combo)),
                    }
                )
            n_products += len(a)
            k += block.n_functions
        self.layer2_tables = assemble_tables(
            0, k, 1, prod_rows, c_rows, c_cols, c_vals, self.order, ns, self.n_slot2, labels
        )
        self._build_adjoint_pattern(ns)

    def _slot_of_m0(self, typ) -> int:
        """A² slot of component ``M2 = 0`` of a type ``(s, local index)``."""
        s, u = typ
        return s * self.n_slot2 + self._local_offset[u] + self._local[u][3]

    def _type_label(self, typ):
        s, u = typ
        n, l, c, L2, _ = self._local[u]
        L1, k1, _, _, _ = self.channels[c]
        return [self.elements[s], n, l, L1, k1, L2]

    def _build_adjoint_pattern(self, ns) -> None:
        """Pattern of ``W[row, B¹ row] = Σ_a G[row, a] ∂A²_a/∂B¹`` for a neighbour of species
        ``s``: ``ge_*[ge_ptr[s]:ge_ptr[s+1]]`` list every (row, G entry, A² term)
        contribution with its target ``w``; ``w_b1[w_ptr[row]:w_ptr[row+1]]`` are the distinct
        B¹ rows of each row (union over species)."""
        t = self.layer2_tables
        n_rows = t.n_functions
        per_row: list[dict] = [{} for _ in range(n_rows)]
        terms = []  # (s, row, g, e, b1)
        for s in range(ns):
            base = s * self.n_slot2
            for row in range(n_rows):
                for g in range(t.g_ptr[row, s], t.g_ptr[row, s + 1]):
                    a = int(t.g_a[g]) - base
                    for e in range(self.e_ptr[a], self.e_ptr[a + 1]):
                        b1 = int(self.e_b1[e])
                        per_row[row].setdefault(b1, len(per_row[row]))
                        terms.append((s, row, g, e, b1))
        w_ptr = np.zeros(n_rows + 1, dtype=np.int64)
        np.cumsum([len(d) for d in per_row], out=w_ptr[1:])
        w_b1 = np.zeros(int(w_ptr[-1]), dtype=np.int64)
        for row, d in enumerate(per_row):
            for b1, k in d.items():
                w_b1[w_ptr[row] + k] = b1
        arr = np.array(terms, dtype=np.int64).reshape(-1, 5)
        self.ge_ptr = np.searchsorted(arr[:, 0], np.arange(ns + 1)).astype(np.int64)
        self.ge_g = np.ascontiguousarray(arr[:, 2])
        self.ge_term = np.ascontiguousarray(arr[:, 3])
        self.ge_w = np.array(
            [w_ptr[row] + per_row[row][b1] for _, row, _, _, b1 in terms], dtype=np.int64
        )
        self.w_ptr = w_ptr
        self.w_b1 = w_b1

    # ------------------------------------------------------------------ descriptions
    def __len__(self) -> int:
        return self.n_functions_per_species * len(self.elements)

    def body_order(self) -> int:
        nu1 = self.layer1.order
        layer2 = 1 + self.order * (nu1 + 1)
        return max(layer2, nu1 + 1 if self.readout_layer1 else 0)

    def describe(self) -> str:
        t = self.layer2_tables
        counts = dict.fromkeys(range(1, self.order + 1), 0)
        for lab in t.labels:
            counts[lab["order"]] += 1
        lines = [
            "two-layer linear message-passing (multi-ACE) basis",
            "layer 1: " + self.layer1.describe().splitlines()[0],
            f"  channels: {len(self.channels)} per neighbour species (L1 ≤ {self.lmax_hidden}"
            + (", with the constant" if self.constant_channel else "")
            + f"), {self.n_b1_rows} components",
            f"layer 2: radial '{self.radial_kind}' n ≤ {self.max_n}, l ≤ {self.max_l}, "
            f"L2 ≤ {self.lmax_hidden}, ν2 ≤ {self.order}, cutoff {np.unique(self.r_cut).tolist()} Å"
            + (
                "" if self.max_degree is None else f", degree ≤ {[str(d) for d in self.max_degree]}"
            ),
            f"  atomic base A²: {self.n_slot2} components per neighbour species; "
            + ", ".join(f"ν2={nu}: {c}" for nu, c in counts.items()),
            f"receptive field {self.receptive_field:g} Å, body order {self.body_order()}",
            f"per species: {self.n_layer1_per_species} layer-1 readout + "
            f"{self.n_layer2_per_species} layer-2 = {self.n_functions_per_species} functions",
            f"all species: {len(self)} linear coefficients",
        ]
        return "\n".join(lines)

    def pairs(self, atoms: Atoms, where: str = "structure") -> Pairs:
        """The pairs of layer 1 (:meth:`ACEBasis.pairs`); with the default ``r_cut`` layer 2
        sees the same pairs."""
        return self.layer1.pairs(atoms, where)

    def column_degrees(self) -> np.ndarray:
        """Degree of every column (packed layout) for the smoothness prior of
        :func:`ace_ref.fit.solvers.smoothness_prior`: layer-1 functions ``Σ (n + w_L l)``, layer-2
        functions ``Σ_t (n_t + w_L l_t + deg c_t)``."""
        d1 = []
        if self.readout_layer1:
            for lab in self.layer1.tables(0).labels:
                d1.append(float(sum(n + self.w_L * l for _, n, l in lab["nl"])))
        d2 = [float(Fraction(lab["degree"])) for lab in self.layer2_tables.labels]
        return np.tile(np.array(d1 + d2), len(self.elements))

    def column_orders(self) -> np.ndarray:
        """Correlation order of every column within its own layer (packed layout): ``ν₁`` of
        a layer-1 readout function, ``ν₂`` (number of layer-2 factors) of a layer-2 one."""
        o1 = [len(lab["nl"]) for lab in self.layer1.tables(0).labels] if self.readout_layer1 else []
        o2 = [int(lab["order"]) for lab in self.layer2_tables.labels]
        return np.tile(np.array(o1 + o2, dtype=np.int64), len(self.elements))

    def to_dict(self) -> dict:
        return {
            "kind": "two_layer",
            "layer1": self.layer1.to_dict(),
            "lmax_hidden": self.lmax_hidden,
            "max_n": self.max_n,
            "max_l": self.max_l,
            "order": self.order,
            "max_degree": None if self.max_degree is None else [str(d) for d in self.max_degree],
            "r_cut": self.r_cut.tolist(),
            "radial": self.radial_kind,
            "radial_options": self.radial_options,
            "constant_channel": self.constant_channel,
            "readout_layer1": self.readout_layer1,
        }

    @classmethod
    def from_dict(cls, d: dict, cache_dir="default") -> TwoLayerBasis:
        if d.get("kind") != "two_layer":
            raise ValueError("not a two-layer basis specification")
        els = d["layer1"]["elements"]
        table = np.asarray(d["r_cut"], dtype=float)
        r_cut = {(a, b): table[i, j] for i, a in enumerate(els) for j, b in enumerate(els)}
        return cls(
            ACEBasis.from_dict(d["layer1"], cache_dir=cache_dir),
            lmax_hidden=d["lmax_hidden"],
            max_n=d["max_n"],
            max_l=d["max_l"],
            order=d["order"],
            max_degree=None if d["max_degree"] is None else [Fraction(x) for x in d["max_degree"]],
            r_cut=r_cut,
            radial=d["radial"],
            radial_options=d.get("radial_options") or {},
            constant_channel=d["constant_channel"],
            readout_layer1=d["readout_layer1"],
            cache_dir=cache_dir,
        )

    def fingerprint(self) -> str:
        """SHA-256 of the specification, both layers' tables and the A² coupling terms."""
        h = hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode())
        h.update(self.layer1.fingerprint().encode())
        t = self.layer2_tables
        for a in (t.product_index, t.c_indptr, t.c_indices, self.e_slot, self.e_phi, self.e_b1):
            h.update(np.ascontiguousarray(a, dtype=np.int64).tobytes())
        for a in (t.c_data, self.e_val):
            h.update(np.array([float(f"{x:.12g}") for x in a]).tobytes())
        return h.hexdigest()

    # ------------------------------------------------------------------ evaluation
    def radial_parameters(self) -> np.ndarray:
        ns = len(self.elements)
        return np.array([self.radials[a][b].params() for a in range(ns) for b in range(ns)])

    def _layer2_pairs(self, atoms, species, where):
        nl = neighbour_list(atoms, float(self.r_cut.max()), where)
        ns = len(self.elements)
        pair_type = species[nl.i] * ns + species[nl.j]
        r = np.linalg.norm(nl.vectors, axis=1)
        keep = r < self.r_cut.ravel()[pair_type]
        i, j, D, pair_type = nl.i[keep], nl.j[keep], nl.vectors[keep], pair_type[keep]
        offsets = np.zeros(len(atoms) + 1, dtype=np.int64)
        np.cumsum(np.bincount(i, minlength=len(atoms)), out=offsets[1:])
        return i, j, np.ascontiguousarray(D), offsets, pair_type

    def _layer1(self, atoms, where, gradients: bool):
        """``B¹`` (n_atoms, n_b1_rows) and, with gradients, ``∂B¹_j/∂r_jk`` per layer-1 pair."""
        b = self.layer1
        species, i1, j1, D1, off1, pt1 = b.pairs(atoms, where)
        phi, dphi = features.pair_basis(D1, pt1, b.radial_parameters(), b.n_max, b.l_max)
        A = features.atomic_base(off1, species[j1], phi, len(b.elements), b.n_slot)
        B1 = np.zeros((len(atoms), self.n_b1_rows))
        dB1 = np.zeros((len(D1), self.n_b1_rows, 3)) if gradients else None
        if self.constant_channel:
            B1[:, 0] = 1.0
        for L1, row in self._l1_rows.items():
            t = b.tables(L1)
            if gradients:
                B, dB = features.features_and_pair_gradients(
                    A, off1, species[j1], dphi, b.n_slot, t
                )
                dB1[:, row : row + t.n_rows] = dB
            else:
                B = features.product_features(
                    A, t.product_index, t.product_order, t.c_indptr, t.c_indices, t.c_data
                )
            B1[:, row : row + t.n_rows] = B
        layer1 = (species, i1, j1, D1, off1)
        return B1, dB1, layer1

    def features(self, atoms: Atoms, L: int = 0, where: str = "structure") -> np.ndarray:
        """Invariant features ``(n_atoms, len(basis))`` in the packed layout (L > 0 outputs of
        the two-layer basis are not implemented)."""
        if L != 0:
            raise NotImplementedError("the two-layer basis has invariant outputs only (L = 0)")
        B1, _, (species, *_) = self._layer1(atoms, where, gradients=False)
        i2, j2, D2, off2, pt2 = self._layer2_pairs(atoms, species, where)
        phi2, _ = features.pair_basis(D2, pt2, self.radial_parameters(), self.max_n, self.max_l)
        ns = len(self.elements)
        A2 = layer2_base(
            off2, j2, species, phi2, B1, self.e_slot, self.e_phi, self.e_b1, self.e_val, ns,
            self.n_slot2,
        )  # fmt: skip
        t = self.layer2_tables
        B2 = features.product_features(
            A2, t.product_index, t.product_order, t.c_indptr, t.c_indices, t.c_data
        )
        K, K1 = self.n_functions_per_species, self.n_layer1_per_species
        out = np.zeros((len(atoms), len(self)))
        B1_inv = self._readout(B1)
        for s in range(ns):
            rows = species == s
            if K1:
                out[rows, s * K : s * K + K1] = B1_inv[rows]
            out[rows, s * K + K1 : (s + 1) * K] = B2[rows]
        return out

    def _readout(self, B1):
        row = self._l1_rows[0]
        return B1[:, row : row + self.layer1.n_functions_per_species]

    def design_rows(self, atoms: Atoms, where: str = "structure") -> DesignRows:
        """Energy, force and virial rows (exact derivatives, see the module docstring)."""
        B1, dB1, (species, i1, j1, D1, off1) = self._layer1(atoms, where, gradients=True)
        i2, j2, D2, off2, pt2 = self._layer2_pairs(atoms, species, where)
        phi2, dphi2 = features.pair_basis(D2, pt2, self.radial_parameters(), self.max_n, self.max_l)
        ns = len(self.elements)
        t = self.layer2_tables
        E2, F2, V2 = layer2_rows(
            off2, i2, j2, D2, species, phi2, dphi2, B1, dB1, off1, j1, D1,
            self.e_slot, self.e_phi, self.e_b1, self.e_val, self.e_ptr, ns, self.n_slot2,
            t.product_index, t.product_order, t.c_indptr, t.c_indices, t.c_data,
            t.triple_g, t.triple_v, t.triple_t, t.triple_c, len(t.g_a), t.g_a, t.g_ptr,
            self.ge_ptr, self.ge_g, self.ge_term, self.ge_w, self.w_ptr, self.w_b1,
        )  # fmt: skip
        K, K1, K2 = self.n_functions_per_species, self.n_layer1_per_species, t.n_functions
        n = len(atoms)
        E = np.zeros(len(self))
        F = np.zeros((n, 3, len(self)))
        V = np.zeros((3, 3, len(self)))
        if K1:
            rows1 = self.layer1.design_rows(atoms, where)
        for s in range(ns):
            if K1:
                E[s * K : s * K + K1] = rows1.energy[s * K1 : (s + 1) * K1]
                F[:, :, s * K : s * K + K1] = rows1.forces[:, :, s * K1 : (s + 1) * K1]
                V[:, :, s * K : s * K + K1] = rows1.virial[:, :, s * K1 : (s + 1) * K1]
            E[s * K + K1 : (s + 1) * K] = E2[s * K2 : (s + 1) * K2]
            F[:, :, s * K + K1 : (s + 1) * K] = F2[:, :, s * K2 : (s + 1) * K2]
            V[:, :, s * K + K1 : (s + 1) * K] = V2[:, :, s * K2 : (s + 1) * K2]
        return DesignRows(E, F, V)
