"""The default basis size chosen from the data and the machine (``ace-ref fit --preset``).

The default total degree :data:`ace_ref.defaults.MAX_DEGREE` was tuned on acetylacetone (three
elements, 23 000 rows). Used as it is on a data set with four elements it gives three times
the coefficients (32 936 for 3BPA), a 9 GB summary and a fit of tens of minutes. Here the
degrees are scaled by one factor ``s ≤ PRESETS[preset]`` — the largest for which

* ``K ≤ n_rows / ROWS_PER_COEFFICIENT`` (the data can determine the coefficients), and
* the estimated peak memory ``≈ 3 · 8 K²`` stays below ``MEMORY_FRACTION`` of the free memory,

found by bisection on ``s`` with :meth:`ace_ref.basis.ace.ACEBasis.size` (no tables built).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import NamedTuple

import numpy as np

from ace_ref import defaults
from ace_ref.basis.ace import ACEBasis

__all__ = [
    "DegreeChoice",
    "choose_degree",
    "choose_degree_for_data",
    "choose_selection",
    "parse_select",
    "resolve_select",
    "selects",
    "default_element_scales",
    "parse_element_scales",
]


class DegreeChoice(NamedTuple):
    """The scaled degrees, their basis size and why they were chosen."""

    max_degree: list[Fraction]
    n_coefficients: int
    scale: Fraction
    reason: str
    element_degree_scale: dict | None = None
    """The per-element budgets counted (``ACEBasis(element_degree_scale=...)``), or ``None``."""


def parse_element_scales(text: str | None) -> dict[str, Fraction] | None:
    """``"H=0.8,C=11/10"`` → ``{"H": 4/5, "C": 11/10}`` (``ace-ref fit --element-degrees``);
    ``"none"`` (or ``None``) → ``None``: every element the same functions."""
    if text is None or str(text).strip().lower() == "none":
        return None
    out = {}
    for item in str(text).replace(" ", "").split(","):
        el, sep, value = item.partition("=")
        try:
            if not sep or not el:
                raise ValueError
            out[el] = Fraction(value)
        except (ValueError, ZeroDivisionError):
            raise ValueError(
                f"--element-degrees takes ELEMENT=SCALE pairs such as H=0.8,C=1.1, got {text!r}"
            ) from None
    return out


def default_element_scales(elements) -> dict[str, Fraction] | None:
    """:data:`ace_ref.defaults.ELEMENT_DEGREE_SCALE` for ``elements`` (``None`` if it names
    none of them, or every one it names has scale 1)."""
    scales = {
        el: Fraction(defaults.ELEMENT_DEGREE_SCALE[el])
        for el in elements
        if el in defaults.ELEMENT_DEGREE_SCALE
    }
    return scales if any(v != 1 for v in scales.values()) else None


def _scaled(scale: Fraction, order: int) -> list[Fraction]:
    base = list(defaults.MAX_DEGREE)
    if order != len(base):
        raise ValueError(f"the default degrees are for order {len(base)}, not {order}")
    return [Fraction(d) * scale for d in base]


def choose_degree(
    elements: list[str],
    n_rows: int,
    *,
    preset: str = "default",
    order: int = defaults.ORDER,
    w_L=defaults.W_L,
    available_bytes: int | None = None,
    steps: int = 10,
    element_degree_scale: dict | None = None,
    for_selection: bool = False,
) -> DegreeChoice:
    """The largest scaled default degree within the data and memory budgets.

    Parameters
    ----------
    n_rows
        Weighted rows of the training data (:func:`ace_ref.fit.reduction.row_counts`).
    preset
        A key of :data:`ace_ref.defaults.PRESETS` (the largest scale allowed).
    available_bytes
        Free memory; ``None``: no memory budget.
    element_degree_scale
        Per-element degree budgets (:class:`~ace_ref.basis.ace.ACEBasis`), counted in the size.
    for_selection
        The basis is a pool for greedy selection: one function per
        :data:`~ace_ref.defaults.ROWS_PER_POOL_FUNCTION` rows, and memory for its Gram matrix
        alone (``8 K²`` bytes), instead of the budgets of a basis fitted whole.
    """
    if preset not in defaults.PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {', '.join(defaults.PRESETS)}")
    top = defaults.PRESETS[preset]
    per_row = defaults.ROWS_PER_POOL_FUNCTION if for_selection else defaults.ROWS_PER_COEFFICIENT
    budget = n_rows / per_row
    why = f"{n_rows} rows / {per_row}"
    if available_bytes is not None:
        bytes_per_k2 = 8 if for_selection else 24
        memory_k = math.sqrt(max(available_bytes * defaults.MEMORY_FRACTION, 0) / bytes_per_k2)
        if memory_k < budget:
            budget, why = memory_k, f"{float(defaults.MEMORY_FRACTION):.0%} of the free memory"

    def size(scale: Fraction) -> int:
        return ACEBasis.size(
            elements,
            order,
            max_degree=_scaled(scale, order),
            w_L=w_L,
            element_degree_scale=element_degree_scale,
        )

    k_top = size(top)
    if k_top <= budget:
        return DegreeChoice(
            _scaled(top, order), k_top, top, f"preset {preset!r}", element_degree_scale
        )
    low, high = Fraction(1, 4), top
    if size(low) > budget:
        raise ValueError(
            f"even the smallest default-shaped basis ({size(low)} coefficients) exceeds the "
            f"budget of {budget:.0f} ({why}): give more data or choose the degrees yourself"
        )
    for _ in range(steps):
        middle = (low + high) / 2
        if size(middle) <= budget:
            low = middle
        else:
            high = middle
    scale = Fraction(math.floor(low * 100), 100)  # K grows with the scale: rounding down keeps it
    k = size(scale)
    return DegreeChoice(
        _scaled(scale, order),
        k,
        scale,
        f"preset {preset!r} scaled by {float(scale):.2f} to "
        f"stay within {budget:.0f} coefficients ({why})",
        element_degree_scale,
    )


def choose_degree_for_data(
    train,
    elements: list[str],
    weights=None,
    *,
    preset: str = "default",
    order: int = defaults.ORDER,
    w_L=defaults.W_L,
    element_degree_scale: dict | str | None = "default",
    for_selection: bool = False,
) -> DegreeChoice:
    """:func:`choose_degree` for the training configurations ``train`` under ``weights``
    (a :class:`~ace_ref.fit.assembly.Weights`; ``None``: the defaults) and the memory free now:
    what ``ace-ref fit`` does when no degree is given.

    ``element_degree_scale``: ``"default"`` counts the default per-element budgets
    (:func:`default_element_scales`), ``None`` none; the choice carries what was counted, to
    be given to the basis. ``for_selection``: see :func:`choose_degree` (``ace-ref fit`` passes
    :func:`selects` of its ``--select``)."""
    if isinstance(element_degree_scale, str):
        if element_degree_scale != "default":
            raise ValueError(
                f"element_degree_scale must be a dict, None or 'default', got "
                f"{element_degree_scale!r}"
            )
        element_degree_scale = default_element_scales(elements)
    from ace_ref.fit.assembly import Weights
    from ace_ref.fit.cost import available_memory
    from ace_ref.fit.reduction import row_counts

    weights = Weights.parse(defaults.WEIGHTS) if weights is None else weights
    return choose_degree(
        elements,
        int(row_counts(train, weights).sum()),
        preset=preset,
        order=order,
        w_L=w_L,
        available_bytes=available_memory(),
        element_degree_scale=element_degree_scale,
        for_selection=for_selection,
    )


def choose_selection(n_rows: int, pool_size: int) -> int:
    """How many of a pool's ``pool_size`` functions ``ace-ref fit`` keeps by greedy selection
    when it chooses the basis from the data: one per
    :data:`~ace_ref.defaults.ROWS_PER_SELECTED_FUNCTION` weighted rows, and at most
    :data:`~ace_ref.defaults.SELECT_POOL_FRACTION` of the pool."""
    if n_rows < 1 or pool_size < 2:
        raise ValueError(f"need n_rows ≥ 1 and pool_size ≥ 2, got {n_rows}, {pool_size}")
    by_rows = round(Fraction(n_rows) / defaults.ROWS_PER_SELECTED_FUNCTION)
    by_pool = math.floor(defaults.SELECT_POOL_FRACTION * pool_size)
    return int(max(1, min(by_rows, by_pool)))


def _parse_count(text, option: str, unit: str, everything: str) -> int | str | None:
    """An option that takes a positive whole number of ``unit``, ``"auto"`` or ``everything``
    (returned as ``None``); anything else is refused with a message naming ``option``."""
    word = str(text).strip().lower()
    if word in ("auto", everything):
        return None if word == everything else "auto"
    try:
        count = int(word)
    except ValueError:
        raise ValueError(
            f"{option} takes a number of {unit}, 'auto' or '{everything}', got {text!r}"
        ) from None
    if count < 1:
        raise ValueError(f"{option} takes a positive number of {unit}, got {count}")
    return count


def parse_select(text: str | None) -> int | str | None:
    """``ace-ref fit --select``: a whole number of functions, ``"auto"``
    (:func:`choose_selection`) or ``"none"`` (``None``); ``None`` passes through."""
    if text is None:
        return None
    return _parse_count(text, "--select", "functions", "none")


def resolve_select(
    text: str | int | None, train, weights, basis, degrees_from_data: bool
) -> tuple[int | None, str]:
    """What ``ace-ref fit --select`` means for this fit: ``(k or None, a line for the user)``.

    ``text``: the option as given (``None``: not given, which is ``"auto"`` where the degrees
    are chosen from the data and ``"none"`` otherwise). ``"auto"`` is
    :func:`choose_selection` on the weighted rows of ``train``; a basis that cannot keep a
    subset of its functions (a sum of bases, two layers) keeps them all.
    """
    from ace_ref.fit.reduction import row_counts

    select = parse_select(text if text is not None else ("auto" if degrees_from_data else None))
    if select != "auto":
        return select, "" if select is None else f"greedy selection: keep {select} functions"
    if not hasattr(basis, "with_columns"):
        return None, ""
    n_rows = int(row_counts(train, weights).sum())
    k = choose_selection(n_rows, len(basis))
    always = int(np.isin(basis.column_orders(), defaults.SELECT_KEEP_ORDERS).sum())
    if k <= always:
        return None, "greedy selection: none (the basis is too small to choose from)"
    return k, (
        f"greedy selection: keep {k} of the {len(basis)} functions (one per "
        f"{defaults.ROWS_PER_SELECTED_FUNCTION} of the {n_rows} rows, at most "
        f"{defaults.SELECT_POOL_FRACTION} of them; --select none: all)"
    )


def choose_ranking_rows(n_rows: int, pool_size: int) -> int | None:
    """How many rows ``ace-ref fit --ranking-rows auto`` ranks a pool of ``pool_size`` on:
    ``None`` (all ``n_rows``) while the pool's Gram summary costs at most
    :data:`~ace_ref.defaults.RANKING_GRAM_FLOPS` (``n_rows · pool_size²`` flops), otherwise
    as many rows as that cost allows."""
    if n_rows < 1 or pool_size < 1:
        raise ValueError(f"need n_rows ≥ 1 and pool_size ≥ 1, got {n_rows}, {pool_size}")
    cap = max(1, math.floor(defaults.RANKING_GRAM_FLOPS / float(pool_size) ** 2))
    return None if n_rows <= cap else cap


def parse_ranking_rows(text: str | int | None) -> int | str | None:
    """``ace-ref fit --ranking-rows``: a whole number of rows, ``"auto"``
    (:func:`choose_ranking_rows`) or ``"all"`` (``None``); ``None`` (not given) is ``"auto"``."""
    return _parse_count("auto" if text is None else text, "--ranking-rows", "rows", "all")


def resolve_ranking_rows(
    text: str | int | None,
    select: int | None,
    train,
    weights,
    basis,
    preset: str = "default",
) -> tuple[int | None, str]:
    """What ``ace-ref fit --ranking-rows`` means for this fit: ``(rows or None, a line for
    the user)``. Without selection there is no ranking; a number given then is refused.
    ``"auto"`` is :func:`choose_ranking_rows`, except with ``preset="accurate"``, which ranks
    on every row (:data:`~ace_ref.defaults.PRESETS`)."""
    from ace_ref.fit.reduction import row_counts

    rows = parse_ranking_rows(text)
    if select is None:
        if isinstance(rows, int):  # a number of rows, but nothing to rank
            raise ValueError("--ranking-rows goes with greedy selection (--select)")
        return None, ""
    n_rows = int(row_counts(train, weights).sum())
    if rows == "auto":
        rows = choose_ranking_rows(n_rows, len(basis))
        if rows is None:
            return None, ""
        if preset == "accurate":
            return None, (
                f"ranking on every one of the {n_rows} rows (--preset accurate; the default "
                f"would rank on {rows}, the pool's Gram summary within "
                f"{defaults.RANKING_GRAM_FLOPS:.1e} flops)"
            )
        return rows, (
            f"ranking on {rows} of the {n_rows} rows (configurations drawn at random; the "
            f"pool's Gram summary within {defaults.RANKING_GRAM_FLOPS:.1e} flops; "
            "--ranking-rows all: every row)"
        )
    if rows is None or rows >= n_rows:
        return None, ""
    return rows, f"ranking on {rows} of the {n_rows} rows (configurations drawn at random)"


def selects(text: str | int | None) -> bool:
    """Whether ``ace-ref fit --select`` (as given; ``None``: not given) selects functions where
    the degrees are chosen from the data (the default there is ``"auto"``)."""
    return parse_select(text if text is not None else "auto") is not None
