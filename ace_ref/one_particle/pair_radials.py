r"""User-supplied radial functions ``R^{z_i z_j}_{n l}(r)``: per species pair, per ``l``.

The built-in radial bases (:mod:`ace_ref.one_particle.radial`) give ``R_n(r)``, the same for
every ``l`` and packed into parameter rows a Numba kernel evaluates. A neural code's radials are
richer: MACE and NequIP weight every tensor-product path ``(k, l)`` by its own learnt function
of ``r`` and fold the neighbour's species into the channel. This module states that general
form as a public interface,

.. math::

    φ_{n l m}(\mathbf r_{ij}; z_i, z_j) = R^{z_i z_j}_{n l}(r_{ij})\, Y_l^m(\hat{\mathbf r}_{ij}),
    \qquad n = 1..n_{max},\ l = 0..l_{max},

with ``Y_l^m`` ace_ref's real spherical harmonics. Two one-particle bases follow from it:

* **species-resolved** (``species_embedded=False``, the ACE default): the atomic base keeps one
  block per neighbour species, ``A_{i,znlm} = Σ_{j: z_j = z} φ_{nlm}(r_ij; z_i, z_j)``;
* **species-embedded** (``species_embedded=True``, MACE/NequIP): the neighbour species enters
  only through the radial channel, ``A_{i,nlm} = Σ_j φ_{nlm}(r_ij; z_i, z_j)`` — one block.

Objects
-------
:class:`PairRadials` is the interface (evaluate, cutoffs, description). Two forms:

* :class:`CallableRadials` wraps a Python function ``f(r, center, neighbour) -> (R, dR)``
  returning values and exact first derivatives (any code may stand behind it: NumPy, a torch
  model, an interpolating spline). It cannot be written to a file: tabulate it for that.
* :class:`TabulatedRadials` stores values and derivatives on a uniform grid per pair and
  evaluates the piecewise cubic Hermite interpolant and *its* derivative, so forces are the exact
  derivatives of the tabulated energy. Built from any :class:`PairRadials` by
  :meth:`TabulatedRadials.from_radials`, which states its accuracy: the largest deviation of
  values and derivatives from the source at the midpoints of the grid intervals (where the
  Hermite error is largest), relative to the largest ``|R|``. The cubic Hermite error is
  ``≤ h⁴ max|R⁗|/384`` for values and ``O(h³)`` for derivatives.

Both are evaluated outside Numba (one vectorised call per species pair and structure); the
Numba kernel :func:`ace_ref.kernels.features.pair_basis_from_radials` forms ``φ`` and ``∇φ``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping

import numpy as np

__all__ = ["PairRadials", "CallableRadials", "TabulatedRadials", "pair_radials_from_dict"]


def _cutoff_table(elements: tuple[str, ...], r_cut) -> dict[tuple[str, str], float]:
    """``{(a, b): r_c}`` for every ordered pair; a float applies to all, a mapping may name
    ``(a, b)`` (then also ``(b, a)`` unless given) and ``"default"``."""
    table: dict[tuple[str, str], float] = {}
    if isinstance(r_cut, Mapping):
        default = r_cut.get("default")
        for a in elements:
            for b in elements:
                value = r_cut.get((a, b), r_cut.get((b, a), default))
                if value is None:
                    raise ValueError(f"r_cut names no cutoff for the pair ({a}, {b})")
                table[(a, b)] = float(value)
        unknown = [k for k in r_cut if k != "default" and not set(k) <= set(elements)]
        if unknown:
            raise ValueError(f"r_cut names pairs of unknown elements: {unknown}")
    else:
        table = {(a, b): float(r_cut) for a in elements for b in elements}
    for pair, value in table.items():
        if not np.isfinite(value) or value <= 0:
            raise ValueError(f"cutoff of {pair} must be positive and finite, got {value!r}")
    return table


class PairRadials:
    r"""Interface: radial functions ``R^{ab}_{nl}(r)`` for every ordered species pair ``(a, b)``.

    Attributes
    ----------
    elements : tuple of str
        The species the functions are defined for (any order).
    n_max : int
        Radial channels ``n = 1..n_max``.
    l_max : int
        ``l = 0..l_max``; a basis using these radials needs ``l ≤ l_max``.
    species_embedded : bool
        ``True``: the atomic base sums over all neighbours into one block (the neighbour's
        species lives in ``R^{ab}``); ``False``: one block per neighbour species, as ACE.
    """

    elements: tuple[str, ...]
    n_max: int
    l_max: int
    species_embedded: bool
    name: str = "pair_radials"

    def cutoff(self, center: str, neighbour: str) -> float:
        """Cutoff ``r_c^{ab}`` of the pair (``R^{ab} = 0`` for ``r ≥ r_c^{ab}``)."""
        return self._cutoffs[(center, neighbour)]

    def evaluate(self, r: np.ndarray, center: str, neighbour: str):
        """Values and radial derivatives at distances ``r`` for the pair ``(center, neighbour)``.

        Parameters
        ----------
        r : ndarray, shape (m,)
            Distances, ``0 < r``. Entries ``≥`` the pair's cutoff give exact zeros.
        center, neighbour : str
            Chemical symbols of the central atom ``i`` and the neighbour ``j``.

        Returns
        -------
        R, dR : ndarray, shape (m, n_max, l_max + 1)
            ``R[p, n−1, l] = R^{ab}_{nl}(r_p)`` and ``dR[p, n−1, l] = dR^{ab}_{nl}/dr (r_p)``.
        """
        if center not in self.elements or neighbour not in self.elements:
            raise ValueError(
                f"no radial functions for the pair ({center}, {neighbour}); they are defined "
                f"for {list(self.elements)}"
            )
        r = np.ascontiguousarray(r, dtype=np.float64).reshape(-1)
        shape = (len(r), self.n_max, self.l_max + 1)
        R, dR = np.zeros(shape), np.zeros(shape)
        inside = r < self.cutoff(center, neighbour)
        if inside.any():
            R_in, dR_in = self._evaluate(r[inside], center, neighbour)
            R[inside], dR[inside] = R_in, dR_in
        return R, dR

    def evaluate_pairs(self, r: np.ndarray, centers: np.ndarray, neighbours: np.ndarray):
        """:meth:`evaluate` for pairs of mixed species in one call.

        ``centers[p]``, ``neighbours[p]``: chemical symbols of pair ``p``. The default loops
        over the distinct species pairs; a subclass may evaluate all at once.
        """
        r = np.ascontiguousarray(r, dtype=np.float64).reshape(-1)
        centers, neighbours = np.asarray(centers), np.asarray(neighbours)
        R = np.zeros((len(r), self.n_max, self.l_max + 1))
        dR = np.zeros_like(R)
        for a, b in sorted(set(zip(centers.tolist(), neighbours.tolist(), strict=True))):
            sel = (centers == a) & (neighbours == b)
            R[sel], dR[sel] = self.evaluate(r[sel], a, b)
        return R, dR

    def _evaluate(self, r, center, neighbour):  # pragma: no cover - overridden
        raise NotImplementedError

    def to_dict(self) -> dict:  # pragma: no cover - overridden
        raise NotImplementedError

    def describe(self) -> str:
        """One line: kind, channels, ``l_max``, embedding and cutoffs."""
        cuts = sorted({round(v, 6) for v in self._cutoffs.values()})
        emb = "species-embedded" if self.species_embedded else "species-resolved"
        return (
            f"{self.name} radials R_nl^(z_i z_j)(r): n ≤ {self.n_max}, l ≤ {self.l_max}, {emb}, "
            f"cutoffs {cuts} Å"
        )

    def _check_common(self, elements, n_max, l_max, r_cut, species_embedded) -> None:
        self.elements = tuple(dict.fromkeys(elements))
        if not self.elements:
            raise ValueError("at least one element is required")
        for name, value, low in (("n_max", n_max, 1), ("l_max", l_max, 0)):
            if isinstance(value, bool) or int(value) != value or value < low:
                raise ValueError(f"{name} must be an integer ≥ {low}, got {value!r}")
        self.n_max, self.l_max = int(n_max), int(l_max)
        self.species_embedded = bool(species_embedded)
        self._cutoffs = _cutoff_table(self.elements, r_cut)

    def _cutoff_list(self) -> list:
        return [[a, b, v] for (a, b), v in sorted(self._cutoffs.items())]

    def _common_dict(self) -> dict:
        """The ``to_dict`` entries every kind shares: kind, description, sizes, cutoffs."""
        return {
            "type": self.name,
            "description": self.description,
            "elements": list(self.elements),
            "n_max": self.n_max,
            "l_max": self.l_max,
            "species_embedded": self.species_embedded,
            "r_cut": self._cutoff_list(),
        }


class CallableRadials(PairRadials):
    r"""Radial functions given by a Python callable (values and exact derivatives).

    Parameters
    ----------
    elements : sequence of str
        Species the function accepts.
    n_max, l_max : int
        The callable returns arrays of shape ``(m, n_max, l_max + 1)`` — or ``(m, n_max)`` when
        the functions do not depend on ``l`` (broadcast to every ``l``).
    r_cut : float or mapping
        Cutoff of every pair, or ``{(a, b): r_c, ..., "default": r_c}`` (a pair named once
        applies to both orders). Values at ``r ≥ r_c`` are set to zero whatever the callable
        returns: the callable should itself go smoothly to zero there.
    function : callable
        ``function(r, center, neighbour) -> (R, dR)`` with ``r`` a float64 array ``(m,)`` of
        distances inside the cutoff.
    species_embedded : bool, default False
        See :class:`PairRadials`.
    description : str, default "callable"
        Names the functions in :meth:`describe` and :meth:`to_dict`.
    pairs_function : callable, optional
        ``pairs_function(r, centers, neighbours) -> (R, dR)`` evaluating pairs of mixed
        species in one call (arrays of symbols), used by :meth:`evaluate_pairs`; it must agree
        with ``function``.

    Notes
    -----
    :meth:`to_dict` records the description and a SHA-256 of the values on a fixed grid (so
    a changed function changes the basis fingerprint); it cannot rebuild the callable, so a
    basis on callable radials cannot be loaded from a file — tabulate it
    (:meth:`TabulatedRadials.from_radials`) to save models.
    """

    name = "callable"

    def __init__(
        self,
        elements,
        n_max: int,
        l_max: int,
        r_cut,
        function: Callable,
        species_embedded: bool = False,
        description: str = "callable",
        pairs_function: Callable | None = None,
    ) -> None:
        if not callable(function):
            raise TypeError(f"function must be callable, got {type(function).__name__}")
        self._check_common(elements, n_max, l_max, r_cut, species_embedded)
        self.function = function
        self.pairs_function = pairs_function
        self.description = str(description)

    def evaluate_pairs(self, r, centers, neighbours):
        if self.pairs_function is None:
            return super().evaluate_pairs(r, centers, neighbours)
        r = np.ascontiguousarray(r, dtype=np.float64).reshape(-1)
        centers, neighbours = np.asarray(centers), np.asarray(neighbours)
        cut = np.array([self.cutoff(a, b) for a, b in zip(centers, neighbours, strict=True)])
        inside = r < cut
        R = np.zeros((len(r), self.n_max, self.l_max + 1))
        dR = np.zeros_like(R)
        if inside.any():
            Ri, dRi = self.pairs_function(r[inside], centers[inside], neighbours[inside])
            R[inside], dR[inside] = Ri, dRi
        return R, dR

    evaluate_pairs.__doc__ = PairRadials.evaluate_pairs.__doc__

    def _evaluate(self, r, center, neighbour):
        R, dR = self.function(r, center, neighbour)
        out = []
        for name, X in (("R", R), ("dR", dR)):
            X = np.asarray(X, dtype=np.float64)
            if X.shape == (len(r), self.n_max):
                X = np.repeat(X[:, :, None], self.l_max + 1, axis=2)
            if X.shape != (len(r), self.n_max, self.l_max + 1):
                raise ValueError(
                    f"radial function returned {name} of shape {X.shape}, expected "
                    f"{(len(r), self.n_max, self.l_max + 1)} (or {(len(r), self.n_max)})"
                )
            if not np.all(np.isfinite(X)):
                raise ValueError(f"radial function returned non-finite {name} for ({center}, "
                                 f"{neighbour})")  # fmt: skip
            out.append(X)
        return out[0], out[1]

    def samples_sha256(self, n_points: int = 64) -> str:
        """SHA-256 of the values (12 significant digits) on ``n_points`` distances per pair."""
        h = hashlib.sha256()
        for a in self.elements:
            for b in self.elements:
                rc = self.cutoff(a, b)
                R, dR = self.evaluate(np.linspace(rc / n_points, rc, n_points), a, b)
                h.update(np.array([float(f"{x:.12g}") for x in R.ravel()]).tobytes())
        return h.hexdigest()

    def to_dict(self) -> dict:
        return {
            **self._common_dict(),
            "samples_sha256": self.samples_sha256(),
        }


class TabulatedRadials(PairRadials):
    r"""Radial functions tabulated on a uniform grid, evaluated by cubic Hermite interpolation.

    On ``[r_k, r_{k+1}]`` with ``h = r_{k+1} − r_k``, ``t = (r − r_k)/h``:

    .. math::

        R(r) = h_{00}(t) R_k + h h_{10}(t) R'_k + h_{01}(t) R_{k+1} + h h_{11}(t) R'_{k+1},

    ``h_{00} = 2t³ − 3t² + 1``, ``h_{10} = t³ − 2t² + t``, ``h_{01} = −2t³ + 3t²``,
    ``h_{11} = t³ − t²``; the derivative returned is the derivative of this interpolant, so
    energies and forces of a model on tabulated radials are exactly consistent. The grid of a
    pair runs from ``r_min`` to its cutoff (``r_k = r_min + k (r_c − r_min)/(n_points − 1)``);
    below ``r_min`` the first cubic is extrapolated, at and beyond the cutoff ``R = 0``.

    Parameters
    ----------
    elements : sequence of str
    n_max, l_max : int
    r_cut : float or mapping
        As :class:`CallableRadials`.
    values, derivatives : mapping ``{(a, b): ndarray (n_points, n_max, l_max + 1)}``
        ``R`` and ``dR/dr`` at the grid points ``r_k``, for every ordered pair.
    species_embedded : bool, default False
    r_min : float, default 0
        First grid point (``0 ≤ r_min <`` every cutoff).
    accuracy : dict, optional
        What :meth:`from_radials` measured (stored and reported, not used).
    description : str, default "tabulated"
    """

    name = "tabulated"

    def __init__(
        self,
        elements,
        n_max: int,
        l_max: int,
        r_cut,
        values: Mapping,
        derivatives: Mapping,
        species_embedded: bool = False,
        accuracy: dict | None = None,
        description: str = "tabulated",
        r_min: float = 0.0,
    ) -> None:
        self._check_common(elements, n_max, l_max, r_cut, species_embedded)
        self.r_min = float(r_min)
        if not 0 <= self.r_min < min(self._cutoffs.values()):
            raise ValueError(f"r_min must satisfy 0 ≤ r_min < every cutoff, got {r_min!r}")
        self.values, self.derivatives = {}, {}
        for a in self.elements:
            for b in self.elements:
                V = np.asarray(values[(a, b)], dtype=np.float64)
                D = np.asarray(derivatives[(a, b)], dtype=np.float64)
                if V.ndim != 3 or V.shape[1:] != (self.n_max, self.l_max + 1) or len(V) < 2:
                    raise ValueError(
                        f"table of ({a}, {b}) has shape {V.shape}, expected (n_points ≥ 2, "
                        f"{self.n_max}, {self.l_max + 1})"
                    )
                if D.shape != V.shape:
                    raise ValueError(f"derivative table of ({a}, {b}) has shape {D.shape}, "
                                     f"values {V.shape}")  # fmt: skip
                self.values[(a, b)], self.derivatives[(a, b)] = V, D
        self.accuracy = dict(accuracy or {})
        self.description = str(description)

    @classmethod
    def from_radials(
        cls, radials: PairRadials, n_points: int = 2001, r_min: float = 0.3
    ) -> TabulatedRadials:
        """Tabulate any :class:`PairRadials` on ``n_points`` grid points per pair from ``r_min``
        (Å; atoms closer than that are extrapolated) to the cutoff, and measure the accuracy
        at the ``n_points − 1`` interval midpoints.

        ``accuracy = {"n_points", "value_rel", "derivative_rel"}``: the largest
        ``|R_tab − R|`` and ``|R'_tab − R'|`` over all pairs, channels and midpoints, divided
        by the largest ``|R|`` (resp. ``|R'|``) on the grid.
        """
        if isinstance(n_points, bool) or int(n_points) != n_points or n_points < 2:
            raise ValueError(f"n_points must be an integer ≥ 2, got {n_points!r}")
        values, derivs, cuts = {}, {}, {}
        worst_v = worst_d = 0.0
        for a in radials.elements:
            for b in radials.elements:
                rc = radials.cutoff(a, b)
                cuts[(a, b)] = rc
                grid = np.linspace(r_min, rc, int(n_points))
                V, D = radials.evaluate(grid, a, b)
                values[(a, b)], derivs[(a, b)] = V, D
                mid = 0.5 * (grid[1:] + grid[:-1])
                Vm, Dm = radials.evaluate(mid, a, b)
                tab = cls(
                    [a, b] if a != b else [a], radials.n_max, radials.l_max, rc,
                    {(x, y): V for x in (a, b) for y in (a, b)},
                    {(x, y): D for x in (a, b) for y in (a, b)}, r_min=r_min,
                )  # fmt: skip
                Vt, Dt = tab.evaluate(mid, a, b)
                worst_v = max(worst_v, np.abs(Vt - Vm).max() / max(np.abs(V).max(), 1e-300))
                worst_d = max(worst_d, np.abs(Dt - Dm).max() / max(np.abs(D).max(), 1e-300))
        return cls(
            radials.elements, radials.n_max, radials.l_max, cuts, values, derivs,
            species_embedded=radials.species_embedded,
            accuracy={"n_points": int(n_points), "value_rel": float(worst_v),
                      "derivative_rel": float(worst_d)},
            description=f"tabulated {getattr(radials, 'description', radials.name)}",
            r_min=r_min,
        )  # fmt: skip

    def _evaluate(self, r, center, neighbour):
        V = self.values[(center, neighbour)]
        D = self.derivatives[(center, neighbour)]
        h = (self.cutoff(center, neighbour) - self.r_min) / (len(V) - 1)
        x = (r - self.r_min) / h
        k = np.clip(np.floor(x).astype(np.int64), 0, len(V) - 2)
        t = (x - k)[:, None, None]
        t2, t3 = t * t, t * t * t
        V0, V1, D0, D1 = V[k], V[k + 1], D[k], D[k + 1]
        R = (2 * t3 - 3 * t2 + 1) * V0 + h * (t3 - 2 * t2 + t) * D0
        R += (-2 * t3 + 3 * t2) * V1 + h * (t3 - t2) * D1
        dR = (6 * t2 - 6 * t) / h * V0 + (3 * t2 - 4 * t + 1) * D0
        dR += (-6 * t2 + 6 * t) / h * V1 + (3 * t2 - 2 * t) * D1
        return R, dR

    def to_dict(self) -> dict:
        return {
            **self._common_dict(),
            "accuracy": self.accuracy,
            "r_min": self.r_min,
            "values": [[a, b, self.values[(a, b)].tolist()] for a, b in sorted(self.values)],
            "derivatives": [
                [a, b, self.derivatives[(a, b)].tolist()] for a, b in sorted(self.derivatives)
            ],
        }

    @classmethod
    def from_dict(cls, d: dict) -> TabulatedRadials:
        if d.get("type") != cls.name:
            raise ValueError(f"not a tabulated radial description: type {d.get('type')!r}")
        return cls(
            d["elements"], d["n_max"], d["l_max"],
            {(a, b): v for a, b, v in d["r_cut"]},
            {(a, b): np.array(v) for a, b, v in d["values"]},
            {(a, b): np.array(v) for a, b, v in d["derivatives"]},
            species_embedded=d["species_embedded"], accuracy=d.get("accuracy"),
            description=d.get("description", "tabulated"), r_min=d.get("r_min", 0.0),
        )  # fmt: skip

    def describe(self) -> str:
        acc = ""
        if self.accuracy:
            acc = (
                f"; tabulated on {self.accuracy['n_points']} points, midpoint error "
                f"{self.accuracy['value_rel']:.1e} (values), "
                f"{self.accuracy['derivative_rel']:.1e} (derivatives) relative"
            )
        return super().describe() + acc


def pair_radials_from_dict(d: dict) -> PairRadials:
    """Rebuild radials from :meth:`PairRadials.to_dict`: only the tabulated form can be.

    Raises
    ------
    ValueError
        For callable radials (the function is not in the file) or an unknown type.
    """
    if d.get("type") == TabulatedRadials.name:
        return TabulatedRadials.from_dict(d)
    if d.get("type") == CallableRadials.name:
        raise ValueError(
            f"the basis uses callable radial functions ({d.get('description')!r}), which a "
            "file cannot hold: rebuild the basis with the same callable, or tabulate the "
            "radials (TabulatedRadials.from_radials) before fitting a model to be saved"
        )
    raise ValueError(f"unknown pair-radial type {d.get('type')!r}: {json.dumps(d)[:80]}")
