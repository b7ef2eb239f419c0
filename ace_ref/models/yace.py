r"""Export a linear ACE model to ML-PACE's C̃-basis ``.yace`` file (LAMMPS ``pair_style pace``).

What is written
---------------
ML-PACE (the ACE evaluator of LAMMPS' ML-PACE package and of pyace) computes, for atom ``i``
of species ``μ_i``,

.. math::

    E_i = E_0(μ_i) + \sum_f \sum_{\mathbf m \in f} \tilde c_{f,\mathbf m}\,
          \mathrm{Re} \prod_{t=1}^{\nu_f} A^{P}_{μ_t n_t l_t m_t}(i), \qquad
    A^{P}_{μ n l m}(i) = \sum_{j: μ_j = μ} R_n^{μ_i μ}(r_{ij})\, \sqrt{4\pi}\, Y_l^m(\hat r_{ij}),

with complex Condon–Shortley ``Y_l^m`` scaled by ``√(4π)`` (so ``Y_0^0 = 1``), for a linear
embedding (``FinnisSinclairShiftedScaled`` with ``FS_parameters = [1, 1]``, one density,
no core repulsion). A *function* ``f`` is a central species ``μ0`` and a list of slots
``(μ_t, n_t, l_t)``; its ``ms_combs`` rows are the ``m`` tuples and ``ctildes`` the real
``c̃``. Rank-1 functions use ``A^P_{μ n 0 0} = Σ_j R_n``.

Our model is ``E_i = E0(z_i) + Σ_v c̃^{real}_{z_i v} Π_t A_{v_t}`` (products of our *real*
``A``, :attr:`ace_ref.models.linear.LinearACEModel` contracts ``c̃ = Cᵀc``). With ``U`` of
:func:`ace_ref.one_particle.spherical.complex_to_real_matrix` (``Y^{real} = U Y``), every real
factor is
``A_{z n l m} = Σ_{m'} U_{m m'} A^P_{z n l m'} / √(4π)``; expanding the product gives complex
coefficients on complex ``m`` tuples. The writer then

* sorts the ``m`` of identical slots (the same monomial) and merges them;
* pairs every tuple ``m`` with ``−m``: for an invariant only ``Σm = 0`` survives and
  ``Π A_{−m} = conj(Π A_m)``, so ``c_m Π A_m + c_{−m} Π A_{−m}`` is written once as
  ``Re[(c_m + conj c_{−m}) Π A_m]`` on the lexicographically larger of the two tuples;
* checks that every merged coefficient is real and every ``Σm ≠ 0`` coefficient vanishes
  (relative to the round-off scale ``Σ|terms|``; anything else is a convention error and
  raises), and drops coefficients below :data:`ZERO_RTOL` ``· Σ|terms|`` (exact zeros of a
  sparse fit, cancellations) and functions left without any.

Radial functions
----------------
Written analytically, never as a table:

* :class:`ace_ref.one_particle.radial.SBesselRadial` (``--radial sbessel``) is ML-PACE's
  ``SBessel`` basis, formula for formula; each bond is written with ``nradbasemax = nradmax =
  n_max`` and unit ``radcoefficients`` (``R_{nl} = g_{n−1}`` for every ``l``).
* :class:`ace_ref.one_particle.radial.ACE1Radial` is ML-PACE's ``ACE.jl.Basic`` radial basis,
  which it evaluates from the transform and recurrence parameters without splines
  (:meth:`ACE1Radial.pace_recursion`).
* Every other radial basis, among them the ``ace-ref fit`` default (Bessel × NequIP envelope)
  and the polynomial one, is not a finite combination of any ML-PACE family. It is written in
  ML-PACE's ``ChebPow`` family at ``λ = 1`` (the polynomials in ``r`` that vanish at ``r_c``),
  ``R_{nl} = Σ_k c_{nk} g_k`` with the ``c`` of
  :func:`ace_ref.models.pace_radial.chebpow_representation`: a Chebyshev expansion whose error
  is measured on a dense grid and must be ≤ 1e-12 of the largest value (≤ 1e-10 for
  derivatives), or the export is refused. About 50 functions per bond suffice for the
  default basis. ML-PACE's rank-1 functions use the ``g_k`` themselves, not ``R_{nl}``, so a
  rank-1 function ``c̃ A_{μ n 0 0}`` of our model becomes ``Σ_k c̃ c_{nk} A^{g}_{μ k}``.

ML-PACE splines every radial function on a grid of ``deltaSplineBins``
(:data:`DELTA_SPLINE_BINS`); that spline, not the representation, sets the round-trip error
(≈ 1e-9 relative in forces, far below the 1e-8 the round-trip tests demand).

File format details
-------------------
YAML with exact types: integers (``rank``, ``ns``, ``ls``, ``ms_combs``, ``mus``, ``maxn``,
``p``, ``pl``, ``pr``, ``lmax``, ...) as YAML integers, reals as floats written with
:func:`repr` (shortest round-trip form, always with a ``.`` and a signed exponent so that
YAML 1.1 readers also see floats), strings double-quoted. Bond keys are flow sequences
``[μ_i, μ_j]``, as ML-PACE writes them. ``n`` is 1-based. The file is assembled in memory,
its size reported, then written atomically (:func:`ace_ref._atomic_write.atomic_path`).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ace_ref._atomic_write import atomic_path
from ace_ref.basis.ace import ACEBasis
from ace_ref.basis.sum_basis import SumBasis
from ace_ref.models.pace_radial import ChebPowRepresentation, chebpow_representation
from ace_ref.models.two_layer import TwoLayerModel
from ace_ref.one_particle.radial import ACE1Radial, SBesselRadial
from ace_ref.one_particle.spherical import complex_to_real_matrix

__all__ = [
    "YaceExportError",
    "CTildeFunction",
    "YaceExport",
    "check_exportable",
    "ctilde_functions",
    "yace_document",
    "dump_yace",
    "export_yace",
    "lammps_commands",
    "ZERO_RTOL",
]

ZERO_RTOL = 16 * 2.0**-52
"""A merged ``c̃`` with ``|c̃| ≤ ZERO_RTOL · Σ|terms|`` is zero (dropped)."""

IMAG_RTOL = 1e-9
"""``|Im c̃|`` (or ``|c̃|`` of a ``Σm ≠ 0`` tuple) above ``IMAG_RTOL · Σ|terms|`` is an error."""

PACE_Y_SCALE = math.sqrt(4.0 * math.pi)
"""ML-PACE's harmonics are this times the orthonormal ones (``Y_0^0 = 1``, rank 1 included)."""

DELTA_SPLINE_BINS = 0.001
"""ML-PACE's radial spline step (Å) written to the file (``deltaSplineBins``)."""

EVALUATORS = ("recursive", "product")
"""``pair_style pace`` evaluators: ``recursive`` (LAMMPS' default) and ``product``."""


class YaceExportError(ValueError):
    """The model uses a feature that has no ``.yace`` equivalent (the message names it)."""


@dataclass(frozen=True)
class CTildeFunction:
    """One C̃ function of central species ``mu0``: slots ``(mus, ns, ls)`` (``ns`` 1-based),
    ``ms_combs`` of shape ``(num_ms_combs, rank)`` and the real ``ctildes``."""

    mu0: int
    mus: tuple[int, ...]
    ns: tuple[int, ...]
    ls: tuple[int, ...]
    ms_combs: np.ndarray
    ctildes: np.ndarray

    @property
    def rank(self) -> int:
        return len(self.ns)


@dataclass(frozen=True)
class YaceExport:
    """What :func:`export_yace` wrote."""

    path: Path
    n_bytes: int
    n_functions: dict[str, int]
    n_ms_combs: dict[str, int]
    pair_style: str
    pair_coeff: str
    """One line, or several (newline-separated) when a core table is overlaid."""
    core_table: Path | None = None
    """The model's repulsive core as a LAMMPS table (:mod:`ace_ref.models.lammps_table`)."""


# ------------------------------------------------------------------------------------------
# what can be exported
# ------------------------------------------------------------------------------------------


def check_exportable(model) -> dict[tuple[int, int], ChebPowRepresentation | None]:
    """Raise :class:`YaceExportError` naming the first feature of ``model`` without a
    ``.yace`` equivalent; else return the radial form of every bond (:func:`bond_radials`).

    Exportable: a :class:`ace_ref.models.linear.LinearACEModel` on an :class:`ace_ref.ACEBasis`
    (one layer, any elements, correlation orders, truncations and per-pair cutoffs, and the
    single-layer NequIP-style sparsifications of :mod:`ace_ref.coupling.chain`, which are other
    coupling matrices over the same products) whose radial basis is
    one kind for every species pair: :class:`ace_ref.one_particle.radial.SBesselRadial` and
    :class:`ace_ref.one_particle.radial.ACE1Radial` exactly, any other kind (the default Bessel
    one among them) through its ``ChebPow`` representation (:func:`bond_radials`), refused if
    that does not reach its tolerance.
    """
    _check_model(model)
    return bond_radials(model.basis)


def _check_model(model) -> None:
    """The checks of :func:`check_exportable` but the radial representation (cheap)."""
    linear = hasattr(model, "basis") and hasattr(model, "coefficients") and hasattr(model, "e0")
    if isinstance(model, TwoLayerModel) or not linear:
        raise YaceExportError(
            f".yace export needs an ace_ref LinearACEModel, got {type(model).__name__}; "
            "nonlinear and multi-layer (message-passing) models have no .yace equivalent"
        )
    basis = model.basis
    if isinstance(basis, SumBasis):
        raise YaceExportError(
            "the model's basis is a SumBasis (a pair part with its own cutoff and radial "
            "basis, ace-ref fit --pair-rcut, plus a many-body part): ML-PACE gives each species "
            "pair one cutoff and one radial basis for its rank-1 and many-body functions alike, "
            "so this sum has no exact .yace form; fit without --pair-rcut to export"
        )
    if getattr(basis, "purify", False):
        raise YaceExportError(
            "the model's basis is purified (self-interaction-free, ace-ref fit --purify): its "
            "products use pointwise products of one-particle functions, which ML-PACE's .yace "
            "format has no slot for; fit without --purify to export"
        )
    if type(basis) is not ACEBasis:
        raise YaceExportError(
            f"the model's basis is a {type(basis).__name__}, not an ace_ref ACEBasis: the "
            ".yace writer only knows how ACEBasis builds its features (a two-layer or "
            "message-passing basis has no .yace equivalent)"
        )
    ns = len(basis.elements)
    for a in range(ns):
        for b in range(ns):
            rad = basis.radials[a][b]
            if type(rad) is not type(basis.radials[0][0]):
                raise YaceExportError(
                    f"pair {basis.elements[a]}-{basis.elements[b]} has a "
                    f"{type(rad).__name__} radial basis, pair {basis.elements[0]}-"
                    f"{basis.elements[0]} a {type(basis.radials[0][0]).__name__}: the writer "
                    "needs one kind for every pair"
                )
            if rad.n_max != basis.n_max:
                raise YaceExportError(
                    f"pair {basis.elements[a]}-{basis.elements[b]} has {rad.n_max} radial "
                    f"functions, the basis {basis.n_max}"
                )
    for a in range(ns):
        for b in range(ns):
            if basis.radials[a][b] != basis.radials[b][a]:
                raise YaceExportError(
                    f"the radial bases of {basis.elements[a]}-{basis.elements[b]} and "
                    f"{basis.elements[b]}-{basis.elements[a]} differ; ML-PACE needs symmetric "
                    "bonds"
                )
    for el, e0 in model.e0.items():
        if not math.isfinite(e0):
            raise YaceExportError(f"E0 of {el} is not finite ({e0})")


def bond_radials(basis) -> dict[tuple[int, int], ChebPowRepresentation | None]:
    """Per species pair ``(a, b)``: ``None`` where the radial basis is an ML-PACE family
    (``SBessel``, ``ACE.jl.Basic``), else its ``ChebPow`` representation.

    Raises :class:`YaceExportError` (naming the pair and the error reached) where the
    representation does not reach :data:`ace_ref.models.pace_radial.VALUE_RTOL`.
    """
    out: dict[tuple[int, int], ChebPowRepresentation | None] = {}
    ns = len(basis.elements)
    for a in range(ns):
        for b in range(a, ns):
            rad = basis.radials[a][b]
            if isinstance(rad, (SBesselRadial, ACE1Radial)):
                out[(a, b)] = out[(b, a)] = None
                continue
            try:
                out[(a, b)] = out[(b, a)] = chebpow_representation(rad)
            except ValueError as err:
                raise YaceExportError(
                    f"the radial basis {basis.radial_kind!r} of pair {basis.elements[a]}-"
                    f"{basis.elements[b]} has no ML-PACE form: {err}. Fit with radial="
                    "'sbessel' or 'ace1' (ace-ref fit --radial sbessel) to export it exactly"
                ) from None
    return out


# ------------------------------------------------------------------------------------------
# real products -> complex C-tilde functions
# ------------------------------------------------------------------------------------------


def _decode(basis, a: np.ndarray):
    """One-particle index ``a`` -> ``(s, n, l, m)`` (inverse of ``one_particle_index``)."""
    s, rem = np.divmod(a, basis.n_slot)
    n0, lm = np.divmod(rem, basis.n_lm)
    l = np.floor(np.sqrt(lm + 0.5)).astype(np.int64)
    m = lm - l * l - l
    return s, n0 + 1, l, m


def _u_value(l: np.ndarray, m: np.ndarray, mp: np.ndarray) -> np.ndarray:
    """``U_l[m, m']`` of :func:`complex_to_real_matrix` elementwise (0 where not coupled)."""
    out = np.zeros(l.shape, dtype=complex)
    for lv in np.unique(l):
        U = complex_to_real_matrix(int(lv))
        sel = l == lv
        out[sel] = U[lv + m[sel], lv + mp[sel]]
    return out


def _lex_ge(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise ``a ≥ b`` in lexicographic order (2-D integer arrays of equal shape)."""
    diff = a - b
    nz = diff != 0
    first = np.argmax(nz, axis=1)
    d = diff[np.arange(len(a)), first]
    return d >= 0


def ctilde_functions(model) -> list[list[CTildeFunction]]:
    """The model's C̃ functions per central species (index in ``model.basis.elements``).

    See the module docstring for the conversion, the merging rules and the checks.

    Raises
    ------
    YaceExportError
        If :func:`check_exportable` refuses the model (the radial representation is not
        checked here: the functions are in terms of the model's own ``R_n``).
    RuntimeError
        If a merged coefficient has an imaginary part or a ``Σm ≠ 0`` tuple a coefficient
        above round-off (a convention error; never expected).
    """
    _check_model(model)
    basis = model.basis
    t = basis.tables(0)
    n_species = len(basis.elements)
    ctilde_real = model._ctilde  # (n_species, n_products): c̃_{z v} on our real products
    out: list[list[CTildeFunction]] = [[] for _ in range(n_species)]
    lmax = basis.l_max
    width = 2 * lmax + 1

    for nu in range(1, basis.order + 1):
        v_idx = np.flatnonzero(t.product_order == nu)
        if len(v_idx) == 0:
            continue
        used = np.any(ctilde_real[:, v_idx] != 0.0, axis=0)
        v_idx = v_idx[used]
        if len(v_idx) == 0:
            continue
        s, n, l, m = _decode(basis, t.product_index[v_idx, :nu])
        slot = (s * basis.n_max + (n - 1)) * (lmax + 1) + l  # sorted along each row
        # every real factor -> complex m' = ±|m| with U[m, m']; m = 0 -> m' = 0 once
        signs = np.array(list(np.ndindex(*(2,) * nu))) * -2 + 1  # (2^nu, nu) of ±1
        prod_of_term = np.repeat(np.arange(len(v_idx)), len(signs))
        sg = np.tile(signs, (len(v_idx), 1))
        l_t, m_t, slot_t = l[prod_of_term], m[prod_of_term], slot[prod_of_term]
        mp = sg * np.abs(m_t)
        coef = np.prod(_u_value(l_t, m_t, mp), axis=1)
        coef[np.any((m_t == 0) & (sg < 0), axis=1)] = 0.0
        keep = coef != 0
        prod_of_term, coef, mp, slot_t = prod_of_term[keep], coef[keep], mp[keep], slot_t[keep]
        coef = coef / PACE_Y_SCALE**nu
        # canonical rows: (slot, m') codes sorted per row (m' sorted within equal slots)
        row = np.sort(slot_t * width + (mp + lmax), axis=1)
        neg = np.sort(slot_t * width + (-mp + lmax), axis=1)
        ge = _lex_ge(row, neg)
        rep = np.where(ge[:, None], row, neg)
        conj = ~ge
        uniq, inverse = np.unique(rep, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        u_slot = uniq // width
        u_m = uniq % width - lmax
        sum_m = u_m.sum(axis=1)
        f_keys, f_of_row = np.unique(u_slot, axis=0, return_inverse=True)
        f_of_row = f_of_row.reshape(-1)
        for z in range(n_species):
            w = ctilde_real[z, v_idx][prod_of_term] * coef
            w = np.where(conj, np.conj(w), w)
            re = np.bincount(inverse, weights=w.real, minlength=len(uniq))
            im = np.bincount(inverse, weights=w.imag, minlength=len(uniq))
            scale = np.bincount(inverse, weights=np.abs(w), minlength=len(uniq))
            bad_im = np.abs(im) > IMAG_RTOL * scale
            bad_m = (sum_m != 0) & (np.abs(re) > IMAG_RTOL * scale)
            if np.any(bad_im) or np.any(bad_m):
                raise RuntimeError(
                    f"C̃ conversion failed for central {basis.elements[z]}, order {nu}: "
                    f"{int(bad_im.sum())} complex and {int(bad_m.sum())} non-invariant "
                    "coefficients (convention error)"
                )
            alive = (np.abs(re) > ZERO_RTOL * scale) & (sum_m == 0)
            rows = np.flatnonzero(alive)
            order_ = np.lexsort((rows, f_of_row[rows]))
            rows = rows[order_]
            funcs = f_of_row[rows]
            bounds = np.flatnonzero(np.diff(funcs)) + 1
            for chunk in np.split(rows, bounds) if len(rows) else []:
                fk = f_keys[f_of_row[chunk[0]]]
                ls_ = fk % (lmax + 1)
                rest = fk // (lmax + 1)
                ns_ = rest % basis.n_max + 1
                mus_ = rest // basis.n_max
                out[z].append(
                    CTildeFunction(
                        mu0=z,
                        mus=tuple(int(x) for x in mus_),
                        ns=tuple(int(x) for x in ns_),
                        ls=tuple(int(x) for x in ls_),
                        ms_combs=u_m[chunk].astype(np.int64),
                        ctildes=re[chunk],
                    )
                )
    return out


# ------------------------------------------------------------------------------------------
# the document and its YAML text
# ------------------------------------------------------------------------------------------


def yace_document(
    model,
    functions: list[list[CTildeFunction]] | None = None,
    radials: dict[tuple[int, int], ChebPowRepresentation | None] | None = None,
) -> dict:
    """The ``.yace`` content as plain Python (``int``, ``float``, ``str``, lists; bond keys
    are tuples ``(μ_i, μ_j)``), in ML-PACE's key layout.

    ``functions`` (of :func:`ctilde_functions`) and ``radials`` (of :func:`check_exportable`)
    are computed when not given. Rank-1 functions on a ``ChebPow`` bond are rewritten in
    that bond's ``g_k`` (module docstring).
    """
    if radials is None:
        radials = check_exportable(model)
    if functions is None:
        functions = ctilde_functions(model)
    basis = model.basis
    ns = len(basis.elements)
    functions = [_rank1_in_radial_base(fs, radials) for fs in functions]
    lmax = max((max(f.ls) for fs in functions for f in fs), default=0)
    bonds = {}
    for a in range(ns):
        for b in range(ns):
            rad = basis.radials[a][b]
            if isinstance(rad, SBesselRadial):
                bonds[(a, b)] = _spline_bond("SBessel", rad.r_cut, np.eye(rad.n_max), lmax)
                continue
            if radials[(a, b)] is not None:
                rep = radials[(a, b)]
                bonds[(a, b)] = _spline_bond("ChebPow", rep.r_cut, rep.coefficients, lmax)
                continue
            # ML-PACE fills P(1) even when maxn = 1: always give it two functions
            rec = dataclasses.replace(rad, n_max=max(rad.n_max, 2)).pace_recursion()
            bonds[(a, b)] = {
                "radbasename": "ACE.jl.Basic",
                "rcut": rec["rcut"],
                "r0": rec["r0"],
                "p": rec["p"],
                "xl": rec["xl"],
                "xr": rec["xr"],
                "pl": rec["pl"],
                "pr": rec["pr"],
                "maxn": rec["maxn"],
                "recursion_coefficients": {"A": rec["A"], "B": rec["B"], "C": rec["C"]},
            }
    return {
        "elements": list(basis.elements),
        "E0": [float(model.e0[el]) for el in basis.elements],
        "deltaSplineBins": DELTA_SPLINE_BINS,
        "lmax": int(lmax),
        "embeddings": {
            z: {
                "ndensity": 1,
                "FS_parameters": [1.0, 1.0],
                "npoti": "FinnisSinclairShiftedScaled",
                "rho_core_cutoff": 100000.0,
                "drho_core_cutoff": 250.0,
            }
            for z in range(ns)
        },
        "bonds": bonds,
        "functions": {
            z: [
                {
                    "mu0": f.mu0,
                    "rank": f.rank,
                    "ndensity": 1,
                    "num_ms_combs": len(f.ctildes),
                    "mus": list(f.mus),
                    "ns": list(f.ns),
                    "ls": list(f.ls),
                    "ms_combs": [int(x) for x in f.ms_combs.ravel()],
                    "ctildes": [float(x) for x in f.ctildes],
                }
                for f in sorted(functions[z], key=lambda f: f.rank)
            ]
            for z in range(ns)
        },
    }


def _rank1_in_radial_base(
    functions: list[CTildeFunction], radials: dict[tuple[int, int], ChebPowRepresentation | None]
) -> list[CTildeFunction]:
    """Rank-1 functions ``c̃ A_{μ n 0 0}`` on a ``ChebPow`` bond ``(μ0, μ)`` as functions of
    ML-PACE's ``g_k``: ``Σ_n c̃_n R_n = Σ_k (Σ_n c̃_n c_{nk}) g_k`` (ML-PACE evaluates rank 1
    from ``g_k``, not from ``R_{nl}``). Other functions are returned unchanged."""
    out: list[CTildeFunction] = []
    weights: dict[tuple[int, int], np.ndarray] = {}
    for f in functions:
        rep = radials[(f.mu0, f.mus[0])] if f.rank == 1 else None
        if rep is None:
            out.append(f)
            continue
        key = (f.mu0, f.mus[0])
        if key not in weights:
            weights[key] = np.zeros(rep.coefficients.shape[0])
        weights[key][f.ns[0] - 1] += float(f.ctildes[0])
    for (mu0, mu), w in sorted(weights.items()):
        coef = w @ radials[(mu0, mu)].coefficients
        for k in np.flatnonzero(coef):
            out.append(
                CTildeFunction(
                    mu0=mu0,
                    mus=(mu,),
                    ns=(int(k) + 1,),
                    ls=(0,),
                    ms_combs=np.zeros((1, 1), dtype=np.int64),
                    ctildes=np.array([coef[k]]),
                )
            )
    return out


def _spline_bond(name: str, r_cut: float, coefficients: np.ndarray, lmax: int) -> dict:
    """An ML-PACE bond of family ``name`` (``SBessel``, ``ChebPow`` with ``λ = 1``) with
    ``R_{nl} = Σ_k coefficients[n−1, k] g_k`` for every ``l ≤ lmax``, which ML-PACE splines.

    No inner cutoff (``rcut_in = dcut_in = 0``, ML-PACE's multiplier is then 1 for ``r > 0``), no
    core repulsion (``prehc = 0``; our core is exported as a LAMMPS table); ``radparameters``
    is ``λ`` (read by ``ChebPow``, not by ``SBessel``) and ``dcut`` enters neither.
    """
    n_radial, n_base = coefficients.shape
    crad = [[[float(x) for x in coefficients[n]] for _ in range(lmax + 1)] for n in range(n_radial)]
    return {
        "radbasename": name,
        "nradmax": int(n_radial),
        "lmax": int(lmax),
        "nradbasemax": int(n_base),
        "radparameters": [1.0],
        "radcoefficients": crad,
        "prehc": 0.0,
        "lambdahc": 1.0,
        "rcut": float(r_cut),
        "dcut": 0.01,
        "rcut_in": 0.0,
        "dcut_in": 0.0,
        "inner_cutoff_type": "distance",
    }


def _scalar(x) -> str:
    if isinstance(x, bool) or x is None:
        raise TypeError(f"no YAML form for {x!r} in a .yace file")
    if isinstance(x, int | np.integer):
        return str(int(x))
    if isinstance(x, float | np.floating):
        x = float(x)
        if not math.isfinite(x):
            raise ValueError(f"cannot write the non-finite number {x} to a .yace file")
        text = repr(x)
        mant, _, exp = text.partition("e")
        if "." not in mant:
            mant += ".0"
        return mant + ("e" + exp if exp else "")
    if isinstance(x, str):
        return json.dumps(x)
    raise TypeError(f"no YAML scalar form for {type(x).__name__}")


def _flow(x) -> str:
    if isinstance(x, dict):
        return "{" + ", ".join(f"{_key(k)}: {_flow(v)}" for k, v in x.items()) + "}"
    if isinstance(x, list | tuple):
        return "[" + ", ".join(_flow(v) for v in x) + "]"
    return _scalar(x)


def _key(k) -> str:
    if isinstance(k, tuple):
        return _flow(list(k))
    if isinstance(k, str):
        return k  # our keys are plain identifiers
    return _scalar(k)


def dump_yace(doc: dict) -> str:
    """YAML text of a :func:`yace_document` (block style for the sections, flow style inside
    each entry; see the module docstring for the scalar forms)."""
    lines = []
    for key, value in doc.items():
        if key in ("embeddings", "bonds"):
            lines.append(f"{key}:")
            lines.extend(f"  {_key(k)}: {_flow(v)}" for k, v in value.items())
        elif key == "functions":
            lines.append(f"{key}:")
            for z, funcs in value.items():
                lines.append(f"  {_key(z)}:" + ("" if funcs else " []"))
                lines.extend(f"    - {_flow(f)}" for f in funcs)
        else:
            lines.append(f"{key}: {_flow(value)}")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------
# writing and LAMMPS commands
# ------------------------------------------------------------------------------------------


def lammps_commands(
    elements: Sequence[str],
    path: str | Path,
    type_elements: Sequence[str] | None = None,
    evaluator: str = "recursive",
) -> tuple[str, str]:
    """``pair_style`` and ``pair_coeff`` lines for a ``.yace`` file of ``elements``.

    Parameters
    ----------
    elements
        The file's ``elements`` (its species order).
    path
        The ``.yace`` path as LAMMPS will open it.
    type_elements
        Element of LAMMPS atom type 1, 2, …; default: ``elements`` in file order. Every entry
        must be one of ``elements`` (several types may share one element) or ``"NULL"`` (a
        type this pair style does not handle, for ``pair_style hybrid``).
    evaluator
        ``"recursive"`` (LAMMPS' default, fastest) or ``"product"``.

    Returns
    -------
    (pair_style, pair_coeff)
        E.g. ``"pair_style pace recursive"`` and ``"pair_coeff * * model.yace H C O"``.
    """
    if evaluator not in EVALUATORS:
        raise ValueError(f"evaluator must be one of {EVALUATORS}, got {evaluator!r}")
    elements = list(elements)
    types = list(elements if type_elements is None else type_elements)
    if not types:
        raise ValueError("type_elements is empty: LAMMPS needs one element per atom type")
    unknown = [el for el in types if el not in elements and el != "NULL"]
    if unknown:
        raise ValueError(
            f"atom type element(s) {unknown} are not in the model (elements {elements})"
        )
    path = str(path)
    if any(c.isspace() for c in path):
        raise ValueError(f"LAMMPS cannot read a pair_coeff file name with spaces: {path!r}")
    return f"pair_style pace {evaluator}", f"pair_coeff * * {path} {' '.join(types)}"


def export_yace(
    model,
    path: str | Path,
    report: Callable[[str], object] | None = print,
    type_elements: Sequence[str] | None = None,
    evaluator: str = "recursive",
) -> YaceExport:
    """Write ``model`` to ``path`` in the ``.yace`` format (see the module docstring).

    The text is built in memory first; ``report`` (default :func:`print`; ``None``: silent)
    receives a line with the file size and counts *before* the file is written, then the file
    is written atomically (an error leaves any existing file untouched).

    Raises
    ------
    YaceExportError
        If the model has a feature without a ``.yace`` equivalent (message names it).
    """
    path = Path(path)
    if path.suffix != ".yace":
        raise ValueError(f"ML-PACE reads .yace files by their suffix; got {path.name!r}")
    pair_style, pair_coeff = lammps_commands(model.basis.elements, path, type_elements, evaluator)
    radials = check_exportable(model)
    doc = yace_document(model, ctilde_functions(model), radials)
    text = dump_yace(doc)
    data = text.encode("ascii")
    n_functions = {el: len(doc["functions"][z]) for z, el in enumerate(model.basis.elements)}
    n_ms = {
        el: int(sum(f["num_ms_combs"] for f in doc["functions"][z]))
        for z, el in enumerate(model.basis.elements)
    }
    if report is not None:
        counts = ", ".join(f"{el}: {n_functions[el]} ({n_ms[el]})" for el in n_functions)
        report(
            f"writing {path}: {len(data)} bytes ({len(data) / 1e6:.3f} MB); C̃ functions "
            f"(m-combinations) per central element: {counts}"
        )
        reps = [rep for rep in radials.values() if rep is not None]
        if reps:
            report(
                f"radial basis {model.basis.radial_kind!r} written in ML-PACE's ChebPow family "
                f"(≤ {max(r.n_terms for r in reps)} functions per bond); measured relative "
                f"error ≤ {max(r.value_error for r in reps):.1e} in values, "
                f"≤ {max(r.derivative_error for r in reps):.1e} in derivatives"
            )
    core = getattr(model, "core", None)
    table = None
    if core is not None:
        from ace_ref.models.lammps_table import core_table_commands, write_core_table

        table = path.with_suffix(".core.table")
        types = list(model.basis.elements if type_elements is None else type_elements)
        pair_style, coeffs = core_table_commands(core, path, table, types, evaluator)
        pair_coeff = "\n".join(coeffs)
        write_core_table(core, table)
        if report is not None:
            report(f"wrote the repulsive core (ZBL) as the LAMMPS table {table}")
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return YaceExport(path, len(data), n_functions, n_ms, pair_style, pair_coeff, table)
